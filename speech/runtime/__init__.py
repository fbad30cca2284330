"""Torch-free runtime: ONNX exports (``speech export``) run with numpy, onnxruntime and soundfile.

It sits below the torch pipelines (:mod:`speech.pipelines`): what does not need torch (long-file
segmenting, batching, results, synthesis batches) lives here once, and the pipelines build on it.

Nothing under this package imports torch, Hydra, OmegaConf, safetensors, librosa or numba (an
import-linter contract in pyproject.toml checks it), so ``pip install "speech[runtime]"`` is enough
to transcribe and synthesize with an exported model.
"""
