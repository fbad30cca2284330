"""Variance-adaptor training targets: pitch (log-F0) and energy per frame and per phoneme.

Frame alignment
---------------
Every per-frame target here has exactly ``T = num_frames(len(wav), fbank)`` frames, the frames of
:func:`speech.features.functional.log_mel`: frame ``t`` covers samples ``[t * hop, t * hop + win)``
and is centred on sample ``c_t = t * hop + win / 2``.

* Energy (:func:`frame_energy`) uses that very framing and window.
* Pitch (:func:`frame_pitch`) needs a longer analysis frame ``L`` (at least two periods of
  ``fmin``, rounded up to a power of two and never shorter than ``win``). The waveform is
  zero-padded on the left by ``(L - win) // 2`` samples and on the right up to the last needed
  frame, then analysed with ``center=False`` and hop ``hop``; so pitch frame ``t`` spans
  ``[c_t - L/2, c_t + L/2)`` of the original signal: centred on the same sample as mel frame ``t``
  (within half a sample), only wider. The output is trimmed to ``T`` frames.

Pitch methods
-------------
``method="pyin"`` (default): :func:`librosa.pyin` (probabilistic YIN with HMM voicing).
Measured on the first 5 s of LJSpeech LJ001-0004 / LJ001-0001 at 22.05 kHz (10-ms hop = 220
samples, L = 1024) on the 2-core CI machine: 0.84 s / 1.27 s. ``method="yin"``:
:func:`librosa.yin` plus a voicing rule (frame RMS above ``max(1e-4, 10^(-40/20) * max RMS)`` and
a normalised autocorrelation at the detected period of at least 0.5): 0.017 s on the same clips
(~50x faster). On the first 5 s of LJ001-0001..0004, 85-87% of frames get the same
voiced/unvoiced decision as pyin (yin voices a little less), and where both voice the median F0
difference is under 3 cents. Reproduce with ``python -m speech.features.prosody --bench AUDIO``.

pyin's HMM limits how fast F0 may move (librosa's default ~36 octaves/s), so an abrupt octave step
comes out as a glide over ~5 frames centred on the step; yin jumps at once but, on an upward octave
step, keeps the lower octave while any cycle of it is in its window (up to ``L / 2`` samples late).

Unvoiced frames get ``log_f0`` by linear interpolation between the neighbouring voiced frames
(constant beyond the first/last voiced frame; all zeros when nothing is voiced); the boolean
``voiced`` mask is returned alongside so losses/averages can ignore them.

Energy is ``log(1e-5 + ||X_t||_2)``: natural log of the L2 norm of frame ``t``'s magnitude
spectrum (Hann window, ``fft_size`` FFT, no pre-emphasis, no dither). Doubling the waveform adds
``log 2`` (for frames well above the 1e-5 floor).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from speech.features.functional import FbankConfig, _analysis_tensors, num_frames
from speech.fileio import atomic_write_text

__all__ = [
    "TARGETS_VERSION",
    "TargetStats",
    "TargetStatsAccumulator",
    "compute_targets",
    "frame_energy",
    "frame_pitch",
    "median_f0",
    "phoneme_average",
    "semitone_shift_ratio",
]

PITCH_METHODS = ("pyin", "yin")
ENERGY_EPS = 1e-5
TARGETS_VERSION = 1
"""Bumped when the computation changes, so that caches of older targets are not reused
(:class:`speech.data.prosody_cache.TargetCache` keys its folders with it)."""


def _as_numpy_wav(wav) -> np.ndarray:
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().cpu().numpy()
    x = np.asarray(wav)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D waveform (N,), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"expected a floating-point waveform, got {x.dtype}")
    return x.astype(np.float64 if x.dtype == np.float64 else np.float32, copy=False)


def _pitch_frame_length(sample_rate: int, fmin: float, win_length: int) -> int:
    """Power of two holding two periods of ``fmin`` (plus librosa's margin) and >= ``win_length``."""
    need = max(int(math.ceil(2 * sample_rate / fmin)) + 2, win_length)
    return 1 << (need - 1).bit_length()


def _interpolate_unvoiced(f: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``f`` over frames where ``voiced`` is False (edges: nearest voiced)."""
    out = np.zeros(len(f), dtype=np.float32)
    idx = np.flatnonzero(voiced)
    if idx.size == 0:
        return out
    out[:] = np.interp(np.arange(len(f)), idx, f[idx])
    return out


def _yin_voicing(x: np.ndarray, f0: np.ndarray, sr: int, hop: int, frame_length: int,
                 n_frames: int, *, rel_db: float = -40.0, min_rms: float = 1e-4,
                 min_corr: float = 0.5) -> np.ndarray:
    """Voicing for plain YIN: loud enough and periodic at the detected lag (vectorised)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, frame_length)[::hop][:n_frames]
    frames = frames.astype(np.float64)
    rms = np.sqrt(np.mean(frames ** 2, axis=1))
    loud = (rms > min_rms) & (rms > rms.max(initial=0.0) * 10 ** (rel_db / 20))
    lag = np.clip(np.rint(sr / np.maximum(f0, 1e-3)).astype(np.int64), 1, frame_length // 2)
    half = frame_length // 2
    n = np.arange(half)
    a = frames[:, :half]
    b = np.take_along_axis(frames, n[None, :] + lag[:, None], axis=1)
    num = np.sum(a * b, axis=1)
    den = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1)) + 1e-12
    return loud & (num / den >= min_corr)


def frame_pitch(wav, fbank: FbankConfig, fmin: float = 65.0, fmax: float = 600.0,
                method: str = "pyin") -> tuple[np.ndarray, np.ndarray]:
    """Per-frame log-F0 aligned with :func:`log_mel`'s frames (see the module docstring).

    Args:
        wav: 1-D float waveform (numpy or torch) at ``fbank.sample_rate``.
        fbank: the feature settings whose frames to match.
        fmin, fmax: pitch search range in Hz.
        method: ``"pyin"`` (accurate, ~0.2 s per second of audio) or ``"yin"`` (~50x faster).

    Returns:
        ``(log_f0, voiced)``: float32 ``(T,)`` natural log of F0 in Hz, unvoiced frames filled by
        interpolation (all zeros when no frame is voiced), and bool ``(T,)``;
        ``T = num_frames(len(wav), fbank)``.
    """
    import librosa

    if method not in PITCH_METHODS:
        raise ValueError(f"frame_pitch: method={method!r}; expected one of {PITCH_METHODS}")
    x = _as_numpy_wav(wav)
    sr, hop, win = fbank.sample_rate, fbank.hop_length, fbank.win_length
    if not 0 < fmin < fmax <= sr / 2:
        raise ValueError(f"frame_pitch: fmin={fmin}, fmax={fmax}; expected 0 < fmin < fmax <= "
                         f"sample_rate/2 = {sr / 2}")
    n_frames = num_frames(len(x), fbank)
    if n_frames == 0:
        return np.zeros(0, np.float32), np.zeros(0, bool)
    frame_length = _pitch_frame_length(sr, fmin, win)
    left = (frame_length - win) // 2
    total = (n_frames - 1) * hop + frame_length
    right = max(0, total - left - len(x))
    padded = np.pad(x, (left, right))[:total]
    if method == "pyin":
        f0, voiced, _ = librosa.pyin(padded, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
                                     hop_length=hop, center=False, fill_na=np.nan)
        f0, voiced = f0[:n_frames], voiced[:n_frames]
        voiced = voiced & np.isfinite(f0)
    else:
        f0 = librosa.yin(padded, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length,
                         hop_length=hop, center=False)[:n_frames]
        voiced = _yin_voicing(padded, f0, sr, hop, frame_length, n_frames) & np.isfinite(f0)
    if len(f0) != n_frames:  # librosa returned fewer frames than requested: never expected
        raise RuntimeError(f"frame_pitch: got {len(f0)} pitch frames, expected {n_frames}")
    log_f0 = np.where(voiced, np.log(np.where(voiced, f0, 1.0)), 0.0)
    return _interpolate_unvoiced(log_f0, voiced), voiced.astype(bool)


def frame_energy(wav, fbank: FbankConfig) -> np.ndarray:
    """Per-frame energy ``log(1e-5 + ||X_t||_2)``, float32 ``(T,)``, on :func:`log_mel`'s frames.

    ``X_t`` is the ``fft_size``-point spectrum of frame ``t`` (periodic Hann window of
    ``win_length``; no pre-emphasis or dither). Inputs shorter than one window are zero-padded.
    """
    x = torch.from_numpy(np.ascontiguousarray(_as_numpy_wav(wav), dtype=np.float32))
    win, hop, n_fft = fbank.win_length, fbank.hop_length, fbank.fft_size
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, np.float32)
    if n < win:
        x = torch.nn.functional.pad(x, (0, win - n))
    window, _ = _analysis_tensors(win, n_fft, fbank.n_mels, fbank.sample_rate, float(fbank.f_min),
                                  fbank.mel_f_max, torch.device("cpu"), torch.float32)
    frames = x.unfold(-1, win, hop) * window
    mag = torch.fft.rfft(frames, n=n_fft, dim=-1).abs()
    return torch.log(ENERGY_EPS + torch.linalg.vector_norm(mag, dim=-1)).numpy().astype(np.float32)


def phoneme_average(values, durations, mask=None, empty: str = "unmasked") -> np.ndarray:
    """Mean of frame ``values`` over each phoneme's frames (vectorised segment sums).

    Args:
        values: ``(T,)`` per-frame values (e.g. interpolated log-F0 or energy).
        durations: ``(L,)`` non-negative integer frame counts with ``sum == T``.
        mask: optional ``(T,)`` bool; frames where it is False are ignored (e.g. unvoiced).
        empty: what a phoneme with frames but no unmasked frame gets: ``"unmasked"`` (default) the
            mean over all its frames, i.e. the interpolated log-F0 of :func:`frame_pitch`; or
            ``"zero"``.

    Returns:
        float32 ``(L,)``. Zero-duration phonemes get 0.

    Raises:
        ValueError: ``sum(durations) != T``, negative durations, or shape mismatches.
    """
    if empty not in ("unmasked", "zero"):
        raise ValueError(f"phoneme_average: empty={empty!r}; expected 'unmasked' or 'zero'")
    v = np.asarray(values, dtype=np.float64)
    d = np.asarray(durations)
    if v.ndim != 1 or d.ndim != 1:
        raise ValueError(f"phoneme_average: expected 1-D values and durations, got shapes "
                         f"{v.shape} and {d.shape}")
    if d.size and not np.issubdtype(d.dtype, np.integer):
        if not np.all(d == np.round(d)):
            raise ValueError("phoneme_average: durations must be integers")
        d = d.astype(np.int64)
    d = d.astype(np.int64)
    if np.any(d < 0):
        raise ValueError(f"phoneme_average: negative durations at {np.flatnonzero(d < 0).tolist()[:5]}")
    total = int(d.sum())
    if total != len(v):
        raise ValueError(f"phoneme_average: sum(durations)={total} != number of frames T={len(v)}")
    seg = np.repeat(np.arange(len(d)), d)
    all_sum = np.bincount(seg, weights=v, minlength=len(d))
    all_cnt = d.astype(np.float64)
    if mask is None:
        m_sum, m_cnt = all_sum, all_cnt
    else:
        m = np.asarray(mask, dtype=bool)
        if m.shape != v.shape:
            raise ValueError(f"phoneme_average: mask shape {m.shape} != values shape {v.shape}")
        m_sum = np.bincount(seg, weights=np.where(m, v, 0.0), minlength=len(d))
        m_cnt = np.bincount(seg, weights=m.astype(np.float64), minlength=len(d))
    out = np.zeros(len(d), dtype=np.float64)
    has = m_cnt > 0
    out[has] = m_sum[has] / m_cnt[has]
    if empty == "unmasked":
        fb = ~has & (all_cnt > 0)
        out[fb] = all_sum[fb] / all_cnt[fb]
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------------
# Statistics
# ------------------------------------------------------------------------------------------------


class _Moments:
    """Streaming count/mean/M2 in float64 (Chan et al. parallel merge of per-batch moments)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64).ravel()
        nb = x.size
        if nb == 0:
            return
        mb = float(x.mean())
        m2b = float(((x - mb) ** 2).sum())
        n = self.n + nb
        delta = mb - self.mean
        self.mean += delta * nb / n
        self.m2 += m2b + delta * delta * self.n * nb / n
        self.n = n

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0


class TargetStatsAccumulator:
    """One streaming pass over utterances: ``update(log_f0, voiced, energy)`` then ``finalize()``."""

    def __init__(self) -> None:
        self._pitch = _Moments()
        self._energy = _Moments()

    def update(self, log_f0, voiced, energy) -> None:
        lf = np.asarray(log_f0, dtype=np.float64)
        vm = np.asarray(voiced, dtype=bool)
        if lf.shape != vm.shape:
            raise ValueError(f"TargetStatsAccumulator.update: log_f0 {lf.shape} vs voiced {vm.shape}")
        self._pitch.update(lf[vm])
        self._energy.update(energy)

    def finalize(self) -> "TargetStats":
        if self._pitch.n == 0 or self._energy.n == 0:
            raise ValueError(f"TargetStats: no data (voiced frames={self._pitch.n}, "
                             f"energy frames={self._energy.n})")
        return TargetStats(self._pitch.mean, self._pitch.std, self._energy.mean, self._energy.std,
                           self._pitch.n, self._energy.n)


@dataclass
class TargetStats:
    """Mean/std of log-F0 (voiced frames only) and of energy (all frames)."""

    pitch_mean: float
    pitch_std: float
    energy_mean: float
    energy_std: float
    pitch_count: int = 0
    energy_count: int = 0

    # A std below this is treated as 1 (a constant target is only centred, not blown up).
    MIN_STD = 1e-8

    @classmethod
    def compute(cls, items: Iterable[tuple]) -> "TargetStats":
        """From an iterable of ``(log_f0, voiced, energy)`` (or dicts with those keys)."""
        acc = TargetStatsAccumulator()
        for it in items:
            if isinstance(it, dict):
                acc.update(it["log_f0"], it["voiced"], it["energy"])
            else:
                acc.update(*it)
        return acc.finalize()

    def _ms(self, kind: str) -> tuple[float, float]:
        if kind == "pitch":
            m, s = self.pitch_mean, self.pitch_std
        elif kind == "energy":
            m, s = self.energy_mean, self.energy_std
        else:
            raise ValueError(f"TargetStats: kind={kind!r}; expected 'pitch' or 'energy'")
        return m, (s if s > self.MIN_STD else 1.0)

    def normalize(self, kind: str, values):
        """``(values - mean) / std`` for ``kind`` in {'pitch', 'energy'} (numpy or torch)."""
        m, s = self._ms(kind)
        return (values - m) / s

    def denormalize(self, kind: str, values):
        """Inverse of :meth:`normalize`."""
        m, s = self._ms(kind)
        return values * s + m

    def to_dict(self) -> dict:
        return {"version": 1, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "TargetStats":
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
            names = [f.name for f in dataclasses.fields(cls)]
            return cls(**{k: d[k] for k in names if k in d})
        except (json.JSONDecodeError, TypeError, KeyError) as e:
            raise ValueError(f"{path}: not a TargetStats JSON file ({e}); expected keys pitch_mean, "
                             "pitch_std, energy_mean, energy_std") from None


# ------------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------------


def compute_targets(wav, fbank: FbankConfig, method: str = "pyin", fmin: float = 65.0,
                    fmax: float = 600.0) -> dict[str, np.ndarray]:
    """``{"log_f0": (T,) float32, "voiced": (T,) bool, "energy": (T,) float32}`` for one waveform."""
    log_f0, voiced = frame_pitch(wav, fbank, fmin=fmin, fmax=fmax, method=method)
    energy = frame_energy(wav, fbank)
    return {"log_f0": log_f0, "voiced": voiced, "energy": energy}


# ------------------------------------------------------------------------------------------------
# Pitch control helpers
# ------------------------------------------------------------------------------------------------


def semitone_shift_ratio(semitones: float) -> float:
    """F0 ratio of a shift by ``semitones``: ``2 ** (semitones / 12)``."""
    return float(2.0 ** (semitones / 12.0))


def median_f0(wav, sr: int, fmin: float = 65.0, fmax: float = 600.0, method: str = "pyin") -> float:
    """Median F0 in Hz over voiced frames (10-ms hop at ``sr``); NaN when nothing is voiced."""
    fbank = FbankConfig(sample_rate=int(sr), n_mels=min(80, max(1, int(sr) // 200)))
    log_f0, voiced = frame_pitch(wav, fbank, fmin=fmin, fmax=min(fmax, sr / 2), method=method)
    if not voiced.any():
        return float("nan")
    return float(np.exp(np.median(log_f0[voiced])))

