"""What every pipeline yields for an input it could not process (the shape shared by transcription,
alignment and batch synthesis: results or per-item failures)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Failure:
    """An input that could not be processed, with a one-line reason naming it."""

    path: str
    error: str
