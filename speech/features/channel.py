"""Channel augmentation on log-mel features: background noise at a chosen SNR and a microphone's tilt.

An unseen speaker is also an unseen room and microphone. Two cheap simulations of those, applied to
log-mel features that are already computed (so cached features stay cached):

- :func:`add_noise_logmel`: noise is mixed in the mel *power* domain, ``log(exp(feats) + g * noise)``.
  The mel filterbank is linear in the power spectrum and speech and noise are uncorrelated, so this is
  the expected mel power of the waveform sum, at the noise gain ``g`` that gives the requested
  utterance-level SNR. The noise frames are real log-mel frames of white, pink or brown noise
  (:func:`noise_bank`), analysed with the same settings as the speech, so their band-to-band shape and
  frame-to-frame fluctuation are those of the real thing.
- :func:`tilt_logmel`: a straight-line gain across the mel bands (a brighter or duller microphone),
  ``slope_db`` from the lowest band to the highest; frames at the log floor (digital silence) stay.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from speech.features.functional import FbankConfig, log_mel

NOISE_COLORS = ("white", "pink", "brown")
"""Noise spectra of :func:`noise_bank`: power flat, falling 3 dB and 6 dB per octave."""


def colored_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-RMS noise whose power spectrum falls as ``1 / f**k`` (k = 0, 1, 2 for
    white, pink, brown), shaped in the Fourier domain; the DC bin is zero."""
    if color not in NOISE_COLORS:
        raise ValueError(f"noise color {color!r}; expected one of {', '.join(NOISE_COLORS)}")
    k = NOISE_COLORS.index(color)
    spec = np.fft.rfft(rng.standard_normal(n))
    gain = np.zeros(spec.shape[0])  # no DC
    gain[1:] = np.arange(1, spec.shape[0], dtype=np.float64) ** (-k / 2.0)
    spec *= gain
    x = np.fft.irfft(spec, n)
    return (x / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)).astype(np.float32)


def noise_bank(cfg: FbankConfig, seconds: float = 20.0, seed: int = 0) -> list[Tensor]:
    """Mel power frames ``(T, F)`` of each noise color in :data:`NOISE_COLORS`, analysed like speech
    with ``cfg`` (without its level normalization and dither: the gain is set per utterance)."""
    rng = np.random.default_rng(seed)
    plain = replace(cfg, level_db=None, dither=0.0)
    n = int(seconds * cfg.sample_rate)
    return [log_mel(torch.from_numpy(colored_noise(n, c, rng)), plain).exp() for c in NOISE_COLORS]


def add_noise_logmel(feats: Tensor, noise_power: Tensor, snr_db: float) -> Tensor:
    """``feats`` (T, F) natural-log mel energies with ``noise_power`` (T, F) mel power frames mixed in at
    ``snr_db`` (mean mel power of the utterance over mean mel power of the noise, both over all frames
    and bands). Returns a new tensor."""
    if feats.shape != noise_power.shape:
        raise ValueError(f"add_noise_logmel: feats {tuple(feats.shape)} and noise {tuple(noise_power.shape)} differ")
    power = feats.exp()
    signal = power.sum(-1).mean()
    noise = noise_power.sum(-1).mean()
    if not torch.isfinite(signal) or signal <= 0 or noise <= 0:
        return feats.clone()
    gain = signal / noise / (10.0 ** (snr_db / 10.0))
    return (power + gain * noise_power).log()


def tilt_logmel(feats: Tensor, slope_db: float, floor: float | None = None) -> Tensor:
    """``feats`` (T, F) with a gain rising linearly from ``-slope_db / 2`` dB in the first band to
    ``+slope_db / 2`` dB in the last; entries at or below ``floor`` (the log floor: digital silence)
    are left as they are."""
    bands = feats.shape[-1]
    ramp = torch.linspace(-0.5, 0.5, bands, dtype=feats.dtype, device=feats.device) if bands > 1 else feats.new_zeros(1)
    out = feats + (slope_db * math.log(10.0) / 10.0) * ramp
    if floor is not None:
        out = torch.where(feats > floor, out, feats)
    return out


def sample_noise_frames(bank: list[Tensor], frames: int) -> Tensor:
    """``frames`` consecutive frames of a random noise in ``bank`` from a random start (global torch RNG),
    wrapping around when the noise is shorter."""
    noise = bank[int(torch.randint(0, len(bank), (1,)))]
    start = int(torch.randint(0, noise.shape[0], (1,)))
    idx = (torch.arange(frames) + start) % noise.shape[0]
    return noise[idx]
