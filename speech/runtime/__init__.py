"""Torch-free runtime: ONNX exports (``speech export``) run with numpy, onnxruntime and soundfile.

Nothing under this package imports torch, Hydra, OmegaConf, safetensors, librosa or numba (an
import-linter contract in pyproject.toml checks it), so ``pip install "speech[runtime]"`` is enough
to transcribe and synthesize with an exported model.
"""
