"""Cut long recordings into segments at pauses, reading one window at a time.

Memory stays bounded by the window (``max_seconds``) whatever the file's length: each window is
read with ``speech.audio.load(start=..., end=...)``.

Two methods (``SegmentConfig.method``):

``pause`` (default)
    Energy voice-activity detection: 20 ms frames below a threshold (set per window from its own
    energy distribution, so it follows the recording's noise floor and level) are quiet; a run of
    quiet frames at least ``min_pause`` long is a pause, and the recording is cut in the middle of
    every pause (optionally only once a segment is ``min_seconds`` long). Each segment is one
    stretch of speech with ``pad_seconds`` of its pauses on either side, like the trimmed utterances
    models are trained on; the rest of each pause (and leading / trailing silence) is not
    transcribed. Where speech runs ``max_seconds`` without a pause, the ``window`` rule cuts it.
``window``
    Fixed windows of ``max_seconds``, each cut at the quietest frame of its last ``search_seconds``.

Segments are in order and never overlap; with ``window`` they tile the recording.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from speech.audio import info, load

METHODS = ("pause", "window")


@dataclass
class SegmentConfig:
    """How long audio is split for transcription and alignment."""

    max_seconds: float = 20.0
    """Longest segment; with ``window``, files up to this length are transcribed whole."""
    search_seconds: float = 4.0
    """Without a pause, the cut goes at the quietest frame of the window's last this-many seconds."""
    frame_seconds: float = 0.02
    """Energy frame."""
    method: str = "pause"
    """``pause`` (cut at every pause) or ``window`` (fixed windows cut at quiet points)."""
    min_pause: float = 0.3
    """``pause``: shortest quiet stretch (seconds) that separates two segments."""
    min_seconds: float = 0.0
    """``pause``: a segment is only closed at a pause once it is at least this long (merges short
    phrases for models trained on long utterances)."""
    pad_seconds: float = 0.1
    """``pause``: silence kept on either side of each stretch of speech (the rest of a pause is
    skipped, so models trained on trimmed utterances see what they were trained on)."""
    threshold_db: float = 50.0
    """``pause``: a frame is quiet when its energy is this many dB below the window's loud frames
    (95th percentile) - or within 10 dB of its quiet floor (5th percentile), whichever is higher."""

    def __post_init__(self) -> None:
        if not 0 < self.search_seconds < self.max_seconds:
            raise ValueError(f"segment: need 0 < search_seconds ({self.search_seconds}) < max_seconds "
                             f"({self.max_seconds})")
        if self.method not in METHODS:
            raise ValueError(f"segment.method: {self.method!r}; expected one of {', '.join(METHODS)}")
        if not 0 < self.min_pause < self.max_seconds / 2:
            raise ValueError(f"segment.min_pause: {self.min_pause}; expected 0 < min_pause < max_seconds / 2")
        if not 0 <= self.pad_seconds <= self.min_pause:
            raise ValueError(f"segment.pad_seconds: {self.pad_seconds}; expected 0 <= pad_seconds <= min_pause")
        if not 0 <= self.min_seconds < self.max_seconds:
            raise ValueError(f"segment.min_seconds: {self.min_seconds}; expected 0 <= min_seconds < max_seconds")


def frame_energy_db(wav: np.ndarray, frame: int) -> np.ndarray:
    """Mean power per ``frame`` samples, in dB (floored at -120 dB)."""
    n = len(wav) // frame
    power = (wav[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def quietest_cut(wav: np.ndarray, sample_rate: int, lo: int, frame: int) -> int:
    """Sample index of the middle of the lowest-energy frame in wav[lo:] (frame-aligned)."""
    energy = frame_energy_db(wav[lo:], frame)
    n = len(energy)
    if n <= 1:
        return len(wav)
    # ties -> the latest, giving longer segments
    k = n - 1 - int(np.argmin(energy[::-1]))
    return lo + k * frame + frame // 2


def pause_runs(wav: np.ndarray, frame: int, cfg: SegmentConfig, sample_rate: int) -> list[tuple[int, int]]:
    """Pauses in ``wav``: (first, end) sample indices of each run of quiet frames at least
    ``min_pause`` long, in order. Runs touching either end of ``wav`` count whatever their length
    (they are leading / trailing silence)."""
    db = frame_energy_db(wav, frame)
    if len(db) < 3:
        return []
    floor, loud = np.percentile(db, 5), np.percentile(db, 95)
    if loud - floor < 10.0:  # no contrast: all speech or all silence, nothing to separate
        return []
    quiet = db < max(loud - cfg.threshold_db, floor + 10.0)
    min_frames = max(1, int(round(cfg.min_pause * sample_rate / frame)))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]])))
    runs = []
    for a, b in zip(edges[::2], edges[1::2]):  # quiet frames a .. b-1
        at_edge = a == 0 or b == len(quiet)
        if b - a >= min_frames or at_edge:
            runs.append((int(a) * frame, len(wav) if b == len(quiet) else int(b) * frame))
    return runs


def _speech_pieces(wav: np.ndarray, runs: list[tuple[int, int]], pad: int, min_len: int,
                   final: bool) -> tuple[list[tuple[int, int]], int]:
    """Split ``wav`` at the pauses ``runs``: [(first, end) sample range of each stretch of speech,
    with ``pad`` samples of its pauses kept either side], and the sample where the next window must
    start (``len(wav)`` when ``final``). Without ``final``, the speech after the last inner pause is
    left to the next window, which sees it whole."""
    pieces, start = [], 0
    if runs and runs[0][0] == 0:  # leading silence
        start = max(0, runs[0][1] - pad)
        runs = runs[1:]
    inner = [r for r in runs if r[1] < len(wav)]
    trailing = runs[-1] if runs and runs[-1][1] == len(wav) else None
    for a, b in inner:
        if a + pad - start < min_len:
            continue  # too short yet: this pause stays inside the segment
        end = min(a + pad, (a + b) // 2)
        pieces.append((start, end))
        start = max(b - pad, end)
    if not final:
        return pieces, start
    end = len(wav) if trailing is None else min(len(wav), trailing[0] + pad)
    if end > start and (trailing is None or trailing[0] > start):
        pieces.append((start, end))
    return pieces, len(wav)


def segments(path: str | Path, sample_rate: int, cfg: SegmentConfig | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (start seconds, mono float32 waveform at ``sample_rate``) segments of the file, in order."""
    cfg = cfg or SegmentConfig()
    duration = info(path).duration
    pos = 0.0
    frame = max(1, int(round(cfg.frame_seconds * sample_rate)))
    pad = int(round(cfg.pad_seconds * sample_rate))
    while pos < duration - 1e-6:
        end = min(pos + cfg.max_seconds, duration)
        wav, _ = load(path, sample_rate, start=pos, end=end)
        last_window = end >= duration or len(wav) < sample_rate * cfg.max_seconds * 0.5
        if cfg.method == "pause":
            runs = pause_runs(wav, frame, cfg, sample_rate)
            pieces, nxt = _speech_pieces(wav, runs, pad, int(cfg.min_seconds * sample_rate), last_window)
            if pieces or last_window:
                for a, b in pieces:
                    yield pos + a / sample_rate, wav[a:b]
                if last_window:
                    return
                pos += nxt / sample_rate
                continue
        elif last_window:
            yield pos, wav
            return
        lo = max(0, len(wav) - int(cfg.search_seconds * sample_rate))
        cut = quietest_cut(wav, sample_rate, lo, frame)
        yield pos, wav[:cut]
        pos += cut / sample_rate
