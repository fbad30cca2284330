"""Greedy (best-path) CTC decoding."""
from __future__ import annotations

import torch

from speech.config import GE0, check_ranges


def ctc_greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) scores (log-probs or logits; only the argmax matters).
        lengths: (B,) valid frames.
    Returns: B lists of token ids.
    """
    best = log_probs.argmax(dim=-1)  # (B, T)
    b, t = best.shape
    if t == 0:
        return [[] for _ in range(b)]
    keep = torch.ones_like(best, dtype=torch.bool)
    keep[:, 1:] = best[:, 1:] != best[:, :-1]
    keep &= best != blank
    keep &= torch.arange(t, device=best.device).unsqueeze(0) < lengths.to(best.device).unsqueeze(1)
    best, keep = best.cpu(), keep.cpu()
    return [best[i][keep[i]].tolist() for i in range(b)]


class GreedyCTCDecoder:
    """Config-buildable wrapper (``decoding/greedy``): ``decoder(log_probs, lengths) -> ids per utterance``."""

    def __init__(self, blank: int = 0):
        check_ranges("decoding", {"blank": blank}, blank=GE0)
        self.blank = blank

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
        """log_probs: (B, T, V), lengths: (B,)."""
        return ctc_greedy_decode(log_probs, lengths, blank=self.blank)
