"""Pipelines: run trained model packages on files and yield results or per-item failures."""
from speech.pipelines.transcriber import Failure, Transcriber, Transcript

__all__ = ["Failure", "Transcriber", "Transcript"]
