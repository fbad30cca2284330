"""Frame-level cross-entropy on forced alignments (the second ASR training criterion)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from speech.config import FRACTION, GE0, check_ranges

IGNORE = -100
"""Frame label that contributes nothing (padding)."""


def frame_ce_loss(log_probs: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0,
                  reduction: str = "batchmean") -> torch.Tensor:
    """Cross-entropy between per-frame log-probs and per-frame labels.

    Args:
        log_probs: (B, T, V) log-softmax outputs.
        labels: (B, T) symbol per frame (the CTC blank included), ``IGNORE`` on padding.
        reduction: ``batchmean`` -> summed over frames, divided by B (as the CTC loss: one number per
            utterance, so data-parallel shards add up); ``mean`` -> per valid frame; ``none`` -> (B,).
    """
    b, t, v = log_probs.shape
    if labels.shape != (b, t):
        raise ValueError(f"frame labels have shape {tuple(labels.shape)}, expected (B, T) = {(b, t)}")
    per_frame = F.nll_loss(log_probs.reshape(b * t, v), labels.reshape(-1), ignore_index=IGNORE,
                           reduction="none").view(b, t)
    if label_smoothing > 0:
        valid = (labels != IGNORE).to(log_probs.dtype)
        smooth = -log_probs.mean(dim=-1) * valid
        per_frame = (1 - label_smoothing) * per_frame + label_smoothing * smooth
    per_utt = per_frame.sum(dim=1)
    if reduction == "none":
        return per_utt
    if reduction == "batchmean":
        return per_utt.sum() / max(b, 1)
    if reduction == "mean":
        return per_utt.sum() / (labels != IGNORE).sum().clamp(min=1)
    raise ValueError(f"loss.reduction must be batchmean, mean or none, got {reduction!r}")


class FrameCELoss(nn.Module):
    """Module form of :func:`frame_ce_loss` (config ``loss/ce``)."""

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "batchmean", blank: int = 0):
        super().__init__()
        check_ranges("loss", {"label_smoothing": label_smoothing, "blank": blank}, label_smoothing=FRACTION, blank=GE0)
        self.label_smoothing, self.reduction, self.blank = label_smoothing, reduction, blank

    def forward(self, log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log_probs: (B, T, V); labels: (B, T) with IGNORE on padding."""
        return frame_ce_loss(log_probs, labels, self.label_smoothing, self.reduction)
