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

- :func:`random_eq_db`: a microphone's or room's colouring beyond a straight tilt: a smooth random
  curve across the bands (a few cosine terms), applied with :func:`eq_logmel`.
- :func:`lowpass_gain_db`: a band-limited channel (a cheap microphone, a narrowband codec, a muffled
  room): no change up to a cut-off, then a roll-off of so many dB per octave, applied with
  :func:`eq_logmel` and the log floor as its lower bound.

And one simulation of an unseen *voice*:

- :func:`warp_logmel`: vocal tract length perturbation (VTLP). A shorter vocal tract puts every formant
  higher by about the same factor; the warped features read each band's energy at the frequency
  ``f / alpha`` of the original, so ``alpha > 1`` moves the formants up, ``alpha < 1`` down. The map is
  piecewise linear in Hz (as in VTLN): ``f / alpha`` up to a knee, then a straight line to the top
  band's frequency, so the band range is kept and nothing is read from beyond it. The duration and the
  pitch harmonics' spacing change with the formants, unlike speed perturbation, which also changes the
  duration.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from speech.features.functional import FbankConfig, hz_to_mel, log_mel, mel_to_hz

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


def eq_logmel(feats: Tensor, gains_db: Tensor, floor: float | None = None) -> Tensor:
    """``feats`` (T, F) with a per-band gain ``gains_db`` (F,) added; entries at or below ``floor`` stay,
    and a cut never takes an entry below ``floor`` (the analysis clamps energies there too)."""
    if gains_db.shape != feats.shape[-1:]:
        raise ValueError(f"eq_logmel: {tuple(gains_db.shape)} gains for {feats.shape[-1]} bands")
    out = feats + (math.log(10.0) / 10.0) * gains_db.to(device=feats.device, dtype=feats.dtype)
    if floor is not None:
        out = torch.where(feats > floor, out.clamp_min(floor), feats)
    return out


def random_eq_db(bands: int, max_db: float, terms: int = 4) -> Tensor:
    """A smooth random gain curve (F,) in dB: ``terms`` cosine terms across the bands (the k-th, k >= 1,
    with a random sign and size that falls as 1 / k), its mean removed, then scaled so that its largest
    deviation is a uniform draw from ``[0, max_db]``. Global torch RNG."""
    x = torch.linspace(0.0, 1.0, bands) if bands > 1 else torch.zeros(1)
    k = torch.arange(1, terms + 1, dtype=torch.float32)
    coef = (2 * torch.rand(terms) - 1) / k
    g = (coef[:, None] * torch.cos(math.pi * k[:, None] * x[None, :])).sum(0)
    g = g - g.mean()
    peak = float(g.abs().max())
    size = float(torch.rand(())) * max_db
    return g * (size / peak) if peak > 0 else g


def _mel_edges(cfg: FbankConfig) -> np.ndarray:
    # HTK mel, n_mels + 2 equally spaced edges: band k is centred on edge k + 1
    return np.linspace(hz_to_mel(float(cfg.f_min)), hz_to_mel(cfg.mel_f_max), cfg.n_mels + 2)


def band_centres_hz(cfg: FbankConfig) -> np.ndarray:
    """The centre frequency in Hz of each of the ``cfg.n_mels`` mel bands."""
    return mel_to_hz(_mel_edges(cfg)[1:-1])


def lowpass_gain_db(centres_hz: np.ndarray, cutoff_hz: float, db_per_octave: float = 24.0,
                    max_db: float = 60.0) -> Tensor:
    """Per-band gain (F,) in dB of a low-pass channel: 0 up to ``cutoff_hz``, then falling by
    ``db_per_octave`` for each octave above it (24: a fourth-order filter's slope), never below
    ``-max_db``."""
    if not cutoff_hz > 0:
        raise ValueError(f"low-pass cut-off {cutoff_hz} Hz; expected > 0")
    ratio = np.maximum(np.asarray(centres_hz, dtype=np.float64) / cutoff_hz, 1.0)
    return torch.from_numpy(np.maximum(-db_per_octave * np.log2(ratio), -max_db).astype(np.float32))


WARP_RANGE = (0.5, 2.0)
"""The warp factors :func:`warp_logmel` accepts (a vocal tract half or twice as long at the extremes)."""


def is_warp(alpha) -> bool:
    """Whether ``alpha`` is a warp factor :func:`warp_logmel` accepts: a number (not a bool) in ``WARP_RANGE``."""
    return isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and WARP_RANGE[0] <= alpha <= WARP_RANGE[1]


def warp_source_bands(cfg: FbankConfig, alpha: float, knee: float = 0.8) -> np.ndarray:
    """For each of the ``cfg.n_mels`` bands, the fractional band index whose centre frequency the band
    reads from under a warp by ``alpha`` (see :func:`warp_logmel`). ``knee`` is the fraction of the top
    band's centre frequency up to which the map is exactly ``f / alpha``."""
    if not is_warp(alpha):
        raise ValueError(f"warp factor {alpha}; expected 0.5 to 2.0 (e.g. 0.9 to 1.1)")
    if not 0.0 < knee < 1.0:
        raise ValueError(f"warp knee {knee}; expected a fraction in (0, 1)")
    edges = _mel_edges(cfg)
    centres = mel_to_hz(edges[1:-1])
    top = centres[-1]
    # the knee sits low enough that its source (knee / alpha) is still inside the band range
    f_knee = knee * top * min(1.0, alpha)
    src = np.where(centres <= f_knee, centres / alpha,
                   f_knee / alpha + (centres - f_knee) * (top - f_knee / alpha) / max(top - f_knee, 1e-9))
    step = edges[1] - edges[0]
    idx = (hz_to_mel(np.maximum(src, 0.0)) - edges[0]) / step - 1.0
    return np.clip(idx, 0.0, cfg.n_mels - 1.0)


def warp_logmel(feats: Tensor, cfg: FbankConfig, alpha: float) -> Tensor:
    """``feats`` (T, F) log-mel frames analysed with ``cfg``, frequency-warped by ``alpha`` (vocal tract
    length perturbation): band ``k`` of the result is the original linearly interpolated (in the log
    domain) at the band :func:`warp_source_bands` gives for ``k``. ``alpha == 1`` returns a copy."""
    if feats.shape[-1] != cfg.n_mels:
        raise ValueError(f"warp_logmel: {feats.shape[-1]} bands, the feature settings have {cfg.n_mels}")
    if alpha == 1.0:
        return feats.clone()
    idx = torch.from_numpy(warp_source_bands(cfg, alpha)).to(device=feats.device, dtype=feats.dtype)
    lo = idx.floor().long()
    hi = torch.clamp(lo + 1, max=cfg.n_mels - 1)
    w = idx - lo.to(idx.dtype)
    return feats[..., lo] * (1.0 - w) + feats[..., hi] * w


def sample_noise_frames(bank: list[Tensor], frames: int) -> Tensor:
    """``frames`` consecutive frames of a random noise in ``bank`` from a random start (global torch RNG),
    wrapping around when the noise is shorter."""
    noise = bank[int(torch.randint(0, len(bank), (1,)))]
    start = int(torch.randint(0, noise.shape[0], (1,)))
    idx = (torch.arange(frames) + start) % noise.shape[0]
    return noise[idx]
