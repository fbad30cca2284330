"""SpecAugment frequency and time masking (no time warping), vectorised over the batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["SpecAugment", "SpecAugmentConfig", "spec_augment_masks"]


@dataclass
class SpecAugmentConfig:
    """Masking settings; every mask width is drawn uniformly from ``0..max`` (inclusive)."""

    # Number of frequency masks per utterance (0 disables frequency masking).
    freq_masks: int = 2
    # Maximum width of one frequency mask, in feature bins.
    freq_width: int = 15
    # Number of time masks per utterance (0 disables time masking).
    time_masks: int = 2
    # Maximum width of one time mask: a fraction of the utterance's valid length when < 1
    # (0.05 -> 5 % of its frames), otherwise a number of frames.
    time_width: float = 0.05
    # Upper bound (frames) on one time mask's width, whatever time_width gives.
    max_time_width: int = 40

    def __post_init__(self) -> None:
        for name in ("freq_masks", "freq_width", "time_masks", "time_width", "max_time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"SpecAugmentConfig.{name}={getattr(self, name)}; expected >= 0")


def _uniform_int(high: Tensor) -> Tensor:
    """Integers uniform in ``0..high`` (inclusive), elementwise; ``high`` int64 on CPU."""
    u = torch.rand(high.shape, dtype=torch.float64)  # global CPU RNG; float64 so u * (h + 1) < h + 1
    return torch.minimum((u * (high + 1).to(torch.float64)).floor().long(), high)


def _bands(starts: Tensor, widths: Tensor, size: int) -> Tensor:
    """(B, M) starts/widths -> (B, size) bool, True inside any of the M bands."""
    idx = torch.arange(size)
    inside = (idx >= starts[..., None]) & (idx < (starts + widths)[..., None])  # (B, M, size)
    return inside.any(dim=1)


def spec_augment_masks(cfg: SpecAugmentConfig, x_lens: Tensor, num_frames: int,
                       num_features: int) -> tuple[Tensor, Tensor]:
    """Draw SpecAugment masks from the global CPU RNG.

    Args:
        cfg: mask counts and widths.
        x_lens: ``(B,)`` valid frames per utterance (any device).
        num_frames: padded length ``T``.
        num_features: ``F``.

    Returns:
        ``(time_mask (B, T), freq_mask (B, F))`` bool CPU tensors; True means masked. Time masks lie
        inside ``[0, x_lens[b])``. Draws come from the CPU generator whatever the data's device, so
        a seed (or a restored ``torch.get_rng_state()``) gives the same masks on CPU and GPU.
    """
    lens = x_lens.detach().to("cpu", torch.long).clamp(0, num_frames)
    b = lens.shape[0]

    fw = torch.full((b, cfg.freq_masks), min(int(cfg.freq_width), num_features), dtype=torch.long)
    f_widths = _uniform_int(fw)
    f_starts = _uniform_int(num_features - f_widths)
    freq_mask = _bands(f_starts, f_widths, num_features)

    if cfg.time_width < 1:
        t_max = (lens.to(torch.float64) * cfg.time_width).floor().long()
    else:
        t_max = torch.full_like(lens, int(cfg.time_width))
    t_max = torch.minimum(t_max.clamp_max(int(cfg.max_time_width)), lens)
    t_max = t_max[:, None].expand(b, cfg.time_masks)
    t_widths = _uniform_int(t_max)
    t_starts = _uniform_int(lens[:, None] - t_widths)
    time_mask = _bands(t_starts, t_widths, num_frames)
    return time_mask, freq_mask


class SpecAugment(nn.Module):
    """Frequency and time masking for ``(B, T, F)`` features; the identity in eval mode.

    Masked values are set to 0.0 (the mean after global CMVN). Returns a new tensor; the input is
    never modified.
    """

    def __init__(self, cfg: SpecAugmentConfig):
        super().__init__()
        self.cfg = cfg

    def forward(self, x: Tensor, x_lens: Tensor | None = None) -> Tensor:
        """
        Args:
            x: features ``(B, T, F)``.
            x_lens: ``(B,)`` valid frames per utterance (None: all ``T``); time masks stay inside.

        Returns:
            ``(B, T, F)`` masked features (``x`` itself when not training).
        """
        if not self.training:
            return x
        if x.dim() != 3:
            raise ValueError(f"SpecAugment: expected x of shape (B, T, F), got {tuple(x.shape)}")
        b, t, f = x.shape
        if x_lens is None:
            x_lens = torch.full((b,), t, dtype=torch.long)
        time_mask, freq_mask = spec_augment_masks(self.cfg, x_lens, t, f)
        mask = time_mask[:, :, None] | freq_mask[:, None, :]  # (B, T, F)
        return x.masked_fill(mask.to(x.device, non_blocking=True), 0.0)

    def extra_repr(self) -> str:
        c = self.cfg
        return (f"freq_masks={c.freq_masks}, freq_width={c.freq_width}, time_masks={c.time_masks}, "
                f"time_width={c.time_width}, max_time_width={c.max_time_width}")
