"""CTC forward-backward as a numba CPU kernel, parallel over the batch.

Each utterance is computed in *scaled linear space*: alpha and beta are plain probabilities,
rescaled to sum to one at every frame, with float64 accumulators. This removes every log/exp
from the recursions (the only transcendental work left is one ``exp`` per emission and one per
gradient entry), and the inner loops are branch-free and unit-stride, so LLVM vectorizes them.

Linear space underflows when the model is confidently wrong (emission probabilities below
~1e-308). A cheap per-utterance check (a zero or non-finite frame sum) then reruns that one
utterance in log space, which is exact but slower.

The recursions are *planar*: the 2L + 1 extended states are kept as two tables, the L + 1 blank
states and the L label states, each L + 2 wide with zero pads, so ``i - 1`` and ``i + 1`` are always
valid. Emissions arrive in the same order (blank, then the labels), so the recursions read them
where they are, with no interleaved copy and no strided loop. The two alpha tables (O(T * L)) live
in a caller-provided workspace with one slab per thread, reused across utterances and calls (fresh
multi-megabyte allocations cost more in page faults, and cold tables more in cache misses, than
the recursion itself); beta needs only one row because each frame's occupancies are written as
soon as its beta is known. Small per-row scratch is allocated inside the per-utterance function
(not in the ``prange`` body), so each thread gets its own.

Input layout: the (T, B, C) log-probs arrive as a C-contiguous (T * B, C) array of rows with row
``t * st + b * sb`` holding frame t of utterance b: (st, sb) = (B, 1) for a (T, B, C) tensor and
(1, T) for the (T, B, C) transpose of a batch-first (B, T, C) one, so neither needs a copy.

Three passes, each its own parallel kernel:

1. :func:`emissions` gathers each utterance's blank and label log-probs and exponentiates them
   (O(T * B * L), float64); :func:`log_normalizer` first gives the per-row logsumexp for logits.
2. :func:`ctc_cpu` runs the recursions per utterance and leaves the state occupancies in place of
   the emissions (the costs come out here; the forward pass of autograd stops here).
3. :func:`ctc_grad` (backward) writes the gradient in one pass over (T, B, C): each row is
   ``scale_b * exp(lp - norm)`` through the vectorized :func:`~speech.kernels.ctc.fastexp.fast_exp`,
   with the row's few occupancies subtracted while it is in L1. One read of the log-probs and one
   write of the gradient: the cost of a copy.

Gradient convention (torch's): ``grad[t, b, c] = exp(log_probs[t, b, c]) - gamma_t(c)``, the
gradient with respect to the logits when ``log_probs = log_softmax(logits)``; 0 for frames past
the input length; NaN for an utterance whose loss is infinite or NaN.
"""
from __future__ import annotations

import math

import numpy as np
from numba import get_thread_id, njit, prange

from speech.kernels.ctc.fastexp import fast_exp

# Fast-math flags without 'nnan' / 'ninf': NaN and inf must survive (NaN inputs give NaN losses,
# infeasible utterances give inf). 'reassoc' lets LLVM vectorize the sums.
_FM = {"nsz", "arcp", "contract", "afn", "reassoc"}
_NEG = -1e300  # finite stand-in for log(0) in the log-space fallback
# Values below this (relative to a row that sums to ~1, or as an emission probability) are flushed
# to zero. Left alone they decay through the subnormal range, where every multiply costs ~100x;
# they carry no weight unless later frames change the odds by more than e^640, and if all of a
# frame's mass is flushed the utterance falls back to the exact log-space computation.
_TINY = 1e-280
_LOG_TINY = math.log(_TINY)


@njit(cache=True, fastmath=_FM)
def _min_frames(labels):
    n = labels.shape[0]
    r = n
    for i in range(1, n):
        if labels[i] == labels[i - 1]:
            r += 1
    return r


@njit(cache=True)
def _lse2(a, b):
    if a < b:
        a, b = b, a
    if a <= _NEG:
        return _NEG
    return a + math.log1p(math.exp(b - a))


@njit(cache=True)
def _log_space(lp, st, sb, b, Tb, labels, blank, norm, em, compute_grad):
    """Exact log-space forward-backward for one utterance (the underflow fallback).

    ``lp`` holds the rows (see the module docstring), ``norm`` is the (T, B) log-normaliser;
    occupancies are written into ``em`` like :func:`_utterance`.
    """
    L = labels.shape[0]
    S = 2 * L + 1
    ext = np.empty(S, np.int64)
    for s in range(S):
        ext[s] = blank if s % 2 == 0 else labels[s // 2]
    la = np.full((Tb, S), _NEG)
    lb = np.full((Tb, S), _NEG)
    lem = np.empty((Tb, S))
    for t in range(Tb):
        if norm[t, b] != norm[t, b]:
            return np.nan
        for s in range(S):
            v = lp[t * st + b * sb, ext[s]] - norm[t, b]
            if v != v:  # NaN input: NaN loss, like torch
                return np.nan
            lem[t, s] = v if v > _NEG else _NEG
    la[0, 0] = lem[0, 0]
    if S > 1:
        la[0, 1] = lem[0, 1]
    for t in range(1, Tb):
        for s in range(S):
            v = la[t - 1, s]
            if s >= 1:
                v = _lse2(v, la[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                v = _lse2(v, la[t - 1, s - 2])
            la[t, s] = max(v + lem[t, s], _NEG)
    lb[Tb - 1, S - 1] = 0.0
    if S > 1:
        lb[Tb - 1, S - 2] = 0.0
    for t in range(Tb - 2, -1, -1):  # beta excludes the emission at t
        for s in range(S):
            v = lb[t + 1, s] + lem[t + 1, s]
            if s + 1 < S:
                v = _lse2(v, lb[t + 1, s + 1] + lem[t + 1, s + 1])
            if s + 2 < S and ext[s + 2] != blank and ext[s + 2] != ext[s]:
                v = _lse2(v, lb[t + 1, s + 2] + lem[t + 1, s + 2])
            lb[t, s] = max(v, _NEG)
    log_p = la[Tb - 1, S - 1]
    if S > 1:
        log_p = _lse2(log_p, la[Tb - 1, S - 2])
    if log_p <= _NEG * 0.5:
        return np.inf
    if compute_grad:
        for t in range(Tb):
            em[b, t, 0] = 0.0
            for s in range(S):
                occ = la[t, s] + lb[t, s] - log_p
                g = math.exp(occ) if occ > -745.0 else 0.0
                if s % 2 == 0:
                    em[b, t, 0] += g
                else:
                    em[b, t, s // 2 + 1] = g
    return -log_p


@njit(cache=True, fastmath=_FM)
def _forward(ab, al, em_b, sk, Tb, L):
    """Fill rows 1..Tb-1 of the planar alpha tables from row 0; returns the log of the scale divided
    out of the last row, or NaN on underflow.

    ``ab[t, i]``: blank state i (before label i; i = L is the final blank); ``al[t, j]``: label
    j - 1 (j = 1..L; columns 0 and L + 1 are zero pads, as is ``ab[t, L + 1]``). ``em_b[t]`` is
    the frame's emission row in the same indexing (0: blank, j: label j - 1), ``sk[j]`` 1.0 where
    label j - 1 may follow label j - 2 directly. Each row is divided by the previous row's sum so
    none over- or underflows. It is computed into local rows and then copied: LLVM cannot prove
    two rows of one table disjoint and would not vectorize a direct write.
    """
    K = L + 2
    nb = np.zeros(K)
    nl = np.zeros(K)
    sigma = 0.0
    for i in range(K):
        sigma += ab[0, i] + al[0, i]
    log_scale = 0.0
    for t in range(1, Tb):
        if not (sigma > 0.0 and sigma < np.inf):
            return np.nan
        log_scale += math.log(sigma)
        inv = 1.0 / sigma
        pab = ab[t - 1]
        pal = al[t - 1]
        e = em_b[t]
        pb = e[0] * inv
        sb = 0.0
        for i in range(L + 1):  # blank i: from itself and from label i - 1
            v = (pab[i] + pal[i]) * pb
            v = 0.0 if v <= _TINY else v
            nb[i] = v
            sb += v
        sl = 0.0
        for j in range(1, L + 1):  # label j - 1: from itself, the blank before it, and the label before that
            v = (pal[j] + pab[j - 1] + sk[j] * pal[j - 1]) * (e[j] * inv)
            v = 0.0 if v <= _TINY else v
            nl[j] = v
            sl += v
        cab = ab[t]
        cal = al[t]
        for i in range(K):
            cab[i] = nb[i]
            cal[i] = nl[i]
        sigma = sb + sl
    return log_scale


@njit(cache=True, fastmath=_FM)
def _backward(ab, al, em_b, sk, Tb, L):
    """Backward pass writing the occupancies over the emissions in ``em_b`` (same indexing); False on underflow.

    Only products ``e_{t+1} * beta_{t+1}`` (normalised per frame) are carried from one frame to the
    next: beta_t of a blank comes from itself and the label after it, of a label from itself, the
    blank after it and (``sk``) the next label. Frame t's occupancies (alpha_t * beta_t over their
    sum) are written as soon as beta_t is known, after its emissions were read.
    """
    K = L + 2
    ebb = np.zeros(K)
    ebl = np.zeros(K)
    bb = np.zeros(K)
    bl = np.zeros(K)
    bb[L] = 1.0
    if L > 0:
        bl[L] = 1.0
    dsum = 1.0
    for t in range(Tb - 1, -1, -1):
        if t < Tb - 1:
            inv = 1.0 / dsum
            for i in range(L + 1):
                v = (ebb[i] + ebl[i + 1]) * inv
                bb[i] = 0.0 if v <= _TINY else v
            for j in range(1, L + 1):
                v = (ebl[j] + ebb[j] + sk[j + 1] * ebl[j + 1]) * inv
                bl[j] = 0.0 if v <= _TINY else v
        e = em_b[t]
        cab = ab[t]
        cal = al[t]
        zb = 0.0
        zl = 0.0
        dsum = 0.0
        pb = e[0]
        for i in range(L + 1):
            v = bb[i]
            zb += cab[i] * v
            w = pb * v
            ebb[i] = w
            dsum += w
        for j in range(1, L + 1):
            v = bl[j]
            zl += cal[j] * v
            w = e[j] * v
            ebl[j] = w
            dsum += w
        z = zb + zl
        if not (z > 0.0 and z < np.inf):
            return False
        if t > 0 and not (dsum > 0.0 and dsum < np.inf):
            return False
        invz = 1.0 / z
        e[0] = zb * invz
        for j in range(1, L + 1):
            e[j] = cal[j] * bl[j] * invz
    return True


@njit(cache=True, fastmath=_FM)
def _utterance(lp, st, sb, norm, em, work, b, Tb, labels, blank, compute_grad):
    """Cost of utterance ``b`` (its first ``Tb`` frames, ``labels``). If asked, its occupancies
    replace its emission probabilities in ``em`` (em[b, t, 0]: blank, em[b, t, i + 1]: label i).
    ``work`` is a flat float64 scratch of at least 2 * Tb * (L + 2) entries: the two alpha tables.

    The recursions are *planar*: blank states and label states in two tables of L + 2 columns, so
    each reads ``em``'s rows as they are (blank first, then the labels in order) and every loop is
    unit-stride (the interleaved 2L + 1 layout needed a copy of the emissions and strided loops).
    """
    L = labels.shape[0]
    K = L + 2
    if Tb == 0:  # no frames: the empty label sequence has probability 1, anything else 0 (as torch)
        return 0.0 if L == 0 else np.inf
    if Tb < _min_frames(labels):
        return np.inf
    ab = work[:Tb * K].reshape((Tb, K))
    al = work[Tb * K:2 * Tb * K].reshape((Tb, K))
    sk = np.zeros(K + 1)
    for j in range(2, L + 1):
        if labels[j - 1] != labels[j - 2]:
            sk[j] = 1.0
    em_b = em[b]
    for i in range(K):
        ab[0, i] = 0.0
        al[0, i] = 0.0
    ab[0, 0] = em_b[0, 0]
    if L > 0:
        al[0, 1] = em_b[0, 1]
    # Forward. Row t holds alpha_t up to a positive factor; the log of the divisors adds up to the
    # log-likelihood's scale.
    log_scale = _forward(ab, al, em_b, sk, Tb, L)
    if log_scale != log_scale:
        return _log_space(lp, st, sb, b, Tb, labels, blank, norm, em, compute_grad)
    end = ab[Tb - 1, L] + al[Tb - 1, L]
    if not (end > 0.0 and end < np.inf):
        return _log_space(lp, st, sb, b, Tb, labels, blank, norm, em, compute_grad)
    cost = -(log_scale + math.log(end))
    if not compute_grad:
        return cost
    if not _backward(ab, al, em_b, sk, Tb, L):
        return _log_space(lp, st, sb, b, Tb, labels, blank, norm, em, compute_grad)
    return cost


@njit(inline="always", fastmath=_FM)
def _normalize_frame(lp, st, sb, norm, t):
    C = lp.shape[1]
    for b in range(norm.shape[1]):
        row = lp[t * st + b * sb]
        m = row[0]
        for c in range(1, C):
            m = max(m, row[c])
        # a NaN or inf logit, or an all -inf row, gives NaN (as log_softmax does: inf - inf)
        s = 0.0
        for c in range(C):
            s += np.float64(fast_exp(row[c] - m))
        norm[t, b] = np.float64(m) + math.log(s)


@njit(parallel=True, cache=True, fastmath=_FM)
def log_normalizer(lp, st, sb, norm):
    """norm[t, b] = logsumexp of row t * st + b * sb of ``lp`` (logits), in float64.

    One read of the logits, no (T, B, C) temporary (``torch.logsumexp`` makes one).
    """
    for t in prange(norm.shape[0]):
        _normalize_frame(lp, st, sb, norm, t)


@njit(cache=True, fastmath=_FM)
def log_normalizer_serial(lp, st, sb, norm):
    """:func:`log_normalizer` on the calling thread alone."""
    for t in range(norm.shape[0]):
        _normalize_frame(lp, st, sb, norm, t)


@njit(inline="always", fastmath=_FM)
def _emissions_frame(lp, st, sb, norm, symbols, order, em, t, x):
    B, T, J = em.shape
    for b in range(B):
        row = lp[t * st + b * sb]
        nb = row.dtype.type(norm[t, b])
        sym = symbols[b]
        o = order[b]
        for j in range(J):
            k = o[j]
            x[k] = row[sym[k]] - nb
        out = em[b, t]
        for j in range(J):  # in the input's precision: float32 inputs get 16-lane float32 exponentials
            v = np.float64(fast_exp(x[j]))
            out[j] = 0.0 if v <= _TINY else v  # NaN stays NaN
        for j in range(J):  # float32's exp stops at e^-87.3, the float64 recursions at _TINY (e^-644.7): a
            # label a confident model puts below e^-87 may still be on the best path, so redo it in float64
            if out[j] == 0.0 and x[j] > _LOG_TINY:
                out[j] = math.exp(np.float64(x[j]))


@njit(parallel=True, cache=True, fastmath=_FM)
def emissions(lp, st, sb, norm, symbols, order, em):
    """em[b, t, j] = exp(lp[row(t, b), symbols[b, j]] - norm[t, b]) in float64: each utterance's blank
    and label emission probabilities.

    lp: (T * B, C) rows; norm: (T, B) float64; symbols: (B, Lmax + 1) int64 (blank first, then the
    labels, padded with blank); order: (B, Lmax + 1) int64, each row of ``symbols`` sorted
    ascending (``symbols[b, order[b]]``); em: (B, T, Lmax + 1) float64 output (utterance-major, so
    the recursions read and write each utterance's table contiguously).

    A hundred labels out of a thousand classes touch nearly every cache line of a row, so this is
    a full read of ``lp``; reading each row in ascending column order lets the hardware prefetcher
    stream it (2.5x faster than label order on the (500, 64, 1000, 100) case).
    """
    for t in prange(em.shape[1]):
        _emissions_frame(lp, st, sb, norm, symbols, order, em, t, np.empty(em.shape[2], lp.dtype))


@njit(cache=True, fastmath=_FM)
def emissions_serial(lp, st, sb, norm, symbols, order, em):
    """:func:`emissions` on the calling thread alone."""
    x = np.empty(em.shape[2], lp.dtype)
    for t in range(em.shape[1]):
        _emissions_frame(lp, st, sb, norm, symbols, order, em, t, x)


@njit(parallel=True, cache=True)
def ctc_cpu(lp, st, sb, norm, em, work, labels, offsets, input_lengths, target_lengths, blank, costs, compute_grad):
    """Batched CTC costs on the CPU, written into ``costs``; with ``compute_grad`` the occupancies into ``em``.

    Args:
        lp: (T * B, C) float32/float64 rows of log-probs, or of logits (then ``norm`` holds their
            logsumexp); row ``t * st + b * sb`` is frame t of utterance b. Read only by the
            log-space fallback (the recursions read ``em``).
        norm: (T, B) float64 log-normaliser subtracted from ``lp`` (zeros for log-probs).
        em: (B, T, Lmax + 1) float64 emission probabilities exp(lp - norm) of the blank (index 0)
            and of each utterance's labels (index i + 1 for label i), from :func:`emissions`;
            overwritten with the occupancies when ``compute_grad`` (for :func:`ctc_grad`).
        work: (threads, >= 2 * T * (Lmax + 2)) float64 scratch, one slab per numba thread
            (``numba.get_num_threads()``) so each thread's tables stay in its cache from one
            utterance to the next; contents ignored, reusable across calls.
        labels: (sum L,) int32 concatenated targets; offsets: (B,) int32 start of each utterance's labels.
        input_lengths, target_lengths: (B,) int32.
        costs: (B,) float64 output.
    """
    for b in prange(costs.shape[0]):
        lab = labels[offsets[b]:offsets[b] + target_lengths[b]]
        costs[b] = _utterance(lp, st, sb, norm, em, work[get_thread_id()], b, np.int64(input_lengths[b]), lab, blank,
                              compute_grad)


@njit(cache=True)
def ctc_cpu_serial(lp, st, sb, norm, em, work, labels, offsets, input_lengths, target_lengths, blank, costs,
                   compute_grad):
    """:func:`ctc_cpu` on the calling thread alone (its scratch: ``work[0]``)."""
    for b in range(costs.shape[0]):
        lab = labels[offsets[b]:offsets[b] + target_lengths[b]]
        costs[b] = _utterance(lp, st, sb, norm, em, work[0], b, np.int64(input_lengths[b]), lab, blank, compute_grad)


@njit(inline="always", fastmath=_FM)
def _grad_row(lp, st, sb, norm, em, labels, offsets, input_lengths, target_lengths, blank, costs, scale,
              zero_infinity, out, r):
    T, B = norm.shape
    C = out.shape[1]
    if st >= sb:  # (T, B, C) layout: row r = t * B + b
        t, b = r // B, r % B
    else:  # transposed batch-first layout: row r = b * T + t
        b, t = r // T, r % T
    g = out[r]
    if t >= input_lengths[b] or (zero_infinity and costs[b] == np.inf):
        for c in range(C):
            g[c] = 0.0
        return
    if not (costs[b] < np.inf):  # inf or NaN: torch gives NaN gradients
        for c in range(C):
            g[c] = np.nan
        return
    x = lp[r]
    nb = x.dtype.type(norm[t, b])  # in the row's precision, so float32 rows stay 16 lanes wide
    s = scale[b]
    sx = x.dtype.type(s)
    for c in range(C):
        g[c] = sx * fast_exp(x[c] - nb)
    occ = em[b, t]
    g[blank] = g[blank] - s * occ[0]
    off = offsets[b]
    for i in range(target_lengths[b]):
        k = labels[off + i]
        g[k] = g[k] - s * occ[i + 1]


@njit(parallel=True, cache=True, fastmath=_FM)
def ctc_grad(lp, st, sb, norm, em, labels, offsets, input_lengths, target_lengths, blank, costs, scale,
             zero_infinity, out):
    """The gradient of sum_b scale[b] * cost_b with respect to ``lp``, in one pass, into ``out``.

    Row (t, b) of ``out`` (same row layout as ``lp``) is ``scale[b] * (exp(lp - norm[t, b]) - gamma_t)``
    for t < input_lengths[b]: the exponential of the whole row through the vectorized
    :func:`fast_exp`, then the few occupancies ``em[b, t]`` (from :func:`ctc_cpu`) subtracted at the
    blank and label columns while the row is in L1. Rows past the input length are 0; an utterance
    with an infinite cost gets 0 with ``zero_infinity``, else NaN (like a NaN cost), as torch does.
    The rows are visited in memory order (``t * st + b * sb`` over the flat row index).
    """
    for r in prange(out.shape[0]):
        _grad_row(lp, st, sb, norm, em, labels, offsets, input_lengths, target_lengths, blank, costs, scale,
                  zero_infinity, out, r)


@njit(cache=True, fastmath=_FM)
def ctc_grad_serial(lp, st, sb, norm, em, labels, offsets, input_lengths, target_lengths, blank, costs, scale,
                    zero_infinity, out):
    """:func:`ctc_grad` on the calling thread alone."""
    for r in range(out.shape[0]):
        _grad_row(lp, st, sb, norm, em, labels, offsets, input_lengths, target_lengths, blank, costs, scale,
                  zero_infinity, out, r)
