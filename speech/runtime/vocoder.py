"""Vocoders of the torch-free runtime: Griffin-Lim in numpy, or a HiFi-GAN exported to ONNX.

:func:`open_vocoder` picks one for a voice export: ``"griffin-lim"`` (the voice export's settings) or
the folder of a vocoder export (``speech export VOCODER --format onnx -o DIR``), whose mel config
must equal the voice's. Both take log-mel (B, T, n_mels) and lengths (B,) and give (B, T * hop)
waveforms in [-1, 1], zero past each length (the torch vocoders' convention).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from speech.runtime.features import FrameRate, hann
from speech.runtime.format import ExportFormatError, read_export, session
from speech.runtime.griffin_lim import GriffinLim

__all__ = ["OnnxVocoder", "istft", "open_vocoder"]

_GRIFFIN_LIM = ("griffin-lim", "griffinlim", "gl")


def istft(spec: np.ndarray, n_fft: int, hop: int, n_samples: int) -> np.ndarray:
    """``torch.istft(spec, n_fft, hop, n_fft, hann_window(n_fft), center=True, length=n_samples)`` in numpy:
    (B, n_fft // 2 + 1, N) complex -> (B, n_samples)."""
    window = hann(n_fft)
    frames = np.fft.irfft(spec.transpose(0, 2, 1), n=n_fft, axis=-1).astype(np.float32) * window
    b, n, _ = frames.shape
    total = n_fft + hop * (n - 1)
    out = np.zeros((b, total), np.float32)
    env = np.zeros(total, np.float32)
    for k in range(n):
        out[:, k * hop:k * hop + n_fft] += frames[:, k]
        env[k * hop:k * hop + n_fft] += window * window
    start = n_fft // 2
    out = out[:, start:start + n_samples]
    env = env[start:start + n_samples]
    out = np.where(env > 1e-11, out / np.where(env > 1e-11, env, 1.0), 0.0).astype(np.float32)
    if out.shape[1] < n_samples:
        out = np.pad(out, ((0, 0), (0, n_samples - out.shape[1])))
    return out


class OnnxVocoder(FrameRate):
    """A HiFi-GAN vocoder export (see :mod:`speech.export.vocoder`)."""

    def __init__(self, folder: Path, meta: Mapping, threads: int | None = None):
        self.fb = dict(meta["features"])
        self.istft = meta.get("istft")
        self.session = session(Path(folder) / meta["graphs"]["vocoder"], threads)

    def __call__(self, log_mel: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        x = np.asarray(log_mel, np.float32)
        b, t, _ = x.shape
        lens = np.asarray(lengths, np.int64)
        if t == 0:
            return np.zeros((b, 0), np.float32)
        valid = np.arange(t)[None, :] < lens[:, None]
        x = np.where(valid[..., None], x, np.float32(np.log(float(self.fb["log_floor"]))))
        y = self.session.run(None, {"mel": x})[0]
        if self.istft:
            bins = int(self.istft["n_fft"]) // 2 + 1
            mag = np.exp(np.minimum(y[:, :bins], 8.0))
            phase = np.pi * np.sin(y[:, bins:])
            y = istft((mag * np.exp(1j * phase)).astype(np.complex64), int(self.istft["n_fft"]), int(self.istft["hop"]),
                      t * self.hop_length)
            y = np.clip(y, -1.0, 1.0)
        y = y[:, :t * self.hop_length]
        return (y * (np.arange(y.shape[1])[None, :] < (lens * self.hop_length)[:, None])).astype(np.float32)


def _differs(a: Mapping, b: Mapping) -> list[str]:
    return [f"{k}={a.get(k)!r} (vocoder: {b.get(k)!r})" for k in a if k in b and a.get(k) != b.get(k)]


def open_vocoder(spec: str | os.PathLike, fb: Mapping, gl_settings: Mapping, threads: int | None = None,
                 gl_iters: int | None = None):
    """``spec``: ``griffin-lim`` (with ``gl_settings`` from the voice export, ``gl_iters`` overriding
    its iterations) or a vocoder export folder; its mel config must equal ``fb``.

    Raises:
        ExportFormatError / ValueError: one line: not an export, the torch package given, another mel config.
    """
    name = str(spec).strip().lower().replace("_", "-")
    if name in _GRIFFIN_LIM:
        opts = {k: gl_settings[k] for k in ("n_iter", "momentum", "power", "mel_iter", "seed") if k in gl_settings}
        if gl_iters is not None:
            opts["n_iter"] = int(gl_iters)
        return GriffinLim(fb, **opts, threads=threads)
    exp = read_export(spec, "vocoder")
    if not isinstance(exp.meta.get("features"), dict):
        raise ExportFormatError(f"{exp.path / 'meta.json'}: features: expected an object (export the vocoder again)")
    diffs = _differs(dict(fb), exp.meta["features"])
    if diffs:
        raise ValueError(f"{spec}: mel config differs from the voice's: {', '.join(diffs)}; expected a vocoder "
                         "trained on the voice's mel config")
    return OnnxVocoder(exp.path, exp.meta, threads)
