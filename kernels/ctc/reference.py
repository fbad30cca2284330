"""Readable numpy reference for CTC: log-space forward-backward, one utterance at a time.

This is the ground truth the fast kernels are tested against; it favours clarity over speed.
Conventions follow ``torch.nn.functional.ctc_loss``: the gradient returned is
``exp(log_probs) - gamma`` (the gradient with respect to the logits when ``log_probs`` came from
``log_softmax``), zero on frames past an utterance's input length, NaN when the loss is infinite.
"""
from __future__ import annotations

import numpy as np

NEG_INF = -np.inf


def _logaddexp(*xs: float) -> float:
    m = max(xs)
    if m == NEG_INF:
        return NEG_INF
    return m + np.log(sum(np.exp(x - m) for x in xs))


def extended_labels(labels: np.ndarray, blank: int) -> np.ndarray:
    """blank, l1, blank, l2, ..., lL, blank  (length 2L + 1)."""
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    return ext


def min_frames(labels: np.ndarray) -> int:
    """Fewest frames that can emit ``labels``: one per label plus one blank between equal neighbours."""
    labels = np.asarray(labels)
    return int(len(labels) + np.count_nonzero(labels[1:] == labels[:-1]))


def ctc_utterance(lp: np.ndarray, labels: np.ndarray, blank: int) -> tuple[float, np.ndarray]:
    """One utterance. lp: (T, C) log-probs of its valid frames; labels: (L,). -> (cost, grad (T, C))."""
    T, C = lp.shape
    ext = extended_labels(np.asarray(labels, dtype=np.int64), blank)
    S = len(ext)
    grad = np.zeros((T, C))
    if np.isnan(lp[:, ext]).any():  # NaN elsewhere only reaches that gradient entry, as in torch
        return float("nan"), np.full((T, C), np.nan)
    if T == 0:  # the empty label sequence has probability 1 over no frames, anything else 0
        return (0.0 if len(labels) == 0 else float("inf")), grad
    if T < min_frames(labels):
        return float("inf"), np.full((T, C), np.nan)

    def can_skip(s: int) -> bool:
        return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]

    log_alpha = np.full((T, S), NEG_INF)
    log_alpha[0, 0] = lp[0, ext[0]]
    if S > 1:
        log_alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, T):
        for s in range(S):
            terms = [log_alpha[t - 1, s]]
            if s >= 1:
                terms.append(log_alpha[t - 1, s - 1])
            if can_skip(s):
                terms.append(log_alpha[t - 1, s - 2])
            log_alpha[t, s] = _logaddexp(*terms) + lp[t, ext[s]]

    log_beta = np.full((T, S), NEG_INF)  # includes the emission at t, like alpha
    log_beta[T - 1, S - 1] = lp[T - 1, ext[S - 1]]
    if S > 1:
        log_beta[T - 1, S - 2] = lp[T - 1, ext[S - 2]]
    for t in range(T - 2, -1, -1):
        for s in range(S):
            terms = [log_beta[t + 1, s]]
            if s + 1 < S:
                terms.append(log_beta[t + 1, s + 1])
            if s + 2 < S and can_skip(s + 2):
                terms.append(log_beta[t + 1, s + 2])
            log_beta[t, s] = _logaddexp(*terms) + lp[t, ext[s]]

    ends = [log_alpha[T - 1, S - 1]] + ([log_alpha[T - 1, S - 2]] if S > 1 else [])
    log_p = _logaddexp(*ends)
    if log_p == NEG_INF:
        return float("inf"), np.full((T, C), np.nan)
    # alpha * beta counts the emission at t twice: divide it out once.
    for t in range(T):
        for c in range(C):
            grad[t, c] = np.exp(lp[t, c])
        for s in range(S):
            occ = log_alpha[t, s] + log_beta[t, s] - lp[t, ext[s]] - log_p
            if occ > NEG_INF:
                grad[t, ext[s]] -= np.exp(occ)
    return -log_p, grad


def ctc_reference(log_probs, targets, input_lengths, target_lengths, blank: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Batched reference. log_probs (T, B, C); targets padded (B, S) or concatenated (sum L,).

    Returns costs (B,) float64 and grads (T, B, C) float64.
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    T, B, C = lp.shape
    targets = np.asarray(targets)
    input_lengths = np.asarray(input_lengths)
    target_lengths = np.asarray(target_lengths)
    costs = np.zeros(B)
    grads = np.zeros((T, B, C))
    offset = 0
    for b in range(B):
        L = int(target_lengths[b])
        if targets.ndim == 2:
            labels = targets[b, :L]
        else:
            labels = targets[offset:offset + L]
            offset += L
        Tb = int(input_lengths[b])
        costs[b], grads[:Tb, b] = ctc_utterance(lp[:Tb, b], labels, blank)
    return costs, grads
