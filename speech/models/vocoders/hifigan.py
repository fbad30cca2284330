"""HiFi-GAN (Kong, Kim & Bae 2020): the generator (log-mel -> waveform) and its two discriminators.

Generator data flow (shapes; ``C = upsample_initial_channel``, ``u_i`` the upsampling rates)::

    log-mel (B, T, n_mels) (the toolkit's layout) -> transpose -> conv_pre (kernel 7) -> (B, C, T)
    -> for each stage i: leaky ReLU(0.1) -> ConvTranspose1d(kernel k_i, stride u_i, padding (k_i - u_i) // 2 *)
       -> (B, C / 2^(i+1), T * u_1 * ... * u_i)
       -> multi-receptive-field fusion: the average of one residual block per kernel in
          ``resblock_kernel_sizes`` (dilations from ``resblock_dilation_sizes``)
    -> leaky ReLU (slope 0.01, as in the published code) -> conv_post (kernel 7, 1 channel) -> tanh
    -> waveform (B, 1, T * hop)

Each transposed convolution multiplies the length by exactly ``u_i``, so ``T`` frames give exactly
``T * hop`` samples, ``hop = u_1 * ... * u_n`` (checked by :class:`HiFiGANConfig`). (*) That holds
with padding ``(k_i - u_i) // 2`` when ``k_i - u_i`` is even (all published presets); for an odd
rate with ``k_i = 2 u_i`` (e.g. 5 at hop 160 or 200) ``k_i - u_i`` is odd, and the stage uses padding
``(k_i - u_i + 1) // 2`` with ``output_padding=1`` instead, keeping the kernel a multiple of the
stride (uniform overlap, no checkerboard pattern from the kernel size).

Residual blocks (``resblock``): ``"1"`` (ResBlock1, V1/V2): for each dilation ``d``,
``x = x + conv_1(lrelu(conv_d(lrelu(x))))`` -- a dilated conv followed by a conv with dilation 1
(3 such pairs with the published dilations ``[1, 3, 5]``); ``"2"`` (ResBlock2, V3): for each
dilation ``d``, ``x = x + conv_d(lrelu(x))`` (2 single dilated convs with ``[1, 2]`` etc.). All
leaky ReLUs inside the blocks have slope 0.1; all kernels are odd, with "same" padding.

Mel-frame alignment: the toolkit's frames are not centred -- frame ``t`` of
:func:`speech.features.log_mel` covers samples ``[t * hop, t * hop + win)``. The generator maps
frame ``t`` to output samples ``[t * hop, (t + 1) * hop)``, i.e. output sample ``i`` lines up with
sample ``i`` of the analysed waveform (the convention of :mod:`speech.models.vocoders.base`); the frame's
content is centred ``win / 2`` samples after its first output sample, an offset the non-causal
network learns (its receptive field spans many frames on either side). Training must crop
accordingly: for a segment of ``F`` frames starting at frame ``t0`` (mels computed on the whole
utterance, or on the audio ``[t0 * hop, (t0 + F - 1) * hop + win)``), the target audio is samples
``[t0 * hop, (t0 + F) * hop)``.

Weight normalisation (``torch.nn.utils.parametrizations.weight_norm``) is on every convolution of
the generator; call :meth:`HiFiGANGenerator.remove_weight_norm` once before inference (it folds
``g * v / |v|`` into plain weights: same outputs, faster).

Presets (:func:`hifigan_preset`; the published configurations at hop 256 / 22.05 kHz)::

    preset  C    upsample_rates  upsample_kernel_sizes  resblock  kernels    dilations                params
    v1      512  8, 8, 2, 2      16, 16, 4, 4           "1"       3, 7, 11   [1,3,5] x 3              13.9 M
    v2      128  8, 8, 2, 2      16, 16, 4, 4           "1"       3, 7, 11   [1,3,5] x 3              0.93 M
    v3      256  8, 8, 4         16, 16, 8              "2"       3, 5, 7    [1,2], [2,6], [3,12]     1.46 M

For another hop the preset keeps its number of stages and spreads the hop over them as evenly as
possible, largest factor first, with kernel ``2 * u_i`` (e.g. hop 160: ``[5, 4, 4, 2]`` for v1/v2,
``[8, 5, 4]`` for v3; hop 200: ``[5, 5, 4, 2]``).

Inverse-STFT variants (``v1-istft``, ``v2-istft``, ``v3-istft``; iSTFTNet, Kaneko et al. 2022): the
first two upsampling stages of the preset (``hop / 4``), then conv_post predicts the log-magnitude
and phase of 9 frequency bins per step and ``torch.istft`` (16-point FFT, hop 4, Hann window) makes
the waveform. Same input, same ``T * hop`` output; the full-rate stages, the most expensive part of
the generator, are gone (``bench/vocoder_rtf.py`` measures the difference).

Discriminators (each ``(B, 1, N) -> (scores, feature_maps)``; ``scores`` a list with one
``(B, n_i)`` tensor per sub-discriminator, ``feature_maps`` a list with one list of activations per
sub-discriminator -- the inputs of the least-squares and feature-matching losses in
:mod:`speech.losses.gan`):

* :class:`MultiPeriodDiscriminator`: one 2-D conv stack per period ``p`` in ``(2, 3, 5, 7, 11)`` on
  the waveform reshaped to ``(B, 1, N / p, p)`` (reflect-padded to a multiple of ``p``); 6 feature
  maps each.
* :class:`MultiScaleDiscriminator`: grouped 1-D conv stacks on the raw waveform and on it
  average-pooled x2 and x4; spectral norm on the first, weight norm on the others; 8 feature maps each.

Both take ``channel_scale`` (default 1.0, the published widths) to make narrow discriminators for
CPU tests and CPU training.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

__all__ = [
    "HIFIGAN_PRESETS", "DiscriminatorP", "DiscriminatorS", "HiFiGANConfig", "HiFiGANGenerator",
    "ISTFT_HOP", "ISTFT_N_FFT", "MultiPeriodDiscriminator", "MultiScaleDiscriminator", "ResBlock1", "ResBlock2",
    "factorize_hop",
    "hifigan_generator", "hifigan_preset",
]

LRELU_SLOPE = 0.1
"""Slope of the leaky ReLUs in the generator's stages and residual blocks and in the discriminators."""


def _padding(kernel_size: int, dilation: int = 1) -> int:
    """'Same' padding of an odd-kernel, stride-1 convolution."""
    return (kernel_size * dilation - dilation) // 2


def _init_weights(m: nn.Module, std: float = 0.01) -> None:
    """N(0, std) initial weights of the generator's (transposed) convolutions, as the published code."""
    if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
        m.weight.data.normal_(0.0, std)


# ----------------------------------------------------------------------------------------------
# Configuration and presets


@dataclass
class HiFiGANConfig:
    """Hyper-parameters of :class:`HiFiGANGenerator` (defaults: the published V1 at hop 256)."""

    hop_length: int = 256
    """Samples per mel frame (``FbankConfig.hop_length``); the product of ``upsample_rates`` must equal it."""
    upsample_initial_channel: int = 512
    """Channels after conv_pre; halved by every upsampling stage (must stay >= 1)."""
    upsample_rates: list[int] = field(default_factory=lambda: [8, 8, 2, 2])
    """Stride of each transposed convolution (each >= 1); their product is the hop."""
    upsample_kernel_sizes: list[int] = field(default_factory=lambda: [16, 16, 4, 4])
    """Kernel of each transposed convolution, ``k_i >= u_i`` (published: ``2 * u_i``, which keeps the
    overlap uniform). Padding ``(k_i - u_i) // 2`` where ``k_i - u_i`` is even; where it is odd (an odd
    rate, e.g. 5 with kernel 10 at hop 160) padding ``(k_i - u_i + 1) // 2`` plus ``output_padding=1``
    (needs ``u_i >= 2``). Either way the stage multiplies the length by exactly ``u_i``."""
    resblock: str = "1"
    """Residual block type: "1" (pairs of dilated conv + conv with dilation 1) | "2" (single dilated convs)."""
    resblock_kernel_sizes: list[int] = field(default_factory=lambda: [3, 7, 11])
    """One residual block per kernel (odd sizes) in every stage; their outputs are averaged."""
    resblock_dilation_sizes: list[list[int]] = field(default_factory=lambda: [[1, 3, 5], [1, 3, 5], [1, 3, 5]])
    """Dilations of each residual block (one list per kernel): 3 for the published "1", 2 for "2"."""
    pre_kernel_size: int = 7
    """Kernel of conv_pre (mel -> channels), odd."""
    post_kernel_size: int = 7
    """Kernel of conv_post (channels -> waveform), odd."""
    istft_n_fft: int = 0
    """0: the paper's waveform output (conv_post -> 1 channel -> tanh). > 0: an inverse-STFT output
    head (iSTFTNet, Kaneko et al. 2022): conv_post predicts ``istft_n_fft / 2 + 1`` log-magnitudes and
    as many phases per step, and ``torch.istft`` (Hann window of ``istft_n_fft``, hop ``istft_hop``)
    makes the waveform; the upsampling stages then cover ``hop_length / istft_hop`` only."""
    istft_hop: int = 0
    """Hop of the inverse-STFT head (with ``istft_n_fft``); ``prod(upsample_rates) * istft_hop == hop_length``."""

    RESBLOCKS = ("1", "2")

    def __post_init__(self) -> None:
        self.resblock = str(self.resblock)
        self.upsample_rates = [int(u) for u in self.upsample_rates]
        self.upsample_kernel_sizes = [int(k) for k in self.upsample_kernel_sizes]
        self.resblock_kernel_sizes = [int(k) for k in self.resblock_kernel_sizes]
        self.resblock_dilation_sizes = [[int(d) for d in ds] for ds in self.resblock_dilation_sizes]
        p = "HiFiGANConfig"
        if self.hop_length < 1:
            raise ValueError(f"{p}.hop_length={self.hop_length}; expected >= 1")
        if not self.upsample_rates or any(u < 1 for u in self.upsample_rates):
            raise ValueError(f"{p}.upsample_rates={self.upsample_rates}; expected a non-empty list of ints >= 1")
        if self.istft_n_fft < 0 or (self.istft_n_fft and (self.istft_n_fft % 2 or not 1 <= self.istft_hop
                                                           <= self.istft_n_fft)):
            raise ValueError(f"{p}: istft_n_fft={self.istft_n_fft}, istft_hop={self.istft_hop}; expected istft_n_fft=0 "
                             "(waveform head) or an even istft_n_fft with 1 <= istft_hop <= istft_n_fft")
        head_hop = self.istft_hop if self.istft_n_fft else 1
        if math.prod(self.upsample_rates) * head_hop != self.hop_length:
            what = f" x istft_hop={head_hop}" if self.istft_n_fft else ""
            raise ValueError(f"{p}: upsample_rates={self.upsample_rates}{what} multiply to "
                             f"{math.prod(self.upsample_rates) * head_hop}, not hop_length={self.hop_length}; "
                             "expected their product to equal hop_length")
        if len(self.upsample_kernel_sizes) != len(self.upsample_rates):
            raise ValueError(f"{p}: upsample_kernel_sizes={self.upsample_kernel_sizes} and upsample_rates="
                             f"{self.upsample_rates} differ in length; expected one kernel per rate")
        bad = [(k, u) for k, u in zip(self.upsample_kernel_sizes, self.upsample_rates)
               if k < u or ((k - u) % 2 and u < 2)]
        if bad:
            raise ValueError(f"{p}: upsample_kernel_sizes={self.upsample_kernel_sizes} with upsample_rates="
                             f"{self.upsample_rates}: (kernel, rate) {bad}; expected kernel >= rate, and kernel - rate "
                             "even where rate is 1 (e.g. kernel = 2 * rate)")
        if self.upsample_initial_channel >> len(self.upsample_rates) < 1:
            raise ValueError(f"{p}.upsample_initial_channel={self.upsample_initial_channel} is halved "
                             f"{len(self.upsample_rates)} times (upsample_rates); expected >= "
                             f"{2 ** len(self.upsample_rates)}")
        if self.resblock not in self.RESBLOCKS:
            raise ValueError(f"{p}.resblock={self.resblock!r}; expected one of {', '.join(self.RESBLOCKS)}")
        if not self.resblock_kernel_sizes or len(self.resblock_dilation_sizes) != len(self.resblock_kernel_sizes):
            raise ValueError(f"{p}: resblock_kernel_sizes={self.resblock_kernel_sizes} and resblock_dilation_sizes="
                             f"{self.resblock_dilation_sizes}; expected one non-empty dilation list per kernel")
        for name in ("resblock_kernel_sizes",):
            if any(k < 1 or k % 2 == 0 for k in getattr(self, name)):
                raise ValueError(f"{p}.{name}={getattr(self, name)}; expected odd kernels >= 1")
        if any(not ds or any(d < 1 for d in ds) for ds in self.resblock_dilation_sizes):
            raise ValueError(f"{p}.resblock_dilation_sizes={self.resblock_dilation_sizes}; expected non-empty "
                             "lists of dilations >= 1")
        for name in ("pre_kernel_size", "post_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"{p}.{name}={k}; expected an odd kernel >= 1")


HIFIGAN_PRESETS: dict[str, dict] = {
    "v1": dict(upsample_initial_channel=512, upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               resblock="1", resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3),
    "v2": dict(upsample_initial_channel=128, upsample_rates=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4],
               resblock="1", resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5]] * 3),
    "v3": dict(upsample_initial_channel=256, upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
               resblock="2", resblock_kernel_sizes=[3, 5, 7], resblock_dilation_sizes=[[1, 2], [2, 6], [3, 12]]),
}
"""The published generator configurations (hop 256, 22.05 kHz): name -> :class:`HiFiGANConfig` fields."""


def factorize_hop(hop_length: int, n_stages: int) -> list[int]:
    """``hop_length`` as a product of ``n_stages`` factors >= 2, as even as possible (least sum of
    squared log-factors), largest first: ``factorize_hop(160, 4) == [5, 4, 4, 2]``.

    Raises:
        ValueError: no such factorization (e.g. a prime hop, or a hop below ``2 ** n_stages``).
    """
    hop_length, n_stages = int(hop_length), int(n_stages)
    if n_stages < 1:
        raise ValueError(f"factorize_hop: n_stages={n_stages}; expected >= 1")
    best: tuple[float, list[int]] | None = None

    def search(rest: int, k: int, cap: int, acc: list[int]) -> None:
        nonlocal best
        if k == 1:
            if 2 <= rest <= cap:
                cand = acc + [rest]
                score = sum(math.log(f) ** 2 for f in cand)
                if best is None or score < best[0] - 1e-12:
                    best = (score, cand)
            return
        for f in range(min(cap, rest), 1, -1):  # non-increasing factors: each tuple visited once
            if rest % f == 0 and rest // f >= 2 ** (k - 1):
                search(rest // f, k - 1, f, acc + [f])

    if hop_length >= 2 ** n_stages:
        search(hop_length, n_stages, hop_length, [])
    if best is None:
        raise ValueError(f"hop_length={hop_length} cannot be split into {n_stages} upsampling stages (upsample_rates) "
                         f"with factors >= 2; expected a hop with at least {n_stages} prime factors, e.g. 160, 200, 256")
    return best[1]


ISTFT_N_FFT, ISTFT_HOP = 16, 4
"""The inverse-STFT head of the ``-istft`` presets (iSTFTNet's C8C8I: two upsampling stages, then an
inverse STFT with a 16-point FFT and hop 4)."""


def hifigan_preset(name: str, hop_length: int = 256) -> HiFiGANConfig:
    """The published preset ``name`` ("v1" | "v2" | "v3") adapted to ``hop_length``, or its
    inverse-STFT variant ``name + "-istft"`` (e.g. "v3-istft").

    At hop 256 (the presets' own) the published rates and kernels are returned unchanged; any other
    hop is split over the same number of stages by :func:`factorize_hop` (largest factor first),
    with kernel ``2 * rate`` per stage. Channel and residual-block settings are the preset's.

    The ``-istft`` variants keep the first two upsampling stages (``hop / 4`` split over them: [8, 8]
    at hop 256, [8, 5] at 160) and replace the rest, with its residual blocks and the
    full-rate conv_post, by an inverse STFT (``n_fft`` 16, hop 4; see ``HiFiGANConfig.istft_n_fft``):
    the same input and output, fewer high-rate convolutions.

    Raises:
        ValueError: unknown ``name``, or a hop that cannot be factorized (see :func:`factorize_hop`).
    """
    key = str(name).strip().lower()
    base, istft = (key[: -len("-istft")], True) if key.endswith("-istft") else (key, False)
    if base not in HIFIGAN_PRESETS:
        names = [*HIFIGAN_PRESETS, *(f"{n}-istft" for n in HIFIGAN_PRESETS)]
        raise ValueError(f"hifigan_preset: unknown preset={name!r}; expected one of {', '.join(names)}")
    fields = {k: (list(v) if isinstance(v, list) else v) for k, v in HIFIGAN_PRESETS[base].items()}
    fields["resblock_dilation_sizes"] = [list(ds) for ds in fields["resblock_dilation_sizes"]]
    hop_length = int(hop_length)
    if istft:
        if hop_length % ISTFT_HOP:
            raise ValueError(f"hifigan_preset: {name!r} needs a hop_length divisible by {ISTFT_HOP} (its inverse-STFT "
                             f"hop), got {hop_length}")
        rates = fields["upsample_rates"][:2]
        if math.prod(rates) * ISTFT_HOP != hop_length:
            rates = factorize_hop(hop_length // ISTFT_HOP, 2)
            fields["upsample_kernel_sizes"] = [2 * u for u in rates]
        else:
            fields["upsample_kernel_sizes"] = fields["upsample_kernel_sizes"][:2]
        fields.update(upsample_rates=rates, istft_n_fft=ISTFT_N_FFT, istft_hop=ISTFT_HOP)
    elif math.prod(fields["upsample_rates"]) != hop_length:
        rates = factorize_hop(hop_length, len(fields["upsample_rates"]))
        fields["upsample_rates"] = rates
        fields["upsample_kernel_sizes"] = [2 * u for u in rates]
    return HiFiGANConfig(hop_length=hop_length, **fields)


# ----------------------------------------------------------------------------------------------
# Generator


class ResBlock1(nn.Module):
    """For each dilation ``d``: ``x = x + conv_1(lrelu(conv_d(lrelu(x))))`` (same length)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3, 5)):
        super().__init__()
        self.convs1 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations)
        self.convs2 = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=1, padding=_padding(kernel_size)))
            for _ in dilations)
        self.convs1.apply(_init_weights)
        self.convs2.apply(_init_weights)

    def forward(self, x: Tensor) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(F.leaky_relu(x, LRELU_SLOPE))
            xt = c2(F.leaky_relu(xt, LRELU_SLOPE))
            x = xt + x
        return x


class ResBlock2(nn.Module):
    """For each dilation ``d``: ``x = x + conv_d(lrelu(x))`` (same length)."""

    def __init__(self, channels: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 3)):
        super().__init__()
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv1d(channels, channels, kernel_size, 1, dilation=d, padding=_padding(kernel_size, d)))
            for d in dilations)
        self.convs.apply(_init_weights)

    def forward(self, x: Tensor) -> Tensor:
        for c in self.convs:
            x = c(F.leaky_relu(x, LRELU_SLOPE)) + x
        return x


class HiFiGANGenerator(nn.Module):
    """HiFi-GAN generator: ``(B, T, n_mels)`` log-mel -> ``(B, 1, T * hop)`` waveform in ``(-1, 1)``.

    Args:
        n_mels: mel bands of the input (``FbankConfig.n_mels``).
        cfg: the architecture (see :class:`HiFiGANConfig`, :func:`hifigan_preset`).

    Frame ``t`` maps to output samples ``[t * hop, (t + 1) * hop)`` (see the module docstring for
    what that means for training crops). Weight norm is on; call :meth:`remove_weight_norm` before
    inference.
    """

    def __init__(self, n_mels: int, cfg: HiFiGANConfig | None = None):
        super().__init__()
        cfg = HiFiGANConfig() if cfg is None else cfg
        if not isinstance(cfg, HiFiGANConfig):
            raise TypeError(f"HiFiGANGenerator: cfg must be a HiFiGANConfig, got {type(cfg).__name__}")
        if int(n_mels) < 1:
            raise ValueError(f"HiFiGANGenerator: n_mels={n_mels}; expected >= 1")
        self.cfg = cfg
        self.n_mels = int(n_mels)
        c0 = cfg.upsample_initial_channel
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.conv_pre = weight_norm(nn.Conv1d(self.n_mels, c0, cfg.pre_kernel_size, 1,
                                              padding=_padding(cfg.pre_kernel_size)))
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = c0
        for i, (u, k) in enumerate(zip(cfg.upsample_rates, cfg.upsample_kernel_sizes)):
            ch = c0 >> (i + 1)
            # (k - u) even: padding (k - u) / 2; odd (an odd rate with k = 2u): one more padding
            # sample on each side and one output_padding sample at the end. Either way: length x u.
            self.ups.append(weight_norm(nn.ConvTranspose1d(c0 >> i, ch, k, u, padding=(k - u + 1) // 2,
                                                           output_padding=(k - u) % 2)))
            for rk, rd in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes):
                self.resblocks.append(block(ch, rk, rd))
        out_ch = cfg.istft_n_fft + 2 if cfg.istft_n_fft else 1  # (n_fft/2 + 1) log-magnitudes + as many phases
        self.conv_post = weight_norm(nn.Conv1d(ch, out_ch, cfg.post_kernel_size, 1,
                                               padding=_padding(cfg.post_kernel_size)))
        if cfg.istft_n_fft:
            self.register_buffer("istft_window", torch.hann_window(cfg.istft_n_fft), persistent=False)
        self.ups.apply(_init_weights)
        self.conv_post.apply(_init_weights)

    @property
    def hop_length(self) -> int:
        """Output samples per input frame (the product of the upsampling rates)."""
        return self.cfg.hop_length

    def forward(self, mel: Tensor) -> Tensor:
        """``(B, T, n_mels)`` log-mel (the toolkit's layout, as :func:`speech.features.log_mel` and
        FastSpeech2 give it; the published code takes ``(B, n_mels, T)``) -> ``(B, 1, T * hop)``."""
        if mel.dim() != 3 or mel.shape[-1] != self.n_mels:
            raise ValueError(f"HiFiGANGenerator: mel has shape {tuple(mel.shape)}; expected (B, T, {self.n_mels})")
        x = self.conv_pre(mel.transpose(1, 2))
        nk = self.num_kernels
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            xs = self.resblocks[i * nk](x)
            for j in range(1, nk):
                xs = xs + self.resblocks[i * nk + j](x)
            x = xs / nk
        x = self.conv_post(F.leaky_relu(x))  # default slope 0.01 here, as in the published code
        if not self.cfg.istft_n_fft:
            return torch.tanh(x)
        return self._istft(x, mel.shape[1] * self.cfg.hop_length).unsqueeze(1)

    def _istft(self, x: Tensor, n_samples: int) -> Tensor:
        """(B, n_fft + 2, N) -> (B, n_samples): magnitudes ``exp`` of the first half (capped at e^8,
        so an early large output cannot overflow), phases ``pi * sin`` of the second (iSTFTNet)."""
        bins = self.cfg.istft_n_fft // 2 + 1
        mag = torch.exp(x[:, :bins].float().clamp(max=8.0))
        phase = math.pi * torch.sin(x[:, bins:].float())
        spec = torch.polar(mag, phase)
        return torch.istft(spec, self.cfg.istft_n_fft, self.cfg.istft_hop, self.cfg.istft_n_fft,
                           self.istft_window.float(), center=True, length=n_samples)

    def remove_weight_norm(self) -> "HiFiGANGenerator":
        """Fold every weight-norm parametrization into a plain weight (for inference; same outputs).
        Returns ``self``; a no-op where already removed."""
        _remove_parametrizations(self)
        return self

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"n_mels={self.n_mels}, hop={c.hop_length}, channels={c.upsample_initial_channel}, "
                f"upsample_rates={c.upsample_rates}, resblock={c.resblock!r}")


def _remove_parametrizations(module: nn.Module) -> None:
    for m in module.modules():
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)


def hifigan_config(preset: str = "v1", hop_length: int = 256, **overrides) -> HiFiGANConfig:
    """:func:`hifigan_preset` ``(preset, hop_length)`` with any :class:`HiFiGANConfig` fields in
    ``overrides`` replaced (e.g. ``upsample_initial_channel=32`` for a narrow test model); new
    ``upsample_rates`` without kernel sizes get kernels of twice the rate. An unknown field raises a
    TypeError naming it; invalid values a ValueError naming the fields. Builds nothing, so configs
    can be checked before training."""
    cfg = hifigan_preset(preset, hop_length)
    unknown = sorted(set(overrides) - {f.name for f in dataclasses.fields(HiFiGANConfig)})
    if unknown:
        raise TypeError(f"hifigan_generator: unknown field(s) {', '.join(unknown)}; valid fields: "
                        f"{', '.join(f.name for f in dataclasses.fields(HiFiGANConfig))}")
    if "upsample_rates" in overrides and "upsample_kernel_sizes" not in overrides:
        overrides["upsample_kernel_sizes"] = [2 * int(u) for u in overrides["upsample_rates"]]
    return HiFiGANConfig(**{**dataclasses.asdict(cfg), **overrides})


def hifigan_generator(n_mels: int, preset: str = "v1", hop_length: int = 256, **overrides) -> HiFiGANGenerator:
    """Factory (for Hydra): a generator of :func:`hifigan_config` ``(preset, hop_length, **overrides)``.

    ``n_mels`` / ``hop_length``: the feature config's ``FbankConfig.n_mels`` / ``hop_length``.
    """
    return HiFiGANGenerator(n_mels, hifigan_config(preset, hop_length, **overrides))


hifigan_generator.config_class = HiFiGANConfig  # the dataclass its keyword overrides are fields of


# ----------------------------------------------------------------------------------------------
# Discriminators


def _scaled(channels: int, scale: float) -> int:
    return max(1, int(round(channels * scale)))


class DiscriminatorP(nn.Module):
    """Period discriminator: ``(B, 1, N)`` -> reflect-pad to a multiple of ``period`` -> ``(B, 1, N/p, p)``
    -> 5 Conv2d (kernel (5, 1), stride (3, 1), the last stride 1; channels 32, 128, 512, 1024, 1024
    times ``channel_scale``) with leaky ReLU 0.1 -> conv_post (kernel (3, 1), 1 channel).

    Returns ``(score (B, n), feature_maps)`` with 6 feature maps (5 convs + conv_post).
    """

    CHANNELS = (32, 128, 512, 1024, 1024)

    def __init__(self, period: int, kernel_size: int = 5, stride: int = 3, channel_scale: float = 1.0,
                 use_spectral_norm: bool = False):
        super().__init__()
        if int(period) < 1:
            raise ValueError(f"DiscriminatorP: period={period}; expected >= 1")
        self.period = int(period)
        norm = spectral_norm if use_spectral_norm else weight_norm
        chans = [1] + [_scaled(c, channel_scale) for c in self.CHANNELS]
        strides = [stride] * (len(self.CHANNELS) - 1) + [1]
        self.convs = nn.ModuleList(
            norm(nn.Conv2d(cin, cout, (kernel_size, 1), (s, 1), padding=(_padding(kernel_size), 0)))
            for cin, cout, s in zip(chans[:-1], chans[1:], strides))
        self.conv_post = norm(nn.Conv2d(chans[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        b, c, n = y.shape
        if n % self.period:
            n_pad = self.period - n % self.period
            # reflect needs n_pad < n; a shorter input (only in tests) is padded by repetition
            y = F.pad(y, (0, n_pad), "reflect" if n_pad < n else "replicate")
            n = n + n_pad
        x = y.view(b, c, n // self.period, self.period)
        fmap = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiPeriodDiscriminator(nn.Module):
    """One :class:`DiscriminatorP` per period: ``(B, 1, N)`` -> ``(scores, feature_maps)``, lists
    with one entry per period (``feature_maps[i]``: that discriminator's 6 activations)."""

    def __init__(self, periods: Sequence[int] = (2, 3, 5, 7, 11), channel_scale: float = 1.0):
        super().__init__()
        self.periods = tuple(int(p) for p in periods)
        self.discriminators = nn.ModuleList(DiscriminatorP(p, channel_scale=channel_scale) for p in self.periods)

    def forward(self, y: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        _check_wave(y, type(self).__name__)
        scores, fmaps = [], []
        for d in self.discriminators:
            s, f = d(y)
            scores.append(s)
            fmaps.append(f)
        return scores, fmaps


class DiscriminatorS(nn.Module):
    """Scale discriminator (MelGAN's): grouped Conv1d stack with leaky ReLU 0.1 -> conv_post.

    Layers (in -> out channels, kernel, stride, groups; channels times ``channel_scale``, groups
    reduced to divide both channel counts): 1->128 k15 s1; 128->128 k41 s2 g4; 128->256 k41 s2 g16;
    256->512 k41 s4 g16; 512->1024 k41 s4 g16; 1024->1024 k41 s1 g16; 1024->1024 k5 s1; conv_post
    1024->1 k3. Returns ``(score (B, n), feature_maps)`` with 8 feature maps.
    """

    LAYERS = ((1, 128, 15, 1, 1), (128, 128, 41, 2, 4), (128, 256, 41, 2, 16), (256, 512, 41, 4, 16),
              (512, 1024, 41, 4, 16), (1024, 1024, 41, 1, 16), (1024, 1024, 5, 1, 1))

    def __init__(self, use_spectral_norm: bool = False, channel_scale: float = 1.0):
        super().__init__()
        norm = spectral_norm if use_spectral_norm else weight_norm
        convs = []
        for cin, cout, k, s, g in self.LAYERS:
            cin = 1 if cin == 1 else _scaled(cin, channel_scale)
            cout = _scaled(cout, channel_scale)
            convs.append(norm(nn.Conv1d(cin, cout, k, s, groups=math.gcd(g, cin, cout), padding=_padding(k))))
        self.convs = nn.ModuleList(convs)
        self.conv_post = norm(nn.Conv1d(cout, 1, 3, 1, padding=1))

    def forward(self, y: Tensor) -> tuple[Tensor, list[Tensor]]:
        fmap = []
        x = y
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LRELU_SLOPE)
            fmap.append(x)
        x = self.conv_post(x)
        fmap.append(x)
        return torch.flatten(x, 1, -1), fmap


class MultiScaleDiscriminator(nn.Module):
    """Three :class:`DiscriminatorS`: on the raw waveform (spectral norm), average-pooled x2 and x4
    (weight norm; ``AvgPool1d(4, 2, padding=2)`` applied once / twice). ``(B, 1, N)`` ->
    ``(scores, feature_maps)``, lists with one entry per scale."""

    def __init__(self, channel_scale: float = 1.0):
        super().__init__()
        self.discriminators = nn.ModuleList([
            DiscriminatorS(use_spectral_norm=True, channel_scale=channel_scale),
            DiscriminatorS(channel_scale=channel_scale),
            DiscriminatorS(channel_scale=channel_scale),
        ])
        self.meanpools = nn.ModuleList([nn.AvgPool1d(4, 2, padding=2), nn.AvgPool1d(4, 2, padding=2)])

    def forward(self, y: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        _check_wave(y, type(self).__name__)
        scores, fmaps = [], []
        for i, d in enumerate(self.discriminators):
            if i > 0:
                y = self.meanpools[i - 1](y)
            s, f = d(y)
            scores.append(s)
            fmaps.append(f)
        return scores, fmaps


def _check_wave(y: Tensor, who: str) -> None:
    if y.dim() != 3 or y.shape[1] != 1 or y.shape[-1] < 1:
        raise ValueError(f"{who}: waveform has shape {tuple(y.shape)}; expected (B, 1, N) with N >= 1")
