"""Cut long recordings into segments at quiet points, reading one window at a time.

Memory stays bounded by the window (``max_seconds``) whatever the file's length: each window is
read with ``speech.audio.load(start=..., end=...)``; a cut is placed at the quietest 20 ms frame of
the window's last ``search_seconds``, and the next window starts there.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from speech.audio import info, load


@dataclass
class SegmentConfig:
    """How long audio is split for transcription."""

    max_seconds: float = 20.0
    """Longest segment; files up to this length are transcribed whole."""
    search_seconds: float = 4.0
    """The cut is placed at the quietest frame of the last this-many seconds of a window."""
    frame_seconds: float = 0.02
    """Energy frame used to find the quiet point."""

    def __post_init__(self) -> None:
        if not 0 < self.search_seconds < self.max_seconds:
            raise ValueError(f"segment: need 0 < search_seconds ({self.search_seconds}) < max_seconds "
                             f"({self.max_seconds})")


def quietest_cut(wav: np.ndarray, sample_rate: int, lo: int, frame: int) -> int:
    """Sample index of the start of the lowest-energy frame in wav[lo:] (frame-aligned)."""
    tail = wav[lo:]
    n = len(tail) // frame
    if n <= 1:
        return len(wav)
    energy = (tail[: n * frame].reshape(n, frame) ** 2).sum(axis=1)
    # middle of the quietest frame; ties -> the latest, giving longer segments
    k = n - 1 - int(np.argmin(energy[::-1]))
    return lo + k * frame + frame // 2


def segments(path: str | Path, sample_rate: int, cfg: SegmentConfig | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (start seconds, mono float32 waveform at ``sample_rate``) segments covering the file."""
    cfg = cfg or SegmentConfig()
    duration = info(path).duration
    pos = 0.0
    frame = max(1, int(round(cfg.frame_seconds * sample_rate)))
    while pos < duration - 1e-6:
        end = min(pos + cfg.max_seconds, duration)
        wav, _ = load(path, sample_rate, start=pos, end=end)
        if end >= duration or len(wav) < sample_rate * cfg.max_seconds * 0.5:
            yield pos, wav
            return
        lo = max(0, len(wav) - int(cfg.search_seconds * sample_rate))
        cut = quietest_cut(wav, sample_rate, lo, frame)
        yield pos, wav[:cut]
        pos += cut / sample_rate
