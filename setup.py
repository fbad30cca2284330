"""Package layout that pyproject.toml cannot express declaratively.

``kernels/`` and ``conf/`` live at the top level of the repository (next to ``speech/``)
but are installed as ``speech.kernels`` and ``speech.conf``, so the numba kernels and the
Hydra configs work the same from a checkout, an editable install and a built wheel. A
top-level import name ``kernels`` would collide with an unrelated package on PyPI.
"""
from setuptools import find_packages, setup

packages = find_packages(include=["speech", "speech.*"])
packages += ["speech.kernels"] + [f"speech.kernels.{p}" for p in find_packages("kernels")]
packages += ["speech.conf"]

setup(
    packages=packages,
    package_dir={"speech.kernels": "kernels", "speech.conf": "conf"},
    package_data={"speech.conf": ["*.yaml", "**/*.yaml"]},  # the bundled models' files: pyproject.toml
)
