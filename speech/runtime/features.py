"""Log-mel features in numpy: the runtime's copy of :func:`speech.features.functional.log_mel`.

The same framing ("snip edges": frame ``t`` covers samples ``[t * hop, t * hop + win)``; an input
shorter than one window is zero-padded to one frame), pre-emphasis, periodic Hann window, real FFT,
power spectrum, HTK mel filterbank (unnormalized) and ``log(max(energy, log_floor))``. A test holds
it to the torch version. Dither is a training-time setting and is not applied here.

``fb`` everywhere is a plain mapping: an export's ``meta.json`` ``features`` entry, written from the
package's :class:`~speech.features.FbankConfig` with its derived sizes resolved::

    {"sample_rate": 16000, "n_mels": 80, "win_length": 400, "hop_length": 160, "fft_size": 512,
     "f_min": 20.0, "f_max": 8000.0, "log_floor": 1e-06, "preemphasis": 0.97, "level_db": null}

``level_db`` (optional; older exports lack it) scales each waveform to that RMS level first.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import numpy as np

FEATURE_KEYS = ("sample_rate", "n_mels", "win_length", "hop_length", "fft_size", "f_min", "f_max", "log_floor",
                "preemphasis")
OPTIONAL_KEYS = {"level_db": None}
"""Settings an export may leave out (older exports do), with their defaults."""
SILENT_RMS = 1e-7  # as speech.features.functional.SILENT_RMS


def check_features(fb: object, where: str) -> dict:
    """``fb`` as a dict of exactly :data:`FEATURE_KEYS` with sane values, else one-line ValueError naming ``where``."""
    if not isinstance(fb, Mapping):
        raise ValueError(f"{where}: expected an object of feature settings ({', '.join(FEATURE_KEYS)})")
    missing = [k for k in FEATURE_KEYS if k not in fb]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    out = {k: fb[k] for k in FEATURE_KEYS}
    for k, default in OPTIONAL_KEYS.items():
        out[k] = fb.get(k, default)
    level = out["level_db"]
    if level is not None and (not isinstance(level, (int, float)) or isinstance(level, bool) or not -80 <= level <= 0):
        raise ValueError(f"{where}.level_db: {level!r}; expected null or a number of dB full scale in [-80, 0]")
    for k in ("sample_rate", "n_mels", "win_length", "hop_length", "fft_size"):
        if not isinstance(out[k], int) or isinstance(out[k], bool) or out[k] < 1:
            raise ValueError(f"{where}.{k}: {out[k]!r}; expected a whole number >= 1")
    for k in ("f_min", "f_max", "log_floor", "preemphasis"):
        if not isinstance(out[k], (int, float)) or isinstance(out[k], bool) or not math.isfinite(out[k]):
            raise ValueError(f"{where}.{k}: {out[k]!r}; expected a number")
    if out["fft_size"] < out["win_length"]:
        raise ValueError(f"{where}.fft_size: {out['fft_size']} is shorter than win_length {out['win_length']}")
    if not 0 <= out["f_min"] < out["f_max"] <= out["sample_rate"] / 2 or out["log_floor"] <= 0:
        raise ValueError(f"{where}: f_min {out['f_min']}, f_max {out['f_max']}, log_floor {out['log_floor']}; "
                         "expected 0 <= f_min < f_max <= sample_rate / 2 and log_floor > 0")
    return out


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


@functools.lru_cache(maxsize=16)
def _filters(n_freqs: int, f_min: float, f_max: float, n_mels: int, sample_rate: int) -> np.ndarray:
    bins = np.linspace(0.0, float(sample_rate // 2), n_freqs, dtype=np.float32).astype(np.float64)
    mels = np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2)
    edges = 700.0 * (np.power(10.0, mels / 2595.0) - 1.0)
    width = edges[1:] - edges[:-1]
    to_edge = edges[None, :] - bins[:, None]
    rising = -to_edge[:, :-2] / width[:-1]
    falling = to_edge[:, 2:] / width[1:]
    out = np.clip(np.minimum(rising, falling), 0.0, None).astype(np.float32)
    out.setflags(write=False)
    return out


def mel_filters(fb: Mapping) -> np.ndarray:
    """(fft_size // 2 + 1, n_mels) float32 triangular HTK-mel filters (read-only, cached)."""
    return _filters(int(fb["fft_size"]) // 2 + 1, float(fb["f_min"]), float(fb["f_max"]), int(fb["n_mels"]),
                    int(fb["sample_rate"]))


@functools.lru_cache(maxsize=8)
def hann(win_length: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` samples (float32, read-only)."""
    n = np.arange(win_length, dtype=np.float64)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / win_length)).astype(np.float32)
    w.setflags(write=False)
    return w


def num_frames(num_samples: int, fb: Mapping) -> int:
    """Frames :func:`log_mel` gives for ``num_samples``: 0, 1 below one window, else ``1 + (N - win) // hop``."""
    n = int(num_samples)
    if n <= 0:
        return 0
    return 1 + max(0, n - int(fb["win_length"])) // int(fb["hop_length"])


def preemphasize(wav: np.ndarray, coef: float, previous: float | None = None) -> np.ndarray:
    """``y[n] = x[n] - coef * x[n-1]``; the first sample is kept unless ``previous`` (the sample before
    ``wav`` in a stream) is given."""
    if coef == 0 or len(wav) == 0:
        return wav
    y = np.empty_like(wav)
    y[0] = wav[0] if previous is None else wav[0] - coef * previous
    y[1:] = wav[1:] - coef * wav[:-1]
    return y


def frames_log_mel(x: np.ndarray, fb: Mapping) -> np.ndarray:
    """(T, F) log-mel of an already pre-emphasized signal ``x`` holding whole frames (snip edges)."""
    win, hop, n_fft = int(fb["win_length"]), int(fb["hop_length"]), int(fb["fft_size"])
    t = 0 if len(x) < win else 1 + (len(x) - win) // hop
    if t == 0:
        return np.zeros((0, int(fb["n_mels"])), np.float32)
    frames = np.lib.stride_tricks.as_strided(x, shape=(t, win), strides=(x.strides[0] * hop, x.strides[0]),
                                             writeable=False) * hann(win)
    spec = np.fft.rfft(frames, n=n_fft, axis=-1)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32)
    mel = power @ mel_filters(fb)
    return np.log(np.maximum(mel, np.float32(fb["log_floor"]))).astype(np.float32)


def log_mel(wav: np.ndarray, fb: Mapping) -> np.ndarray:
    """(N,) float waveform at ``fb["sample_rate"]`` -> (T, n_mels) float32 log-mel, T = :func:`num_frames`."""
    x = np.ascontiguousarray(wav, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"log_mel: expected a mono waveform (N,), got shape {x.shape}")
    if len(x) == 0:
        return np.zeros((0, int(fb["n_mels"])), np.float32)
    if fb.get("level_db") is not None:
        x = normalize_level(x, float(fb["level_db"]))
    win = int(fb["win_length"])
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    x = np.ascontiguousarray(preemphasize(x, float(fb["preemphasis"])))
    return frames_log_mel(x, fb)


def normalize_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """``x`` scaled so its RMS is ``level_db`` dB full scale; digital silence unchanged (see FbankConfig.level_db)."""
    rms = np.float32(np.sqrt(np.mean(np.square(x, dtype=np.float32))))
    if not rms > SILENT_RMS:
        return x
    return (x * np.float32(10.0 ** (level_db / 20.0) / rms)).astype(np.float32)


class FrameRate:
    """``sample_rate``, ``hop_length`` and ``num_samples(frames)`` read from ``self.fb`` (feature settings):
    what every vocoder and synthesizer of the runtime answers about its mel frames."""

    fb: Mapping

    @property
    def sample_rate(self) -> int:
        return int(self.fb["sample_rate"])

    @property
    def hop_length(self) -> int:
        return int(self.fb["hop_length"])

    def num_samples(self, frames: int) -> int:
        """Samples a vocoder makes of ``frames`` mel frames."""
        return int(frames) * self.hop_length
