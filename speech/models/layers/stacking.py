"""Frame stacking: concatenate ``factor`` neighbouring frames and keep one in ``factor``."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from speech.models.layers.masks import subsample_lengths


class FrameStacking(nn.Module):
    """Stack ``factor`` consecutive frames into one, reducing the frame rate by ``factor``.

    A cheap way to cut the recurrent layers' sequence length (and so their time and memory)
    without a learned layer: (B, T, F) -> (B, ceil(T / factor), F * factor). The last group of an
    utterance is zero-padded.
    """

    def __init__(self, factor: int):
        super().__init__()
        if factor < 1:
            raise ValueError(f"frame stacking factor must be >= 1, got {factor}")
        self.factor = factor

    def forward(self, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, T, F), x_lens: (B,) -> ((B, T', F*factor), (B,)) with T' = ceil(T / factor)."""
        if self.factor == 1:
            return x, x_lens
        b, t, f = x.shape
        pad = (-t) % self.factor
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
        x = x.reshape(b, (t + pad) // self.factor, f * self.factor)
        return x, subsample_lengths(x_lens, self.factor)
