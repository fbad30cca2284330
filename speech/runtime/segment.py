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

Segments are in order and never overlap; with ``window`` they tile the recording, except for
stretches without speech.

Speech activity, both methods: a window or segment without a single 20 ms frame above an absolute
floor (``SegmentConfig.speech_floor_db``, -70 dB re full scale) holds no speech (digital silence,
a disconnected microphone's hiss); it is skipped and never reaches a model, so silence cannot
come back as text. Cuts between stretches of speech follow the window's own levels as described
above; the floor only separates speech from silence where those levels show no contrast. The floor sits 22 dB below the quietest of the 3,000 FSDD recordings' loudest
frames (-48 dB) and 10 dB above noise at -80 dBFS.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from speech.audio import EmptyAudioError, info, load

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
    speech_floor_db: float = -70.0
    """Absolute floor (dB of mean power re a full-scale square wave) under which a frame is never
    speech; audio with no frame above it is not transcribed. FSDD's quietest recording peaks at
    -48 dB; digital silence is -120 dB, noise at -80 dBFS about -80 dB."""

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
        if not -120.0 < self.speech_floor_db <= 0.0:
            raise ValueError(f"segment.speech_floor_db: {self.speech_floor_db}; expected a level in dB "
                             "between -120 and 0 (e.g. -70)")


def frame_energy_db(wav: np.ndarray, frame: int) -> np.ndarray:
    """Mean power per ``frame`` samples, in dB (floored at -120 dB)."""
    n = len(wav) // frame
    power = (wav[: n * frame].astype(np.float64).reshape(n, frame) ** 2).mean(axis=1)
    return 10 * np.log10(np.maximum(power, 1e-12))


def loudest_frame_db(wav: np.ndarray, frame: int) -> float:
    """Energy in dB of the loudest ``frame``-sample frame of ``wav`` (a clip shorter than one
    frame is one frame); -120 dB for an empty array."""
    if len(wav) == 0:
        return -120.0
    db = frame_energy_db(wav, frame) if len(wav) >= frame else frame_energy_db(wav, len(wav))
    return float(db.max())


def has_speech(wav: np.ndarray, sample_rate: int, cfg: SegmentConfig | None = None) -> bool:
    """Whether any ``cfg.frame_seconds`` frame of ``wav`` reaches ``cfg.speech_floor_db``."""
    cfg = cfg or SegmentConfig()
    frame = max(1, int(round(cfg.frame_seconds * sample_rate)))
    return loudest_frame_db(wav, frame) >= cfg.speech_floor_db


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
    (they are leading / trailing silence). In a window without contrast (its 5th and 95th
    percentile frames within 10 dB) the frames below ``cfg.speech_floor_db`` are the quiet ones."""
    db = frame_energy_db(wav, frame)
    if len(db) < 3:
        return []
    floor, loud = np.percentile(db, 5), np.percentile(db, 95)
    if loud - floor < 10.0:
        # No contrast: all speech, all silence, or a little speech in digital silence (which the
        # percentiles do not see); only the absolute floor separates them.
        quiet = db < cfg.speech_floor_db
    else:
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
                   final: bool, min_pause: int = 0) -> tuple[list[tuple[int, int]], int]:
    """Split ``wav`` at the pauses ``runs``: [(first, end) sample range of each stretch of speech,
    with ``pad`` samples of its pauses kept either side], and the sample where the next window must
    start (``len(wav)`` when ``final``). Without ``final``, the speech after the last inner pause is
    left to the next window, which sees it whole; a trailing quiet run of at least ``min_pause``
    samples (when given) then counts as a pause too, and the next window starts ``pad`` before the
    end. With no pause at all the returned start skips the leading silence."""
    pieces, start = [], 0
    if runs and runs[0][0] == 0:  # leading silence
        start = max(0, runs[0][1] - pad)
        runs = runs[1:]
    inner = [r for r in runs if r[1] < len(wav)]
    trailing = runs[-1] if runs and runs[-1][1] == len(wav) else None
    if not final and min_pause > 0 and trailing is not None and trailing[1] - trailing[0] >= min_pause:
        inner.append(trailing)
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


def segments(path: str | Path, sample_rate: int, cfg: SegmentConfig | None = None,
             warnings: list[str] | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield (start seconds, mono float32 waveform at ``sample_rate``) segments of the file, in order.

    Only segments with speech (a frame above ``cfg.speech_floor_db``) are yielded: a silent file
    yields nothing. ``warnings``, when given, receives the file's one-line warnings (truncation).
    """
    cfg = cfg or SegmentConfig()
    head = info(path)
    if warnings is not None:
        warnings.extend(head.warnings)
    duration = head.duration
    reported = bool(head.warnings)
    pos = 0.0
    frame = max(1, int(round(cfg.frame_seconds * sample_rate)))
    pad = int(round(cfg.pad_seconds * sample_rate))

    while pos < duration - 1e-6:
        end = min(pos + cfg.max_seconds, duration)
        found: list[str] = []
        try:
            wav, _ = load(path, sample_rate, start=pos, end=end, warnings=found)
        except EmptyAudioError:
            if pos == 0:
                raise
            return  # the decoder ran out before the header's length (reported in warnings)
        finally:
            if warnings is not None and found and not reported:  # one truncation line per file
                warnings.extend(found)
                reported = True
        last_window = end >= duration or len(wav) < sample_rate * cfg.max_seconds * 0.5
        if not has_speech(wav, sample_rate, cfg):  # nothing to transcribe here: skip the window
            if last_window:
                return
            keep = pad if cfg.method == "pause" else 0  # the next window starts with some of the silence
            pos += max(len(wav) - keep, frame) / sample_rate
            continue
        skip = 0  # samples of leading silence the window rule leaves out
        if cfg.method == "pause":
            runs = pause_runs(wav, frame, cfg, sample_rate)
            pieces, nxt = _speech_pieces(wav, runs, pad, int(cfg.min_seconds * sample_rate), last_window,
                                         min_pause=int(round(cfg.min_pause * sample_rate)))
            if pieces or last_window:
                for a, b in pieces:
                    if has_speech(wav[a:b], sample_rate, cfg):
                        yield pos + a / sample_rate, wav[a:b]
                if last_window:
                    return
                pos += nxt / sample_rate
                continue
            skip = nxt
        elif last_window:
            yield pos, wav
            return
        lo = max(skip, len(wav) - int(cfg.search_seconds * sample_rate))
        cut = quietest_cut(wav, sample_rate, lo, frame)
        if has_speech(wav[skip:cut], sample_rate, cfg):
            yield pos + skip / sample_rate, wav[skip:cut]
        pos += cut / sample_rate
