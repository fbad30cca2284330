"""The per-item failure record every pipeline yields; it lives in the torch-free runtime
(:mod:`speech.runtime.results`), which both the pipelines and the ONNX runtime build on."""
from speech.runtime.results import Failure

__all__ = ["Failure"]
