"""The CPU CTC path as it was before the one-pass gradient (commit 3ed14c3), for ``bench/ctc.py --baseline``.

The kernels of that commit, renamed and kept here only to measure before and after in one run (not
used by the toolkit): the blank/label log-probs gathered in label order into a (T, B, L + 1) table and
exponentiated by torch; the recursions as they were (separate row-sum and product loops); the
gradient computed eagerly in forward as ``torch.exp`` of the whole (T, B, C) input into a freshly
allocated tensor, the occupancies subtracted in a second pass; a (T, B, C) copy of a non-contiguous
(batch-first, transposed) input; a third pass in backward to scale by the incoming gradient unless
it is all ones. Left out: the log-space fallback for underflow (random inputs never need it; such an
utterance gets NaN here).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import get_thread_id, njit, prange

from speech.kernels.ctc.cpu import _FM, _TINY, _min_frames
from speech.kernels.ctc.functional import _prepare

_BUFFERS: dict[str, torch.Tensor] = {}  # the old workspace: emissions and scratch were reused, the gradient not


def _buffer(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    n = int(np.prod(shape))
    buf = _BUFFERS.get(name)
    if buf is None or buf.numel() < n:
        buf = _BUFFERS[name] = torch.empty(max(n, 1), dtype=torch.float64)
    return buf[:n].view(shape)


@njit(parallel=True, cache=True)
def _gather_emissions(lp, symbols, out):
    """out[t, b, j] = lp[t, b, symbols[b, j]] in label order (the old gather)."""
    T, B, _ = lp.shape
    J = symbols.shape[1]
    for t in prange(T):
        for b in range(B):
            for j in range(J):
                out[t, b, j] = lp[t, b, symbols[b, j]]


@njit(cache=True, fastmath=_FM)
def _forward_before(alpha, e, skip, Tb, S):
    """Fill alpha[1:Tb] from alpha[0]; returns the log of the scale divided out of alpha[Tb-1], or NaN on underflow.

    Each row is (prev[s] + prev[s-1] + skip[s] prev[s-2]) * e[t, s] divided by the previous row's
    sum. It is computed into a fresh local row and then copied into the table: LLVM cannot prove
    two rows of one table disjoint and would not vectorize a direct write.
    """
    W = S + 4  # must equal alpha.shape[1]: with the width known as S + 4, LLVM vectorizes the row loops
    row = np.zeros(W)
    sigma = alpha[0, 2] + alpha[0, 3]
    log_scale = 0.0
    for t in range(1, Tb):
        if not (sigma > 0.0 and sigma < np.inf):
            return np.nan
        log_scale += math.log(sigma)
        inv = 1.0 / sigma
        prev = alpha[t - 1]
        et = e[t]
        for s in range(2, S + 2):
            v = (prev[s] + prev[s - 1] + skip[s] * prev[s - 2]) * (et[s] * inv)
            row[s] = 0.0 if v <= _TINY else v
        sigma = 0.0
        for s in range(2, S + 2):
            sigma += row[s]
        alpha[t, :] = row
    return log_scale


@njit(cache=True, fastmath=_FM)
def _backward_before(alpha, e, skip, em, b, Tb, S):
    """Backward pass writing the occupancies of utterance ``b`` into em[:Tb, b]; False on underflow.

    beta_t(s) excludes the emission at t: sum over successors s' of e[t+1, s'] * beta_{t+1}(s'),
    kept up to a positive factor per row like alpha. Only one row is alive: the occupancies of
    frame t (alpha_t * beta_t normalised per frame) are written as soon as beta_t is known, while
    alpha_t is still warm in cache.
    """
    W = S + 4  # as in _forward: known widths let LLVM vectorize the row loops
    L = (S - 1) // 2
    beta = np.zeros(W)
    eb = np.zeros(W)
    prod = np.zeros(W)
    beta[S + 1] = 1.0
    beta[S] = 1.0 if S > 1 else 0.0
    for t in range(Tb - 1, -1, -1):
        if t < Tb - 1:  # beta_{t+1} -> beta_t, in place
            en = e[t + 1]
            dsum = 0.0
            for s in range(2, S + 2):
                v = en[s] * beta[s]
                eb[s] = v
                dsum += v
            if not (dsum > 0.0 and dsum < np.inf):
                return False
            inv = 1.0 / dsum
            for s in range(2, S + 2):
                v = (eb[s] + eb[s + 1] + skip[s + 2] * eb[s + 2]) * inv
                beta[s] = 0.0 if v <= _TINY else v
        at = alpha[t]
        for s in range(2, S + 2):
            prod[s] = at[s] * beta[s]
        z = 0.0
        for s in range(2, S + 2):
            z += prod[s]
        if not (z > 0.0 and z < np.inf):
            return False
        invz = 1.0 / z
        acc_blank = 0.0
        for i in range(L + 1):
            acc_blank += prod[2 * i + 2]
        em[t, b, 0] = acc_blank * invz
        for i in range(L):
            em[t, b, i + 1] = prod[2 * i + 3] * invz
    return True


@njit(cache=True, fastmath=_FM)
def _utterance_before(lp, norm, em, work, b, Tb, labels, blank, compute_grad):
    """Cost of utterance ``b`` (its first ``Tb`` frames, ``labels``). If asked, its occupancies
    replace its emission probabilities in ``em`` (em[t, b, 0]: blank, em[t, b, i + 1]: label i). ``work`` is a flat float64
    scratch of at least 2 * Tb * (2L + 5) entries: the emission table and the alpha table."""
    L = labels.shape[0]
    S = 2 * L + 1
    W = S + 4
    if Tb == 0:  # no frames: the empty label sequence has probability 1, anything else 0 (as torch)
        return 0.0 if L == 0 else np.inf
    if Tb < _min_frames(labels):
        return np.inf

    # emission probabilities of the extended labels (em[t, b, 0] is the blank, em[t, b, i + 1] label i)
    e = work[:Tb * W].reshape((Tb, W))
    alpha = work[Tb * W:2 * Tb * W].reshape((Tb, W))
    skip = np.zeros(W)
    for s in range(2, S):
        if s % 2 == 1 and labels[s // 2] != labels[s // 2 - 1]:
            skip[s + 2] = 1.0
    for t in range(Tb):
        pb = em[t, b, 0]
        pb = 0.0 if pb <= _TINY else pb  # NaN stays NaN
        for i in range(L):
            pl = em[t, b, i + 1]
            e[t, 2 * i + 2] = pb
            e[t, 2 * i + 3] = 0.0 if pl <= _TINY else pl
        e[t, 2 * L + 2] = pb
        e[t, 0] = e[t, 1] = e[t, W - 1] = 0.0
        alpha[t, 0] = alpha[t, 1] = alpha[t, W - 2] = alpha[t, W - 1] = 0.0

    # Forward. Row t holds alpha_t up to a positive factor: each row is computed from the previous
    # one divided by that row's sum, so no row over- or underflows; the log of the divisors adds up
    # to the log-likelihood's scale.
    alpha[0, 2:W - 2] = 0.0
    alpha[0, 2] = e[0, 2]
    if S > 1:
        alpha[0, 3] = e[0, 3]
    log_scale = _forward_before(alpha, e, skip, Tb, S)
    if log_scale != log_scale:
        return np.nan  # the log-space fallback is left out: random inputs never underflow
    end = alpha[Tb - 1, S + 1] + alpha[Tb - 1, S]
    if not (end > 0.0 and end < np.inf):
        return np.nan  # the log-space fallback is left out: random inputs never underflow
    cost = -(log_scale + math.log(end))
    if not compute_grad:
        return cost

    if not _backward_before(alpha, e, skip, em, b, Tb, S):
        return np.nan  # the log-space fallback is left out: random inputs never underflow
    return cost


@njit(parallel=True, cache=True)
def _ctc_cpu_before(lp, rows, norm, em, work, labels, offsets, input_lengths, target_lengths, blank, costs, grads, compute_grad):
    """Batched CTC on the CPU, written into ``costs`` and (if ``compute_grad``) ``grads``.

    Args:
        lp: (T, B, C) float32/float64 log-probs, or logits (then ``norm`` holds their logsumexp).
        norm: (T, B) float64 log-normaliser subtracted from ``lp`` (zeros for log-probs).
        em: (T, B, Lmax + 1) float64 emission probabilities exp(lp - norm) of the blank (index 0)
            and of each utterance's labels (index i + 1 for label i); overwritten with the
            occupancies when ``compute_grad``.
        work: (threads, >= 2 * T * (2 * Lmax + 5)) float64 scratch, one slab per numba thread
            (``numba.get_num_threads()``) so each thread's tables stay in its cache from one
            utterance to the next; contents ignored, reusable across calls.
        labels: (sum L,) int32 concatenated targets; offsets: (B,) int32 start of each utterance's labels.
        input_lengths, target_lengths: (B,) int32.
        costs: (B,) float64 output.
        grads: (T, B, C) of lp's dtype, holding exp(lp - norm) on entry; on exit the gradient
            (ignored unless ``compute_grad``).
    """
    T, B, C = lp.shape
    for b in prange(B):
        lab = labels[offsets[b]:offsets[b] + target_lengths[b]]
        Tb = np.int64(input_lengths[b])
        costs[b] = _utterance_before(rows, norm, em, work[get_thread_id()], b, Tb, lab, blank, compute_grad)
    if not compute_grad:
        return
    # Subtract the occupancies from the softmax in memory order (frame-major, like grads), so the
    # scattered label writes hit rows the prefetcher is already streaming.
    for t in prange(T):
        for b in range(B):
            if t >= input_lengths[b]:
                for c in range(C):
                    grads[t, b, c] = 0.0
            elif not (costs[b] < np.inf):  # inf or NaN: torch gives NaN gradients (zero_infinity is the caller's)
                for c in range(C):
                    grads[t, b, c] = np.nan
            else:
                grads[t, b, blank] -= em[t, b, 0]
                off = offsets[b]
                for i in range(target_lengths[b]):
                    grads[t, b, labels[off + i]] -= em[t, b, i + 1]


def _costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank):
    labels, offsets, in_lens, tgt_lens = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    lp = log_probs.detach().contiguous()
    T, B, C = lp.shape
    grads = torch.empty_like(lp)
    lmax = int(tgt_lens.max()) if B else 0
    symbols = torch.full((B, lmax + 1), int(blank), dtype=torch.int64)
    if lmax:
        mask = torch.arange(lmax).unsqueeze(0) < tgt_lens.unsqueeze(1).long()
        symbols[:, 1:][mask] = labels.long()
    em = _buffer("em", (T, B, lmax + 1))
    _gather_emissions(lp.numpy(), symbols.numpy(), em.numpy())
    em.exp_()
    work = _buffer("work", (numba.get_num_threads(), 2 * T * (2 * lmax + 5)))
    torch.exp(lp, out=grads)
    norm = torch.zeros(T, B, dtype=torch.float64)
    costs = np.empty(B, dtype=np.float64)
    _ctc_cpu_before(lp.numpy(), lp.view(T * B, C).numpy(), norm.numpy(), em.numpy(), work.numpy(), labels.numpy(),
                    offsets.numpy(), in_lens.numpy(), tgt_lens.numpy(), int(blank), costs, grads.numpy(), True)
    return torch.from_numpy(costs), grads


class _Before(torch.autograd.Function):
    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank):
        costs, ctx.grads = _costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank)
        return costs.to(log_probs.dtype)

    @staticmethod
    def backward(ctx, grad_costs):
        grads, ctx.grads = ctx.grads, None
        if not bool((grad_costs == 1).all()):
            grads.mul_(grad_costs.to(grads.dtype).view(1, -1, 1))
        return grads, None, None, None, None


def ctc_loss_before(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="sum"):
    """The old path with ``torch.nn.functional.ctc_loss``'s signature (reductions "none" and "sum")."""
    costs = _Before.apply(log_probs, targets, input_lengths, target_lengths, blank)
    return costs if reduction == "none" else costs.sum()
