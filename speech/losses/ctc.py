"""Connectionist Temporal Classification loss with a switchable implementation.

``impl="torch"`` uses ``torch.nn.functional.ctc_loss``; ``impl="numba"`` the toolkit's own
kernels (``speech.kernels.ctc``: CPU and CUDA, same values and gradients, several times faster
on the CPU). With ``impl="numba"`` on the CPU, :class:`CTCLoss`'s batch-first log-probs are read
in place (no transposed copy), the gradient is written in one pass already scaled by the
reduction, into a buffer reused from step to step (never while a previous step's gradient is
still referenced); the thread count is the trainer's (``trainer.num_threads`` sets torch's and
numba's together). Further implementations register in :data:`CTC_IMPLS` under their name.
All take torch's conventions: ``log_probs`` (T, B, C), targets padded (B, S) or concatenated
(sum(target_lengths),), lengths (B,).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from speech.config import GE0, check_ranges
from speech.kernels.ctc import ctc_loss as numba_ctc_loss

REDUCTIONS = ("none", "sum", "mean", "batchmean")


def _torch_ctc(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    return F.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank=blank, reduction="none", zero_infinity=zero_infinity
    )


def _numba_ctc(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    # numba compiles (or loads from its cache) the kernel on its first call, not at import
    return numba_ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=blank, reduction="none",
                          zero_infinity=zero_infinity)


CTC_IMPLS: dict[str, Callable[..., torch.Tensor]] = {"torch": _torch_ctc, "numba": _numba_ctc}
"""name -> function(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity) -> per-utterance loss (B,)."""


def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    impl: str = "torch",
) -> torch.Tensor:
    """CTC negative log-likelihood.

    Args:
        log_probs: (T, B, C) log-softmax outputs.
        targets: (B, S) padded or (sum(target_lengths),) concatenated label ids (never ``blank``).
        input_lengths: (B,) valid frames per utterance.
        target_lengths: (B,) labels per utterance.
        reduction: ``none`` -> (B,); ``sum``; ``mean`` -> torch's (each loss divided by its
            target length, then averaged); ``batchmean`` -> sum / B (the per-utterance mean used
            for training: it keeps gradients of data-parallel shards additive).
        impl: a key of :data:`CTC_IMPLS`.
    """
    if impl not in CTC_IMPLS:
        raise ValueError(f"loss.impl: unknown CTC implementation {impl!r}; expected one of {sorted(CTC_IMPLS)}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"loss.reduction: unknown reduction {reduction!r}; expected one of {REDUCTIONS}")
    losses = CTC_IMPLS[impl](log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "batchmean":
        return losses.sum() / max(losses.numel(), 1)
    return (losses / target_lengths.to(losses.dtype).clamp(min=1)).mean()


class CTCLoss(nn.Module):
    """Module wrapper over :func:`ctc_loss` taking batch-first log-probs (B, T, C)."""

    def __init__(self, blank: int = 0, reduction: str = "batchmean", zero_infinity: bool = True, impl: str = "torch"):
        super().__init__()
        if impl not in CTC_IMPLS:
            raise ValueError(f"loss.impl: unknown CTC implementation {impl!r}; expected one of {sorted(CTC_IMPLS)}")
        check_ranges("loss", {"blank": blank}, blank=GE0)
        self.blank, self.reduction, self.zero_infinity, self.impl = blank, reduction, zero_infinity, impl

    def forward(self, log_probs, log_prob_lens, targets, target_lens) -> torch.Tensor:
        """log_probs: (B, T, C), log_prob_lens: (B,), targets: (B, S) padded, target_lens: (B,)."""
        return ctc_loss(
            log_probs.transpose(0, 1), targets, log_prob_lens, target_lens,
            blank=self.blank, reduction=self.reduction, zero_infinity=self.zero_infinity, impl=self.impl,
        )
