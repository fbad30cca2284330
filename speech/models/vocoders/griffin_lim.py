"""Griffin-Lim vocoder: the training-free baseline that inverts the toolkit's own log-mel features.

Pipeline (each step mirrors :func:`speech.features.log_mel` exactly):

1. ``exp`` -> mel power ``M`` ``(T, n_mels)``.
2. Mel -> linear power ``P`` ``(T, n_fft // 2 + 1)`` with the toolkit's filterbank ``W``
   (:func:`speech.features.mel_filterbank`): ``mel_iter`` multiplicative updates that minimise the
   generalised KL divergence between ``P @ W`` and ``M`` (``P <- P * ((M / (P W)) W^T) / (1 W^T)``),
   started from ``M`` spread back over each filter's bins. The updates keep ``P >= 0`` and fit
   *relative* error, which is what a log-mel comparison sees. Bins no filter covers (below
   ``f_min``, above ``f_max``) get 0.
3. Magnitude ``sqrt(P) ** power`` (``power=1``, the default, is the exact inverse; ``> 1`` exaggerates
   spectral peaks as Tacotron's 1.5 did, and changes loudness; not measured here).
4. Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013: Griffin-Lim with momentum ``momentum``)
   with the same framing as ``log_mel``: frame ``t`` covers samples ``[t * hop, t * hop + win)``, a
   periodic Hann window of ``win`` samples, zero-padded to ``n_fft`` at the end (not centred, unlike
   ``torch.stft``). The inverse STFT is the least-squares overlap-add; where fewer than ~one window's
   worth of frames overlap (the first and last few ms) the normaliser is floored, which tapers those
   samples instead of amplifying phase errors. Initial phase: uniform random from a fixed seed
   (``seed``), so results are deterministic and a batch row equals the same input alone.
5. If ``fbank.preemphasis = a > 0``: de-emphasis ``y[n] = x[n] + a * y[n - 1]`` (the exact inverse
   of ``log_mel``'s ``x[n] - a * x[n - 1]``).
6. Output length ``T * hop`` (see :mod:`speech.models.vocoders.base`); scaled down only if it would clip.

Memory: a batch is vocoded in groups of consecutive rows of at most :data:`GROUP_FRAMES` padded
frames, each group cut to its own longest row, and every iteration works in place in arrays
allocated once per group (the same operations in the same order: the output is bit-identical to
allocating fresh tensors per step); with a window of whole hops (22.05 kHz: 1024 = 4 x 256) the
overlap-add adds hop-long blocks straight into the waveform instead of ``fold`` on a transposed
copy. A batch of 8 rows of 900-641 frames at 22.05 kHz (1 thread, AMD EPYC) peaked 388-537 MB above
the loaded process and took 4.7-5.3 s before, 73-77 MB and 1.9 s after; one 5 s row is as fast as
before (``bench/griffin_lim.py``). ``bench/lean_memory.py`` measures whole synthesis jobs.

Choices (CPU; log-mel L1 = mean ``|log_mel(vocoded) - log_mel(original)|`` over frames and mels,
natural log; clip LJ001-0002, 1.9 s, at 22.05 kHz with hop 256, n_fft = win = 1024, 80 mels,
f_max 8 kHz, no pre-emphasis):

* Mel -> linear, L1 of ``log(P @ W)`` to the input mels: min-norm least squares clamped at 0 (what
  ``torchaudio.transforms.InverseMelScale(driver="gelsd")`` computes) 0.431; that plus 20 / 100 / 1000
  projected-gradient steps 0.245 / 0.080 / 0.016; KL multiplicative updates 5 / 20 / 100 steps
  0.075 / 0.008 / 0.0007, at ~1 ms per step for 5 s of audio (1 thread). Default ``mel_iter=30``.
* Griffin-Lim copy-synthesis L1 at n_iter 16 / 32 / 64: plain Griffin-Lim (momentum 0) 0.254 /
  0.225 / 0.204; momentum 0.9: 0.211 / 0.185 / 0.170; momentum 0.99 (default): 0.216 / 0.181 /
  0.172. Zero initial phase is 0.002-0.017 worse than the seeded random phase in every case.
* Normaliser floor 0.01 / 0.1 / 0.3 of the interior value: same L1 (0.182 / 0.181 / 0.182); peak of
  the first 300 samples 0.29 / 0.10 / 0.04 (the clip starts in near-silence). Default 0.1.

Benchmark (``nice -n 10 .venv/bin/python -m speech.models.vocoders.griffin_lim --threads 1``; RTF = best of
5 runs on 5 s of mels, i.e. LJ001-0002's mels tiled to 5 s; the 16 kHz rows resample the clip and
use the toolkit's default ``FbankConfig()``: 25/10 ms, n_fft 512, 80 mels, pre-emphasis 0.97;
5 s of 22,050 Hz mels take 0.19 s with n_iter=32):

=========================================  ==========  ==========  ==========
                                           n_iter=16   n_iter=32   n_iter=64
=========================================  ==========  ==========  ==========
RTF, 22,050 Hz, 1 thread                   0.022       0.039       0.069
RTF, 16 kHz, 1 thread                      0.010       0.016       0.027
copy-synthesis log-mel L1, 22,050 Hz       0.216       0.181       0.172
copy-synthesis log-mel L1, 16 kHz          0.198       0.141       0.109
=========================================  ==========  ==========  ==========

With ``--threads 2`` on the same 2-core machine while another job kept both cores busy, the RTFs
ranged from 0.03 to 1.8 from run to run: each of the many small ops waits for the second (busy)
thread. Where the cores are shared, call the vocoder under ``torch.set_num_threads(1)``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from speech.features.functional import FbankConfig, _analysis_tensors
from speech.models.vocoders.base import Vocoder

__all__ = ["GriffinLimVocoder", "mel_to_linear_power"]

# The inverse STFT's normaliser (sum of squared windows over overlapping frames) is floored at this
# fraction of its interior value: stops the first/last few ms from blowing up phase errors.
_OLA_FLOOR = 0.1
# Log-mel values are clamped to at most this before exp.
_LOG_MEL_MAX = 30.0
GROUP_FRAMES = 2048
"""Padded frames (rows x longest row) one Griffin-Lim pass works on: a batch is vocoded in groups of
rows this size (24 s of 22.05 kHz audio; about 45 MB of work arrays), so memory does not grow with
the batch."""


def _inverse_tensors(fbank: FbankConfig, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(fb (F, M), fb spread (M, F) for the initial guess, fb row sums (F,), window (win,))."""
    return _inverse_tensors_cached(fbank.win_length, fbank.fft_size, fbank.n_mels, fbank.sample_rate,
                                   float(fbank.f_min), fbank.mel_f_max, torch.device(device))


@functools.lru_cache(maxsize=16)
def _inverse_tensors_cached(win_length: int, fft_size: int, n_mels: int, sample_rate: int, f_min: float,
                            f_max: float, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    # The very window and filterbank log_mel analyses with.
    window, fb = _analysis_tensors(win_length, fft_size, n_mels, sample_rate, f_min, f_max, device,
                                   torch.float32)
    spread = (fb / fb.sum(0, keepdim=True).clamp_min(1e-12)).T.contiguous()
    return fb, spread, fb.sum(1), window


def mel_to_linear_power(mel_power: Tensor, fbank: FbankConfig, n_iter: int = 30) -> Tensor:
    """Non-negative linear power spectrum ``P`` with ``P @ mel_filterbank(fbank) ~= mel_power``.

    Args:
        mel_power: ``(..., T, n_mels)`` mel power (``exp`` of ``log_mel``), float32, ``>= 0``.
        fbank: the config the mels were computed with.
        n_iter: KL multiplicative updates (0 -> only the spread initial guess).

    Returns:
        ``(..., T, fft_size // 2 + 1)`` float32, ``>= 0``; 0 in bins no mel filter covers.

    The updates run in place in two work arrays allocated once (the same operations in the same
    order as ``p = p * (((m / (p @ fb).clamp_min(tiny)) @ fb.T) * scale)``, without a fresh
    ``(..., T, F)`` temporary per step).
    """
    fb, spread, rows, _ = _inverse_tensors(fbank, mel_power.device)
    m = mel_power.float()
    p = m @ spread
    if n_iter <= 0:
        return p
    scale = torch.where(rows > 0, 1.0 / rows.clamp_min(1e-12), torch.zeros_like(rows))
    tiny = torch.finfo(torch.float32).tiny
    fb_t = fb.T
    ratio = torch.empty_like(m)  # (..., T, n_mels)
    update = torch.empty_like(p)  # (..., T, F)
    for _ in range(n_iter):
        torch.matmul(p, fb, out=ratio)
        torch.div(m, ratio.clamp_min_(tiny), out=ratio)
        torch.matmul(ratio, fb_t, out=update)
        p.mul_(update.mul_(scale))
    return p


class GriffinLimVocoder(Vocoder):
    """Log-mel -> waveform by mel inversion and fast Griffin-Lim (no trained weights).

    Args:
        fbank: the mel config of the features (the same object the TTS model uses).
        n_iter: Griffin-Lim iterations (quality/speed: see the module docstring).
        momentum: fast Griffin-Lim momentum in ``[0, 1)``; 0 is the original Griffin-Lim.
        power: exponent applied to the recovered magnitude (1 = exact inverse).
        mel_iter: multiplicative updates of the mel -> linear inversion.
        seed: seed of the random initial phase; None starts from zero phase.
    """

    def __init__(self, fbank: FbankConfig, n_iter: int = 32, momentum: float = 0.99, power: float = 1.0,
                 mel_iter: int = 30, seed: int | None = 0):
        super().__init__(fbank)
        if n_iter < 0 or mel_iter < 0:
            raise ValueError(f"GriffinLimVocoder: n_iter={n_iter}, mel_iter={mel_iter}; expected >= 0")
        if not 0 <= momentum < 1:
            raise ValueError(f"GriffinLimVocoder: momentum={momentum}; expected 0 <= momentum < 1")
        if not power > 0:
            raise ValueError(f"GriffinLimVocoder: power={power}; expected > 0")
        self.n_iter = int(n_iter)
        self.momentum = float(momentum)
        self.power = float(power)
        self.mel_iter = int(mel_iter)
        self.seed = seed

    # -- STFT pair with log_mel's framing, into preallocated work arrays -----------------------

    def _stft_into(self, x: Tensor, window: Tensor, frames: Tensor, out: Tensor) -> Tensor:
        """(B, N) -> ``out`` (B, T, F) complex: frames [t*hop, t*hop+win), windowed into ``frames``
        (B, T, n_fft), whose samples past ``win`` are zeroed (the FFT's zero padding)."""
        win, hop = self.fbank.win_length, self.fbank.hop_length
        torch.mul(x.unfold(-1, win, hop), window, out=frames[..., :win])
        if win < frames.shape[-1]:
            frames[..., win:].zero_()
        return torch.fft.rfft(frames, dim=-1, out=out)

    def _overlap_add(self, frames: Tensor, n: int) -> Tensor:
        """(B, T, win) -> (B, n) with n = (T - 1) * hop + win."""
        win, hop = self.fbank.win_length, self.fbank.hop_length
        out = torch.nn.functional.fold(frames.transpose(1, 2), output_size=(1, n), kernel_size=(1, win),
                                       stride=(1, hop))
        return out.reshape(frames.shape[0], n)

    def _overlap_add_into(self, frames: Tensor, out: Tensor) -> Tensor:
        """:meth:`_overlap_add` into ``out`` (B, n) without temporaries when the window is a whole
        number of hops: each hop-long block of every frame is added where it lands, blocks in
        window order, which is the order ``fold`` sums them in (the same values)."""
        win, hop = self.fbank.win_length, self.fbank.hop_length
        b, t, _ = frames.shape
        if win % hop:
            return out.copy_(self._overlap_add(frames, out.shape[-1]))
        out.zero_()
        for j in range(win // hop):
            out[:, j * hop: (j + t) * hop].view(b, t, hop).add_(frames[:, :, j * hop: (j + 1) * hop])
        return out

    def _istft_into(self, spec: Tensor, window: Tensor, inv_norm: Tensor, frames: Tensor, out: Tensor) -> Tensor:
        """(B, T, F) complex -> ``out`` (B, n): inverse FFT into ``frames`` (B, T, n_fft), window,
        least-squares overlap-add."""
        torch.fft.irfft(spec, n=self.fbank.fft_size, dim=-1, out=frames)
        windowed = frames[..., : self.fbank.win_length].mul_(window)
        return self._overlap_add_into(windowed, out).mul_(inv_norm)

    # -- synthesis -----------------------------------------------------------------------------

    def _synthesize(self, log_mel: Tensor, lengths: Tensor) -> Tensor:
        """Rows in groups of at most :data:`GROUP_FRAMES` padded frames (one row alone when it is
        longer), each group cut to its longest row: the work arrays stay the size of a group
        whatever the batch, and no iteration runs over another row's padding."""
        b, t, _ = log_mel.shape
        hop = self.fbank.hop_length
        wav = log_mel.new_zeros(b, t * hop)
        for a, e in _row_groups([int(n) for n in lengths], GROUP_FRAMES):
            frames = int(lengths[a:e].max())
            if frames > 0:
                wav[a:e, : frames * hop] = self._griffin_lim(log_mel[a:e, :frames], lengths[a:e])
        return wav

    def _griffin_lim(self, log_mel: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, n_mels), (B,) -> (B, T * hop): mel inversion and fast Griffin-Lim for one group of
        rows. Each iteration works in place in the same five arrays: the estimate, the last two
        rebuilt spectra (complex, (B, T, F)), the frames (B, T, n_fft) and the waveform (B, N)."""
        cfg = self.fbank
        b, t, _ = log_mel.shape
        win, hop = cfg.win_length, cfg.hop_length
        device = log_mel.device
        _, _, _, window = _inverse_tensors(cfg, device)
        valid = (torch.arange(t, device=device)[None, :] < lengths[:, None]).float()  # (B, T)

        # log_mel never goes below log(log_floor); the top clamp (e^30, far above any [-1, 1]
        # waveform's mel energy) keeps a wild model prediction from overflowing float32.
        mel_power = log_mel.clamp(math.log(cfg.log_floor), _LOG_MEL_MAX).exp_()
        mag = mel_to_linear_power(mel_power, cfg, self.mel_iter).sqrt_()
        del mel_power
        if self.power != 1.0:
            mag.pow_(self.power)
        mag.mul_(valid[..., None])  # padding frames contribute nothing

        # Least-squares overlap-add normaliser per item (only its own frames), floored at the edges.
        n = (t - 1) * hop + win
        wsq = (window * window).expand(b, t, win) * valid[..., None]
        norm = self._overlap_add(wsq, n)
        del wsq
        interior = float((window * window).sum()) / hop
        inv_norm = torch.where(norm > 0, 1.0 / norm.clamp_min(_OLA_FLOOR * interior), torch.zeros_like(norm))

        n_freq = mag.shape[-1]
        if self.seed is None:
            phase = torch.ones(1, t, n_freq, dtype=torch.complex64, device=device)
        else:  # the same (T, F) table for every row: a batch row equals that input alone
            g = torch.Generator().manual_seed(int(self.seed))
            angle = 2 * math.pi * torch.rand(t, n_freq, generator=g)
            phase = torch.polar(torch.ones_like(angle), angle)[None].to(device)

        spec = mag * phase  # the estimate
        del phase
        rebuilt = torch.empty_like(spec)
        prev = torch.empty_like(spec) if self.momentum > 0 and self.n_iter > 1 else None
        frames = torch.empty(b, t, cfg.fft_size, device=device)
        x = torch.empty(b, n, device=device)
        for k in range(self.n_iter):
            self._stft_into(self._istft_into(spec, window, inv_norm, frames, x), window, frames, rebuilt)
            if prev is None or k == 0:
                target = rebuilt
            else:  # rebuilt + momentum * (rebuilt - prev), in prev's buffer (same rounding)
                target = prev.sub_(rebuilt).mul_(-self.momentum).add_(rebuilt)
            torch.sgn(target, out=spec).mul_(mag)
            if prev is not None:
                prev, rebuilt = rebuilt, prev
        del rebuilt, prev
        wav = self._istft_into(spec, window, inv_norm, frames, x)

        out_len = t * hop
        if n < out_len:
            wav = torch.nn.functional.pad(wav, (0, out_len - n))
        wav = wav[:, :out_len]
        if cfg.preemphasis > 0:
            wav = _deemphasize(wav, cfg.preemphasis)
        keep = torch.arange(out_len, device=device)[None, :] < (lengths * hop)[:, None]
        wav = wav * keep
        peak = wav.abs().amax(dim=1, keepdim=True)
        wav = torch.where(peak > 1, wav / peak.clamp_min(1e-12), wav).clamp(-1.0, 1.0)
        return wav.float().contiguous()


def _row_groups(lengths: list[int], max_frames: int) -> list[tuple[int, int]]:
    """Consecutive row ranges ``[a, e)`` whose rows, padded to the group's longest, hold at most
    ``max_frames`` frames (a longer row is a group of its own)."""
    groups, a = [], 0
    while a < len(lengths):
        e, longest = a + 1, lengths[a]
        while e < len(lengths) and (e + 1 - a) * max(longest, lengths[e]) <= max_frames:
            longest = max(longest, lengths[e])
            e += 1
        groups.append((a, e))
        a = e
    return groups


def _deemphasize(x: Tensor, coef: float) -> Tensor:
    """``y[n] = x[n] + coef * y[n - 1]`` along the last dim (inverse of log_mel's pre-emphasis)."""
    import torchaudio.functional as AF

    a = torch.tensor([1.0, -coef], dtype=torch.float64, device=x.device)
    bcoef = torch.tensor([1.0, 0.0], dtype=torch.float64, device=x.device)
    return AF.lfilter(x.double(), a, bcoef, clamp=False).float()

