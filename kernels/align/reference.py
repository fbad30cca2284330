"""Viterbi forced alignment over the CTC topology: the readable numpy ground truth.

Notation: one utterance has ``T`` frames (its input length), ``C`` symbols and ``L`` target labels
``l_1 .. l_L``; the extended labels ``l' = blank, l_1, blank, l_2, ..., l_L, blank`` have
``S = 2L + 1`` states, state ``s`` emitting ``l'_s`` (blank for even ``s``, ``l_{(s+1)/2}`` for odd).

A path visits one state per frame. It starts in state 0 or 1, ends in state S-1 or S-2, and from
frame to frame either stays (``s -> s``), advances by one (``s-1 -> s``) or skips a blank between
two *different* labels (``s-2 -> s``, only for odd ``s >= 3`` with ``l'_s != l'_{s-2}``). Its score
is the sum of the emitted log-probs. The best path needs at least ``L + (number of equal
neighbours in the target)`` frames; with fewer there is none (score ``-inf``).

Tie-breaking (shared bit for bit by every layer: the reference, the CPU and the CUDA kernel;
scores are accumulated in float64 in the same order everywhere):

- at each (frame, state) the best predecessor is the one with the largest score; on a tie
  *stay* wins over *advance*, which wins over *skip* (torchaudio's ``forced_align`` agrees,
  except that when advance and skip tie strictly above stay it keeps stay, a worse path);
- at the last frame the path ends in the final blank ``S-1`` only when it scores strictly more
  than the last label ``S-2`` (torchaudio's rule).

When no path has a finite score (too few frames, or ``-inf`` log-probs everywhere a path could
go) the utterance gets score ``-inf`` and state / symbol ``-1`` on every frame.
"""
from __future__ import annotations

import numpy as np


def extended_symbols(labels: np.ndarray, blank: int) -> np.ndarray:
    """labels (L,) -> the symbol emitted by each extended state (2L + 1,)."""
    ext = np.full(2 * len(labels) + 1, blank, dtype=np.int64)
    ext[1::2] = labels
    return ext


def viterbi_reference(log_probs: np.ndarray, labels, blank: int = 0) -> tuple[np.ndarray, float]:
    """Best CTC path of ONE utterance.

    Args:
        log_probs: (T, C) log-probabilities (any float dtype; accumulated in float64).
        labels: (L,) target labels, none equal to ``blank``.
    Returns:
        states: (T,) int64 extended-state index per frame (-1 everywhere when infeasible);
        score: float, the sum of ``log_probs[t, l'_{states[t]}]`` (``-inf`` when infeasible).
    """
    lp = np.asarray(log_probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    T = lp.shape[0]
    ext = extended_symbols(labels, blank)
    S = len(ext)
    if T == 0:
        return np.zeros(0, dtype=np.int64), (0.0 if S == 1 else -np.inf)
    # skip[s]: may state s be entered from s - 2?
    skip = np.zeros(S, dtype=bool)
    for s in range(3, S, 2):
        skip[s] = ext[s] != ext[s - 2]
    alpha = np.full(S, -np.inf)
    alpha[0] = lp[0, ext[0]]
    if S > 1:
        alpha[1] = lp[0, ext[1]]
    back = np.zeros((T, S), dtype=np.int8)  # 0 = stay, 1 = advance, 2 = skip
    for t in range(1, T):
        new = np.empty(S)
        for s in range(S):
            best, arg = alpha[s], 0
            if s >= 1 and alpha[s - 1] > best:
                best, arg = alpha[s - 1], 1
            if skip[s] and alpha[s - 2] > best:
                best, arg = alpha[s - 2], 2
            new[s] = best + lp[t, ext[s]]
            back[t, s] = arg
        alpha = new
    end = S - 1
    if S > 1 and not alpha[S - 1] > alpha[S - 2]:
        end = S - 2
    score = float(alpha[end])
    if not np.isfinite(score):
        return np.full(T, -1, dtype=np.int64), -np.inf
    states = np.empty(T, dtype=np.int64)
    s = end
    for t in range(T - 1, -1, -1):
        states[t] = s
        s -= int(back[t, s])
    return states, score


def align_reference(log_probs: np.ndarray, labels, offsets, input_lengths, target_lengths,
                    blank: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batched :func:`viterbi_reference`.

    Args:
        log_probs: (T, B, C); labels: concatenated targets (sum L,); offsets, input_lengths,
        target_lengths: (B,) (``labels[offsets[b]:offsets[b] + target_lengths[b]]`` is utterance b).
    Returns:
        states (B, T) int64, paths (B, T) int64 (emitted symbol per frame), scores (B,) float64;
        states and paths are -1 on frames ``>= input_lengths[b]`` and on infeasible utterances.
    """
    T, B, _ = log_probs.shape
    states = np.full((B, T), -1, dtype=np.int64)
    paths = np.full((B, T), -1, dtype=np.int64)
    scores = np.empty(B, dtype=np.float64)
    for b in range(B):
        lab = np.asarray(labels[offsets[b]:offsets[b] + target_lengths[b]], dtype=np.int64)
        Tb = int(input_lengths[b])
        st, sc = viterbi_reference(log_probs[:Tb, b], lab, blank)
        scores[b] = sc
        states[b, :Tb] = st
        ok = st >= 0
        paths[b, :Tb][ok] = extended_symbols(lab, blank)[st[ok]]
    return states, paths, scores
