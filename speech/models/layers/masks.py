"""Length and mask helpers for padded batches."""
from __future__ import annotations

import torch


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Boolean mask (B, T) that is True on valid frames.

    Args:
        lengths: (B,) integer lengths.
        max_len: T; defaults to ``lengths.max()``.
    """
    if max_len is None:
        max_len = int(lengths.max()) if lengths.numel() else 0
    steps = torch.arange(max_len, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def subsample_lengths(lengths: torch.Tensor, factor: int) -> torch.Tensor:
    """Lengths after grouping every ``factor`` frames into one (a partial group counts): ceil(T / factor)."""
    if factor == 1:
        return lengths
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor")
