"""Griffin-Lim in numpy: the runtime's copy of :class:`speech.models.vocoders.griffin_lim.GriffinLimVocoder`.

The same steps with the same numbers (see that module for the method and its measured choices):
log-mel -> mel power -> linear power by KL multiplicative updates -> magnitude -> fast Griffin-Lim
with ``log_mel``'s framing -> de-emphasis -> ``T * hop`` samples, scaled down only if it would clip.
The random initial phase is drawn exactly as torch draws it (``torch.rand`` on a generator seeded
with ``seed`` is MT19937 seeded the standard way, 24 bits per float), so a waveform here equals the
torch vocoder's up to float rounding. A test holds the two together.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from speech.runtime.features import FrameRate, hann, mel_filters

__all__ = ["GriffinLim", "mel_to_linear_power", "torch_rand"]

_OLA_FLOOR = 0.1
_LOG_MEL_MAX = 30.0


def torch_rand(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """What ``torch.rand(*shape, generator=torch.Generator().manual_seed(seed))`` gives, in numpy (CPU)."""
    n = int(np.prod(shape))
    raw = np.random.RandomState(int(seed) & 0xFFFFFFFF).randint(0, 2 ** 32, size=n, dtype=np.uint64)
    return ((raw & ((1 << 24) - 1)).astype(np.float32) * np.float32(2.0 ** -24)).reshape(shape)


def mel_to_linear_power(mel_power: np.ndarray, fb: Mapping, n_iter: int = 30) -> np.ndarray:
    """(..., T, n_mels) mel power -> (..., T, fft_size // 2 + 1) linear power >= 0 (KL multiplicative updates)."""
    w = mel_filters(fb)  # (F, M)
    spread = (w / np.maximum(w.sum(0, keepdims=True), 1e-12)).T.astype(np.float32)
    rows = w.sum(1)
    scale = np.where(rows > 0, 1.0 / np.maximum(rows, 1e-12), 0.0).astype(np.float32)
    tiny = np.finfo(np.float32).tiny
    m = mel_power.astype(np.float32)
    p = m @ spread
    wt = np.ascontiguousarray(w.T)
    for _ in range(n_iter):
        p = p * (((m / np.maximum(p @ w, tiny)) @ wt) * scale)
    return p


def _deemphasize(x: np.ndarray, coef: float) -> np.ndarray:
    """``y[n] = x[n] + coef * y[n - 1]`` along the last axis (float64, as the torch version)."""
    y = np.empty(x.shape, np.float64)
    acc = np.zeros(x.shape[:-1], np.float64)
    xd = x.astype(np.float64)
    for n in range(x.shape[-1]):
        acc = xd[..., n] + coef * acc
        y[..., n] = acc
    return y.astype(np.float32)


class GriffinLim(FrameRate):
    """Log-mel (B, T, n_mels) + lengths (B,) -> waveforms (B, T * hop) in [-1, 1], zero past each length.

    Args:
        fb: the runtime's feature settings (:mod:`speech.runtime.features`).
        n_iter, momentum, power, mel_iter, seed: as :class:`~speech.models.vocoders.griffin_lim.GriffinLimVocoder`.
    """

    def __init__(self, fb: Mapping, n_iter: int = 32, momentum: float = 0.99, power: float = 1.0,
                 mel_iter: int = 30, seed: int | None = 0, threads: int | None = None):
        if n_iter < 0 or mel_iter < 0 or not 0 <= momentum < 1 or not power > 0:
            raise ValueError(f"Griffin-Lim: n_iter={n_iter}, mel_iter={mel_iter}, momentum={momentum}, power={power}; "
                             "expected n_iter, mel_iter >= 0, 0 <= momentum < 1, power > 0")
        self.fb = dict(fb)
        self.n_iter, self.momentum, self.power, self.mel_iter, self.seed = int(n_iter), float(momentum), \
            float(power), int(mel_iter), seed
        self.threads = max(1, int(threads or os.cpu_count() or 1))

    def _stft(self, x: np.ndarray, window: np.ndarray) -> np.ndarray:
        win, hop, n_fft = len(window), self.hop_length, int(self.fb["fft_size"])
        t = 1 + (x.shape[-1] - win) // hop
        frames = np.lib.stride_tricks.as_strided(
            x, shape=(x.shape[0], t, win), strides=(x.strides[0], x.strides[1] * hop, x.strides[1]), writeable=False)
        return np.fft.rfft(frames * window, n=n_fft, axis=-1).astype(np.complex64, copy=False)

    def _overlap_add(self, frames: np.ndarray, n: int) -> np.ndarray:
        b, t, win = frames.shape
        hop = self.hop_length
        if win % hop == 0:  # the usual case (1024 / 256): win / hop shifted block sums, no loop over frames
            r = win // hop
            blocks = np.zeros((b, t + r - 1, hop), np.float32)
            parts = frames.reshape(b, t, r, hop)
            for j in range(r):
                blocks[:, j:j + t] += parts[:, :, j]
            out = np.zeros((b, n), np.float32)
            m = min(n, blocks.shape[1] * hop)
            out[:, :m] = blocks.reshape(b, -1)[:, :m]
            return out
        out = np.zeros((b, n), np.float32)
        for k in range(t):
            out[:, k * hop:k * hop + win] += frames[:, k]
        return out

    def _istft(self, spec: np.ndarray, window: np.ndarray, inv_norm: np.ndarray, n: int) -> np.ndarray:
        frames = np.fft.irfft(spec, n=int(self.fb["fft_size"]), axis=-1)[..., :len(window)].astype(np.float32, copy=False)
        return self._overlap_add(frames * window, n) * inv_norm

    def __call__(self, log_mel: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """(B, T, n_mels) log-mel (or (T, n_mels)) and lengths -> (B, T * hop) waveforms. With ``threads`` > 1
        the rows are shared among threads (numpy's FFTs and array arithmetic run without the GIL); each
        row keeps the batch's padded length, so the result is the same as in one thread."""
        x = np.asarray(log_mel, np.float32)
        if x.ndim != 3 or self.threads == 1 or x.shape[0] < 2:
            return self._vocode(x, lengths)
        b, t = x.shape[:2]
        lens = np.full(b, t, np.int64) if lengths is None else np.asarray(lengths, np.int64).reshape(-1)
        order = np.argsort(-lens, kind="stable")
        groups = [order[i::self.threads] for i in range(min(self.threads, b))]  # longest rows dealt round-robin
        with ThreadPoolExecutor(len(groups)) as pool:
            parts = list(pool.map(lambda g: self._vocode(x[g], lens[g]), groups))
        out = np.zeros((b, t * self.hop_length), np.float32)
        for g, wav in zip(groups, parts):
            out[g] = wav
        return out

    def _vocode(self, log_mel: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        x = np.asarray(log_mel, np.float32)
        single = x.ndim == 2
        if single:
            x = x[None]
        if x.ndim != 3 or x.shape[-1] != int(self.fb["n_mels"]):
            raise ValueError(f"Griffin-Lim: log_mel has shape {x.shape}; expected (B, T, {self.fb['n_mels']})")
        b, t, _ = x.shape
        lens = np.full(b, t, np.int64) if lengths is None else np.asarray(lengths, np.int64).reshape(-1)
        if t == 0 or b == 0:
            out = np.zeros((b, 0), np.float32)
            return out[0] if single else out
        valid = np.arange(t)[None, :] < lens[:, None]
        floor = math.log(float(self.fb["log_floor"]))
        x = np.where(valid[..., None], x, np.float32(floor))
        win, hop = int(self.fb["win_length"]), self.hop_length
        window = hann(win)
        x = np.clip(x, floor, _LOG_MEL_MAX)
        mag = np.sqrt(mel_to_linear_power(np.exp(x), self.fb, self.mel_iter))
        if self.power != 1.0:
            mag = mag ** self.power
        mag = (mag * valid[..., None]).astype(np.float32)
        n = (t - 1) * hop + win
        wsq = np.broadcast_to(window * window, (b, t, win)) * valid[..., None]
        norm = self._overlap_add(wsq.astype(np.float32), n)
        interior = float((window * window).sum()) / hop
        inv_norm = np.where(norm > 0, 1.0 / np.maximum(norm, _OLA_FLOOR * interior), 0.0).astype(np.float32)
        n_freq = mag.shape[-1]
        if self.seed is None:
            phase = np.ones((1, t, n_freq), np.complex64)
        else:
            angle = np.float32(2 * math.pi) * torch_rand((t, n_freq), self.seed)
            phase = (np.cos(angle) + 1j * np.sin(angle)).astype(np.complex64)[None]
        spec = mag * phase
        prev = None
        alpha = self.momentum
        tiny = np.float32(1e-30)  # |target| == 0 means target == 0, which stays 0 whatever it is divided by
        for _ in range(self.n_iter):
            rebuilt = self._stft(self._istft(spec, window, inv_norm, n), window)
            if prev is None or alpha == 0:
                target = rebuilt.copy()
            else:  # rebuilt + alpha * (rebuilt - prev), with as few temporaries as numpy allows
                target = np.subtract(rebuilt, prev, out=prev)
                target *= np.complex64(alpha)
                target += rebuilt
            prev = rebuilt
            scale = np.abs(target)
            np.maximum(scale, tiny, out=scale)
            np.divide(mag, scale, out=scale)
            target *= scale
            spec = target
        wav = self._istft(spec, window, inv_norm, n)
        out_len = t * hop
        if n < out_len:
            wav = np.pad(wav, ((0, 0), (0, out_len - n)))
        wav = wav[:, :out_len]
        if float(self.fb["preemphasis"]) > 0:
            wav = _deemphasize(wav, float(self.fb["preemphasis"]))
        wav = wav * (np.arange(out_len)[None, :] < (lens * hop)[:, None])
        peak = np.abs(wav).max(axis=1, keepdims=True)
        wav = np.clip(np.where(peak > 1, wav / np.maximum(peak, 1e-12), wav), -1.0, 1.0).astype(np.float32)
        return wav[0] if single else wav
