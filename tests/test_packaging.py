"""kernels/ and conf/ ship inside the wheel as speech.kernels and speech.conf; the bundled models as package data."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_contains_configs_and_kernels_and_works_without_the_repo(tmp_path):
    r = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                        str(REPO)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("speech-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    on_disk = {f"speech/conf/{p.relative_to(REPO / 'conf').as_posix()}" for p in (REPO / "conf").rglob("*.yaml")}
    assert on_disk and on_disk <= names, sorted(on_disk - names)
    assert "speech/kernels/__init__.py" in names
    assert not any(n.startswith(("kernels/", "conf/", "tests/")) for n in names)
    bundled = {f"speech/{p.relative_to(REPO / 'speech').as_posix()}" for p in (REPO / "speech" / "pretrained").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert len(bundled) > 1 and bundled <= names, sorted(bundled - names)

    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    code = ("import speech, speech.kernels, speech.conf; from speech.config import compose, instantiate;"
            "cfg = compose(['experiment=fsdd']); m = instantiate(cfg.model.asr, input_dim=80, vocab_size=5);"
            "print(speech.__file__); print(type(m).__name__);"
            "from speech.packages.registry import list_models, resolve_model;"
            "print(' '.join(m.name for m in list_models())); print(resolve_model('digits'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    first, second, models, digits = r.stdout.splitlines()[:4]
    assert first.startswith(str(target)) and second == "BiLSTMCTC"
    shipped = sorted(p.name for p in (REPO / "speech" / "pretrained").iterdir() if (p / "meta.json").is_file())
    assert sorted(models.split()) == shipped and digits.startswith(str(target))
