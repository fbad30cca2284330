"""Greedy (best-path) CTC decoding."""
from __future__ import annotations

import numpy as np

from speech.ranges import GE0, check_ranges


def as_numpy(x) -> np.ndarray:
    """A torch tensor (any device) or an array-like as a numpy array; torch itself is never imported
    here, so the decoders serve the torch-free runtime too."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach()
        if x.dtype.is_floating_point and x.dtype.itemsize < 4:  # float16 / bfloat16: numpy has no bfloat16
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def ctc_greedy_decode(log_probs, lengths, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: argmax per frame, merge repeats, drop blanks.

    Args:
        log_probs: (B, T, V) scores (log-probs or logits; only the argmax matters): a torch tensor or
            a numpy array.
        lengths: (B,) valid frames.
    Returns: B lists of token ids.
    """
    best = log_probs.argmax(-1)  # on the tensor's own device: only (B, T) ids come back
    best = as_numpy(best)
    b, t = best.shape
    if t == 0:
        return [[] for _ in range(b)]
    keep = np.ones_like(best, dtype=bool)
    keep[:, 1:] = best[:, 1:] != best[:, :-1]
    keep &= best != blank
    keep &= np.arange(t)[None, :] < as_numpy(lengths).reshape(-1, 1)
    return [best[i][keep[i]].tolist() for i in range(b)]


class GreedyCTCDecoder:
    """Config-buildable wrapper (``decoding/greedy``): ``decoder(log_probs, lengths) -> ids per utterance``."""

    def __init__(self, blank: int = 0):
        check_ranges("decoding", {"blank": blank}, blank=GE0)
        self.blank = blank

    def __call__(self, log_probs, lengths) -> list[list[int]]:
        """log_probs: (B, T, V), lengths: (B,)."""
        return ctc_greedy_decode(log_probs, lengths, blank=self.blank)
