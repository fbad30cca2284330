"""Viterbi forced alignment over the CTC topology as a numba CPU kernel, parallel over the batch.

Same recursion, float64 accumulation order and tie-breaking as :mod:`speech.kernels.align.reference`
(so the results agree bit for bit): per utterance a max-plus forward pass over the ``S = 2L + 1``
extended states with an int8 backpointer table (Tb, S) (0 = stay, 1 = advance, 2 = skip), then a
backtrack from the better final state.

The score row is stored with two ``-inf`` pads in front (state s at index s + 2), and the "may skip"
rule is an additive mask (0 or -inf), so the inner loop over states has no bounds checks or
data-dependent branches and LLVM turns the three-way max into vector selects. The backpointer table
(Tb * S bytes) is allocated per utterance inside the per-utterance function, so each thread gets its
own and the memory is O(threads * T * S), not O(B * T * S).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _align_one(lp, b, Tb, labels, blank, states_out, paths_out):
    """Align utterance b (frames 0..Tb-1 of lp (T, B, C)); writes states_out/paths_out (Tb,); returns the score."""
    L = labels.shape[0]
    S = 2 * L + 1
    if Tb == 0:
        return 0.0 if L == 0 else -np.inf
    ext = np.empty(S, dtype=np.int64)
    mask = np.zeros(S, dtype=np.float64)  # 0 where s may be entered from s - 2, else -inf
    for s in range(S):
        ext[s] = blank if s % 2 == 0 else labels[s // 2]
        if s < 3 or s % 2 == 0 or labels[s // 2] == labels[s // 2 - 1]:
            mask[s] = -np.inf
    prev = np.full(S + 2, -np.inf)
    cur = np.full(S + 2, -np.inf)
    prev[2] = lp[0, b, ext[0]]
    if S > 1:
        prev[3] = lp[0, b, ext[1]]
    back = np.empty((Tb, S), dtype=np.int8)
    back[0, :] = 0
    em = np.empty(S, dtype=np.float64)
    for t in range(1, Tb):
        for s in range(S):
            em[s] = lp[t, b, ext[s]]
        bt = back[t]
        for s in range(S):
            a0 = prev[s + 2]
            a1 = prev[s + 1]
            a2 = prev[s] + mask[s]
            best = a0
            arg = 0
            if a1 > best:
                best = a1
                arg = 1
            if a2 > best:
                best = a2
                arg = 2
            cur[s + 2] = best + em[s]
            bt[s] = arg
        prev, cur = cur, prev
    end = S - 1
    if S > 1 and not prev[S + 1] > prev[S]:
        end = S - 2
    score = prev[end + 2]
    if not np.isfinite(score):
        return -np.inf
    s = end
    for t in range(Tb - 1, -1, -1):
        states_out[t] = s
        paths_out[t] = ext[s]
        s -= back[t, s]
    return score


@njit(parallel=True, cache=True)
def align_cpu(lp, labels, offsets, input_lengths, target_lengths, blank, states, paths, scores):
    """Best CTC paths of a batch.

    Args:
        lp: (T, B, C) float32/float64 log-probs; labels: (sum L,) int32 concatenated targets;
        offsets, input_lengths, target_lengths: (B,) int32; blank: int.
        states, paths: (B, T) int64 outputs (extended state / emitted symbol per frame, -1 past
        the input length and for infeasible utterances); scores: (B,) float64 output (-inf when
        no alignment exists).
    """
    B = lp.shape[1]
    for b in prange(B):
        Tb = input_lengths[b]
        states[b, :] = -1
        paths[b, :] = -1
        lab = labels[offsets[b]:offsets[b] + target_lengths[b]]
        sc = _align_one(lp, b, Tb, lab, blank, states[b], paths[b])
        if sc == -np.inf:
            states[b, :] = -1
            paths[b, :] = -1
        scores[b] = sc
