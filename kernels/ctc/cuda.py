"""CTC loss and gradient as numba CUDA kernels (scaled linear space, log-space fallback).

Imported lazily by the dispatcher, only for CUDA tensors. The same code runs under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported), which is what CI tests;
only warp-size-independent features are used (shared memory + ``syncthreads``, no warp shuffles,
which the simulator lacks), and the simulator gets smaller blocks.

Notation: ``T, B, C`` = frames, batch, alphabet; utterance b has ``Tb = input_lengths[b]`` frames
and ``L`` labels; the extended labels ``l' = blank, l1, blank, ..., lL, blank`` have ``S = 2L + 1``
states; ``Lmax`` = max over the batch of L, ``Smax = 2 * Lmax + 1``.

Four kernels run in order on one stream:

1. ``_prep_kernel``, one block per (t, b) row: the log-normaliser ``lse[t, b]`` (``from_logits``
   only) and the emission probabilities ``E[b, t, s] = exp(lp[t, b, l'_s] - lse[t, b])``; the
   row t = 0 also links equal labels of utterance b (for the gradient kernel).
2. ``_ab_kernel`` (specialised on K, NT), one block of NT threads per utterance; thread i owns
   the K consecutive states ``s = i*K .. i*K + K - 1`` and keeps them in registers. Alpha runs
   forward and beta backward over the frames with ONE ``syncthreads`` per frame: a thread
   publishes its partial sum and its two edge states to double-buffered shared memory, and the
   next frame reads the two neighbouring states and all NT partial sums from there. Every frame
   is rescaled by its sum (every thread sums the partials in the same order, so all agree on the
   scale bit for bit). It stores the unnormalised products ``alpha_t(s) * beta_t(s)`` and their
   per-frame sums ``Z_t``; gamma_t(s) = prod / Z_t, since all scale constants cancel.
   Utterances whose scale sums hit 0 or non-finite values (underflow, NaN inputs) are flagged.
3. ``_logspace_kernel``, one block per utterance, returns at once unless flagged: exact
   log-space forward-backward that overwrites the cost, the products (as normalised gamma) and
   ``Z_t = 1``.
4. ``_grad_kernel`` (only with ``grads``), one block per (t, b) row: ``exp(lp - lse)`` for all c,
   then the label columns are rewritten as ``exp(lp - lse) - gamma`` (blank: a block reduction
   over the even states; a repeated label: summed along the links of step 1), each column by
   exactly one thread, so the result is deterministic (no atomics).

Workspace layout, float64: ``W`` and ``E`` (B, T, SP) with ``SP = K * NT >= Smax``, state s
stored at ``(s % K) * NT + s // K`` so that the per-thread register blocks load coalesced;
``Z`` (B, T); ``lse`` (T, B); ``flags`` (B,); ``links`` (B, max(Lmax, 1), 2).

Kernels are compiled on first use per (dtype, K, NT) and cached on disk (``cache=True``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, cuda, float32, float64

_SIM = bool(config.ENABLE_CUDASIM)

# Threads per block for the row kernels (prep, gradient) and the log-space fallback; powers of two
# (tree reductions). The simulator runs every thread as a Python thread: keep blocks tiny there.
_NT_ROW = 8 if _SIM else 128
_NT_LOG = 4 if _SIM else 128
# Row kernels loop over rows with a grid stride; this caps their grid.
_ROW_GRID = 2 if _SIM else 65536
# Recursion kernel layout: NT = a multiple of _LANES threads, K (a power of two, 2.._MAX_K) states
# per thread. K = 8: the five K-wide register arrays of the beta pass fit in registers (~220 per
# thread on sm_90, no spills; K = 16 spills).
_LANES = 4 if _SIM else 32
_MAX_K = 8
# At K = 8, NT = 256 threads fit the 64K-register file; longer targets (L > 1023) run entirely in
# the (exact but slower) log-space kernel.
_MAX_NT = 256

_INF = math.inf
_NAN = math.nan


def _layout(s_max: int) -> tuple[int, int, bool]:
    """(K, NT, linear): the recursion kernel runs NT threads (a multiple of _LANES) with K states
    each, K * NT >= s_max. linear=False (too many states): skip it, the log-space kernel does all,
    with K = 1 and NT = s_max (the identity layout)."""
    nt = _LANES * -(-s_max // (_LANES * _MAX_K))
    if nt > _MAX_NT:
        return 1, s_max, False
    k = 2
    while k * nt < s_max:
        k *= 2
    return k, nt, True


def workspace_size(T: int, B: int, max_target_length: int) -> int:
    """Number of float64 elements of the workspace ``ctc_cuda`` needs for these sizes."""
    k, nt, _ = _layout(2 * max_target_length + 1)
    t = max(T, 1)
    return 2 * B * t * k * nt + 2 * B * t + B + 2 * B * max(max_target_length, 1)


# ----------------------------------------------------------------------------------------------
# device helpers


@cuda.jit(device=True)
def _pos(s, K, NT):
    """Storage index of state s in a W / E row (see the module docstring)."""
    return (s % K) * NT + s // K


@cuda.jit(device=True)
def _clamp_len(n, T):
    """An input length clamped to [0, T] (never index outside the arrays)."""
    if n < 0:
        return 0
    if n > T:
        return T
    return n


@cuda.jit(device=True)
def _sym(labels, off, blank, s):
    """Symbol of extended state s: blank for even s, label (s - 1) / 2 for odd s."""
    if s % 2 == 0:
        return blank
    return labels[off + (s - 1) // 2]


@cuda.jit(device=True)
def _can_skip(labels, off, S, s):
    """True when alpha may jump from state s - 2 to s: s is a label different from label s - 2."""
    if s < 3 or s >= S or s % 2 == 0:
        return False
    return labels[off + (s - 1) // 2] != labels[off + (s - 3) // 2]


@cuda.jit(device=True)
def _sum_row(part, p, n):
    """part[p, 0] + ... + part[p, n - 1] (n a multiple of 4) with four accumulators (a short
    dependency chain); the order is fixed, so every thread gets the same bits."""
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    for j in range(0, n, 4):
        s0 += part[p, j]
        s1 += part[p, j + 1]
        s2 += part[p, j + 2]
        s3 += part[p, j + 3]
    return (s0 + s1) + (s2 + s3)


@cuda.jit(device=True)
def _lse3(x, y, z):
    """log(exp(x) + exp(y) + exp(z)), propagating NaN; -inf when all are -inf."""
    m = x
    if y > m:
        m = y
    if z > m:
        m = z
    if m == -_INF:
        return x + y + z  # -inf, or NaN when one of them is NaN
    return m + math.log(math.exp(x - m) + math.exp(y - m) + math.exp(z - m))


@cuda.jit(device=True)
def _block_sum(red, v):
    """Sum of v over the block (blockDim.x == red.shape[0], a power of two); all threads get it."""
    tid = cuda.threadIdx.x
    red[tid] = v
    cuda.syncthreads()
    h = red.shape[0] // 2
    while h > 0:
        if tid < h:
            red[tid] += red[tid + h]
        cuda.syncthreads()
        h //= 2
    r = red[0]
    cuda.syncthreads()  # red may be reused right after
    return r


@cuda.jit(device=True)
def _block_max(red, v):
    """Max of v over the block, ignoring NaN (callers catch NaN in the following sum)."""
    tid = cuda.threadIdx.x
    red[tid] = v
    cuda.syncthreads()
    h = red.shape[0] // 2
    while h > 0:
        if tid < h:
            if red[tid + h] > red[tid]:
                red[tid] = red[tid + h]
        cuda.syncthreads()
        h //= 2
    r = red[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def _lse_push(m, acc, x):
    """Online log-sum-exp: fold x into the running (max m, sum acc of exp(. - m)); NaN propagates."""
    if x > m:
        acc = acc * math.exp(m - x) + 1.0
        m = x
    elif not x == -_INF:
        acc += math.exp(x - m)  # NaN x (or m) makes acc NaN
    return m, acc


@cuda.jit(device=True)
def _block_lse(red_m, red_s, m, acc):
    """log(sum over the block of acc * exp(m)) from per-thread online pairs (m, acc); a tree over
    blockDim.x == red_m.shape[0] (a power of two) threads. NaN when every value is -inf or NaN."""
    tid = cuda.threadIdx.x
    red_m[tid] = m
    red_s[tid] = acc
    cuda.syncthreads()
    h = red_m.shape[0] // 2
    while h > 0:
        if tid < h:
            m1 = red_m[tid]
            s1 = red_s[tid]
            m2 = red_m[tid + h]
            s2 = red_s[tid + h]
            if m2 > m1:
                m1, s1, m2, s2 = m2, s2, m1, s1
            if m1 > -_INF:
                s1 = s1 + s2 * math.exp(m2 - m1)  # m2 == -inf: adds 0 (or NaN when s2 is NaN)
            else:
                s1 = s1 + s2
            red_m[tid] = m1
            red_s[tid] = s1
        cuda.syncthreads()
        h //= 2
    m = red_m[0]
    acc = red_s[0]
    cuda.syncthreads()
    if m > -_INF:
        return m + math.log(acc)
    return _NAN


# ----------------------------------------------------------------------------------------------
# 1. emissions, log-normaliser, label links


@cuda.jit(cache=True)
def _prep_kernel(lp, labels, offs, in_lens, tg_lens, blank, from_logits, lmax, K, NT, E, lse_ws, links):
    """One block (_NT_ROW threads) per (t, b) row, grid-stride.

    lp (T, B, C); E (B, T, SP) <- exp(lp[t, b, l'_s] - lse) at _pos(s), 0 for s >= S;
    lse_ws (T, B) <- logsumexp_c lp[t, b, :] (from_logits only); links (B, Lmax', 2) <- for label i
    of utterance b: [index of the next equal label or -1, 1 if no earlier label is equal else 0].
    Rows t >= Tb are skipped (nothing reads them).
    """
    T = lp.shape[0]
    B = lp.shape[1]
    C = lp.shape[2]
    tid = cuda.threadIdx.x
    nth = cuda.blockDim.x
    red_m = cuda.shared.array(_NT_ROW, float64)
    red_s = cuda.shared.array(_NT_ROW, float64)
    SP = K * NT
    for r in range(cuda.blockIdx.x, T * B, cuda.gridDim.x):
        t = r // B
        b = r - t * B
        Tb = _clamp_len(in_lens[b], T)
        L = tg_lens[b]
        if t >= Tb or L < 0 or L > lmax:  # uniform over the block
            continue
        off = offs[b]
        S = 2 * L + 1
        lse = 0.0
        if from_logits:
            m = -_INF
            acc = 0.0
            for c in range(tid, C, nth):
                m, acc = _lse_push(m, acc, float(lp[t, b, c]))
            lse = _block_lse(red_m, red_s, m, acc)
            if tid == 0:
                lse_ws[t, b] = lse
        for j in range(tid, SP, nth):
            s = (j % NT) * K + j // NT
            if s < S:
                E[b, t, j] = math.exp(lp[t, b, _sym(labels, off, blank, s)] - lse)
            else:
                E[b, t, j] = 0.0
        if t == 0:
            for i in range(tid, L, nth):
                li = labels[off + i]
                first = 1.0
                for j in range(i):
                    if labels[off + j] == li:
                        first = 0.0
                        break
                nxt = -1
                for j in range(i + 1, L):
                    if labels[off + j] == li:
                        nxt = j
                        break
                links[b, i, 0] = nxt
                links[b, i, 1] = first


# ----------------------------------------------------------------------------------------------
# 2. scaled linear-space alpha / beta


def _make_ab_kernel(K: int, NT: int):
    """The recursion kernel for K states per thread and NT threads (both compile-time constants)."""
    NT2 = NT + 2  # shared array shapes must be literal constants

    @cuda.jit(cache=True)
    def ab_kernel(E, W, Z, labels, offs, in_lens, tg_lens, lmax, want_grad, costs, flags):
        """One block of NT threads per utterance b (grid = B).

        E (B, T, SP) emissions (read); W (B, T, SP) <- alpha_t(s) * beta_t(s) (unnormalised, at
        _pos(s)); Z (B, T) <- sum_s W[b, t, :]; costs (B,) <- -log p; flags (B,) <- 1 when the
        log-space fallback must redo the utterance, else 0.
        """
        B = E.shape[0]
        T = E.shape[1]
        tid = cuda.threadIdx.x
        b = cuda.blockIdx.x
        # double-buffered [frame parity] partial sums and edge states (slot i + 1 for thread i;
        # slots 0 and NT + 1 stay zero: the missing neighbours of the first and last thread)
        part = cuda.shared.array((2, NT), float64)
        partz = cuda.shared.array((2, NT), float64)
        edge = cuda.shared.array((2, NT2, 2), float64)
        fin = cuda.shared.array(2, float64)
        a = cuda.local.array(K, float64)   # alpha (registers), later alpha re-read for beta
        an = cuda.local.array(K, float64)  # prefetched alpha of the next beta frame
        ev = cuda.local.array(K, float64)  # emissions of the current frame
        en = cuda.local.array(K, float64)  # prefetched emissions of the next frame
        g = cuda.local.array(K, float64)   # beta including the emission of its frame
        if b >= B:
            return
        Tb = _clamp_len(in_lens[b], T)
        L = tg_lens[b]
        if L < 0 or L > lmax:  # inconsistent with max_target_length: refuse, never write out of bounds
            if tid == 0:
                costs[b] = _NAN
                flags[b] = 0.0
            return
        off = offs[b]
        S = 2 * L + 1
        s0 = tid * K

        # feasibility: L frames plus one per pair of equal neighbours
        rep = 0.0
        for i in range(tid + 1, L, NT):
            if labels[off + i] == labels[off + i - 1]:
                rep += 1.0
        part[0, tid] = rep
        cuda.syncthreads()
        req = L + _sum_row(part, 0, NT)
        cuda.syncthreads()
        if Tb == 0 or Tb < req:
            if tid == 0:
                costs[b] = 0.0 if Tb >= req else _INF  # Tb == 0 and L == 0: empty alignment, p = 1
                flags[b] = 0.0
            return

        # skip bits: bit k of skm  <=> alpha may jump s-2 -> s   for s = s0 + k;
        #            bit k of sk2  <=> beta may jump s+2 -> s    (i.e. alpha may jump s -> s+2)
        skm = 0
        sk2 = 0
        for k in range(K):
            if _can_skip(labels, off, S, s0 + k):
                skm |= 1 << k
            if _can_skip(labels, off, S, s0 + k + 2):
                sk2 |= 1 << k
        if tid == 0:
            for q in range(2):
                edge[q, 0, 0] = 0.0
                edge[q, 0, 1] = 0.0
                edge[q, NT + 1, 0] = 0.0
                edge[q, NT + 1, 1] = 0.0

        # ---- alpha, frame 0: a_0(s) = e_0(s) for s < 2
        psum = 0.0
        for k in range(K):
            ev[k] = E[b, 0, k * NT + tid]
            v = ev[k] if s0 + k < 2 else 0.0
            a[k] = v
            psum += v
            if want_grad:
                W[b, 0, k * NT + tid] = v
        part[0, tid] = psum
        edge[0, tid + 1, 0] = a[K - 2]
        edge[0, tid + 1, 1] = a[K - 1]
        if Tb > 1:
            for k in range(K):
                en[k] = E[b, 1, k * NT + tid]
        cuda.syncthreads()

        # ---- alpha, frames 1 .. Tb-1:
        #   a_t(s) = (a_{t-1}(s) + a_{t-1}(s-1) + skip(s) a_{t-1}(s-2)) / c_{t-1} * e_t(s),  c_t = sum_s a_t(s),
        # a_t unnormalised (a_t / c_t is the true alpha_t divided by prod_{t' < t} c_t'), so
        #   log p = sum_{t < Tb-1} log c_t + log(a_{Tb-1}(S-1) + a_{Tb-1}(S-2)).
        ll = 0.0
        bad = False
        for t in range(1, Tb):
            p = (t - 1) & 1
            q = t & 1
            c = _sum_row(part, p, NT)  # same order in every thread: the same c everywhere
            if not (c > 0.0 and c < _INF):  # underflow / overflow / NaN: uniform over the block
                bad = True
                break
            ll += math.log(c)
            # divide rather than multiply by 1 / c: c may be subnormal, where 1 / c overflows to inf
            # (x <= c, so x / c never does)
            l2 = edge[p, tid, 0]  # a_{t-1}(s0 - 2)
            l1 = edge[p, tid, 1]  # a_{t-1}(s0 - 1)
            for k in range(K):
                ev[k] = en[k]
            if t + 1 < Tb:
                for k in range(K):
                    en[k] = E[b, t + 1, k * NT + tid]
            psum = 0.0
            for kk in range(K):  # right to left: a[k-1], a[k-2] still hold frame t-1
                k = K - 1 - kk
                if k >= 2:
                    m1 = a[k - 1]
                    m2 = a[k - 2]
                elif k == 1:
                    m1 = a[0]
                    m2 = l1
                else:
                    m1 = l1
                    m2 = l2
                x = a[k] + m1
                if (skm >> k) & 1:
                    x += m2
                v = x / c * ev[k]
                a[k] = v
                psum += v
                if want_grad:
                    W[b, t, k * NT + tid] = v
            part[q, tid] = psum
            edge[q, tid + 1, 0] = a[K - 2]
            edge[q, tid + 1, 1] = a[K - 1]
            cuda.syncthreads()

        if not bad:
            # the final states S-1 and S-2 live in (at most two) threads: share them
            for k in range(K):
                s = s0 + k
                if s == S - 1:
                    fin[1] = a[k]
                    if L == 0:
                        fin[0] = 0.0
                elif s == S - 2:
                    fin[0] = a[k]
            cuda.syncthreads()
            pfin = fin[0] + fin[1]
            if pfin > 0.0 and pfin < _INF:
                ll += math.log(pfin)
            else:
                bad = True

        zbad = False
        if want_grad and not bad:
            # ---- beta, frame Tb-1: beta(s) = 1 on the two final states. g = e * beta (beta including
            # the emission), prod = a * beta; both unnormalised.
            q = (Tb - 1) & 1
            pg = 0.0
            pz = 0.0
            for k in range(K):
                s = s0 + k
                bh = 1.0 if (s == S - 1 or (L > 0 and s == S - 2)) else 0.0
                pr = a[k] * bh
                W[b, Tb - 1, k * NT + tid] = pr
                pz += pr
                g[k] = ev[k] * bh
                pg += g[k]
            part[q, tid] = pg
            partz[q, tid] = pz
            edge[q, tid + 1, 0] = g[0]
            edge[q, tid + 1, 1] = g[1]
            if Tb > 1:
                for k in range(K):
                    en[k] = E[b, Tb - 2, k * NT + tid]
                    an[k] = W[b, Tb - 2, k * NT + tid]  # alpha_{Tb-2}, written by this thread
            cuda.syncthreads()

            # ---- beta, frames Tb-2 .. 0: beta_t(s) = (g_{t+1}(s) + g_{t+1}(s+1) + skip g_{t+1}(s+2)) / d_{t+1},
            # d_{t+1} = sum_s g_{t+1}(s) (any per-frame constant works: it cancels in prod / Z_t).
            for tt in range(1, Tb):
                t = Tb - 1 - tt
                p = (t + 1) & 1
                q = t & 1
                d = _sum_row(part, p, NT)
                if not (d > 0.0 and d < _INF):
                    bad = True
                    break
                if tid == 0:
                    z = _sum_row(partz, p, NT)
                    Z[b, t + 1] = z
                    if not (z > 0.0 and z < _INF):
                        zbad = True
                r1 = edge[p, tid + 2, 0]  # g_{t+1}(s0 + K)
                r2 = edge[p, tid + 2, 1]  # g_{t+1}(s0 + K + 1)
                for k in range(K):
                    ev[k] = en[k]
                    a[k] = an[k]
                if t >= 1:
                    for k in range(K):
                        en[k] = E[b, t - 1, k * NT + tid]
                        an[k] = W[b, t - 1, k * NT + tid]
                pg = 0.0
                pz = 0.0
                for k in range(K):  # left to right: g[k+1], g[k+2] still hold frame t+1
                    if k + 2 < K:
                        m1 = g[k + 1]
                        m2 = g[k + 2]
                    elif k + 2 == K:
                        m1 = g[k + 1]
                        m2 = r1
                    else:
                        m1 = r1
                        m2 = r2
                    x = g[k] + m1
                    if (sk2 >> k) & 1:
                        x += m2
                    bh = x / d  # not x * (1 / d): d may be subnormal (see the forward pass)
                    pr = a[k] * bh
                    W[b, t, k * NT + tid] = pr
                    pz += pr
                    gv = ev[k] * bh
                    g[k] = gv
                    pg += gv
                part[q, tid] = pg
                partz[q, tid] = pz
                edge[q, tid + 1, 0] = g[0]
                edge[q, tid + 1, 1] = g[1]
                cuda.syncthreads()
            if not bad and tid == 0:
                z = _sum_row(partz, 0, NT)
                Z[b, 0] = z
                if not (z > 0.0 and z < _INF):
                    zbad = True

        if tid == 0:
            if bad or zbad:
                flags[b] = 1.0
                costs[b] = _NAN  # the fallback overwrites it
            else:
                flags[b] = 0.0
                costs[b] = -ll

    return ab_kernel


_AB_KERNELS: dict = {}


def _ab_kernel(K: int, NT: int):
    kern = _AB_KERNELS.get((K, NT))
    if kern is None:
        kern = _AB_KERNELS[(K, NT)] = _make_ab_kernel(K, NT)
    return kern


# ----------------------------------------------------------------------------------------------
# 3. log-space fallback


@cuda.jit(device=True)
def _lpe(lp, lse_ws, from_logits, t, b, labels, off, blank, s):
    """Normalised log-probability of extended state s at frame t of utterance b."""
    v = float(lp[t, b, _sym(labels, off, blank, s)])
    if from_logits:
        v -= lse_ws[t, b]
    return v


@cuda.jit(cache=True)
def _logspace_kernel(lp, lse_ws, labels, offs, in_lens, tg_lens, blank, from_logits, lmax, K, NT, want_grad,
                     force, W, E, Z, costs, flags):
    """One block (_NT_LOG threads) per utterance (grid = B); only flagged utterances do anything
    (all of them with ``force``, used when the targets are too long for the recursion kernel).

    Log alpha rows go to W[b], log beta (excluding the emission of its frame) to E[b]; then
    W[b, t, :] <- gamma_t(s) = exp(log alpha + log beta - log Z_t), Z[b, t] <- 1, and the cost.
    """
    T = lp.shape[0]
    B = lp.shape[1]
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nth = cuda.blockDim.x
    red = cuda.shared.array(_NT_LOG, float64)
    if b >= B:
        return
    if not force:
        if flags[b] == 0.0:
            return
    Tb = _clamp_len(in_lens[b], T)
    L = tg_lens[b]
    off = offs[b]
    S = 2 * L + 1
    if L < 0 or L > lmax or Tb == 0:  # (only reachable with force)
        if tid == 0:
            costs[b] = _NAN if (L < 0 or L > lmax) else (0.0 if L == 0 else _INF)
        return
    for t in range(Tb):
        for s in range(tid, S, nth):
            e = _lpe(lp, lse_ws, from_logits, t, b, labels, off, blank, s)
            if t == 0:
                v = e if s < 2 else -_INF
            else:
                x = W[b, t - 1, _pos(s, K, NT)]
                y = W[b, t - 1, _pos(s - 1, K, NT)] if s >= 1 else -_INF
                z = W[b, t - 1, _pos(s - 2, K, NT)] if _can_skip(labels, off, S, s) else -_INF
                v = e + _lse3(x, y, z)
            W[b, t, _pos(s, K, NT)] = v
        cuda.syncthreads()
    x = W[b, Tb - 1, _pos(S - 1, K, NT)]
    y = W[b, Tb - 1, _pos(S - 2, K, NT)] if L > 0 else -_INF
    ll = _lse3(x, y, -_INF)
    if tid == 0:
        costs[b] = -ll
    if not want_grad or not (ll > -_INF and ll < _INF):  # uniform; the gradient kernel writes NaN rows
        return
    for tt in range(Tb):
        t = Tb - 1 - tt
        mloc = -_INF
        for s in range(tid, S, nth):
            if t == Tb - 1:
                v = 0.0 if (s == S - 1 or (L > 0 and s == S - 2)) else -_INF
            else:
                x = E[b, t + 1, _pos(s, K, NT)] + _lpe(lp, lse_ws, from_logits, t + 1, b, labels, off, blank, s)
                y = -_INF
                if s + 1 < S:
                    y = E[b, t + 1, _pos(s + 1, K, NT)] + _lpe(lp, lse_ws, from_logits, t + 1, b, labels, off,
                                                              blank, s + 1)
                z = -_INF
                if _can_skip(labels, off, S, s + 2):
                    z = E[b, t + 1, _pos(s + 2, K, NT)] + _lpe(lp, lse_ws, from_logits, t + 1, b, labels, off,
                                                              blank, s + 2)
                v = _lse3(x, y, z)
            E[b, t, _pos(s, K, NT)] = v
            w = W[b, t, _pos(s, K, NT)] + v
            if w > mloc:
                mloc = w
        m = _block_max(red, mloc)  # its syncs also publish row t of E for frame t - 1
        acc = 0.0
        for s in range(tid, S, nth):
            w = W[b, t, _pos(s, K, NT)] + E[b, t, _pos(s, K, NT)]
            acc += math.exp(w - m) if m > -_INF else w
        acc = _block_sum(red, acc)
        logz = m + math.log(acc) if m > -_INF else acc
        for s in range(tid, S, nth):
            w = W[b, t, _pos(s, K, NT)] + E[b, t, _pos(s, K, NT)]
            W[b, t, _pos(s, K, NT)] = math.exp(w - logz)
        if tid == 0:
            Z[b, t] = 1.0


# ----------------------------------------------------------------------------------------------
# 4. gradient


def _make_grad_kernel(cast):
    """The gradient kernel; ``cast`` (numba.float32 / float64) is the type of the bulk exp(lp - lse)."""

    @cuda.jit(cache=True)
    def grad_kernel(lp, lse_ws, labels, offs, in_lens, tg_lens, blank, from_logits, K, NT, W, Z, links, costs,
                    grads):
        """One block (_NT_ROW threads) per (t, b) row, grid-stride. grads (T, B, C) <- 0 for t >= Tb,
        NaN when costs[b] is not finite, else exp(lp - lse) - gamma_t(c)."""
        T = lp.shape[0]
        B = lp.shape[1]
        C = lp.shape[2]
        tid = cuda.threadIdx.x
        nth = cuda.blockDim.x
        red = cuda.shared.array((2, _NT_ROW), float64)  # [parity of the row] partial blank sums
        SP = K * NT
        par = 0
        for r in range(cuda.blockIdx.x, T * B, cuda.gridDim.x):
            t = r // B
            b = r - t * B
            Tb = _clamp_len(in_lens[b], T)
            if t >= Tb:
                for c in range(tid, C, nth):
                    grads[t, b, c] = 0.0
                continue
            cost = costs[b]
            if not (cost > -_INF and cost < _INF):
                for c in range(tid, C, nth):
                    grads[t, b, c] = _NAN
                continue
            lse = lse_ws[t, b] if from_logits else 0.0
            lse_c = cast(lse)
            # phase 1: the softmax, in the input precision
            for c in range(tid, C, nth):
                grads[t, b, c] = math.exp(lp[t, b, c] - lse_c)
            L = tg_lens[b]
            S = 2 * L + 1
            off = offs[b]
            z = Z[b, t]  # the sums below are divided by it, not multiplied by 1 / z: z may be subnormal
            acc = 0.0
            for j in range(tid, SP, nth):
                s = (j % NT) * K + j // NT
                if s < S and s % 2 == 0:
                    acc += W[b, t, j]
            red[par, tid] = acc
            # orders the phase-1 writes before the rewrites below and publishes the partial sums.
            # red is double-buffered by the parity of the rows that reach this point, so no second
            # barrier is needed before the next row overwrites it.
            cuda.syncthreads()
            # phase 2: label columns, each written by exactly one thread, in float64
            if tid == 0:
                s0 = 0.0
                s1 = 0.0
                for j in range(0, nth, 2):  # two accumulators: shorter dependency chain
                    s0 += red[par, j]
                    s1 += red[par, j + 1]
                grads[t, b, blank] = math.exp(lp[t, b, blank] - lse) - (s0 + s1) / z
            for i in range(tid, L, nth):
                if links[b, i, 1] != 0.0:  # first occurrence of this symbol: sum along its links
                    gs = 0.0
                    j = i
                    while j >= 0:
                        gs += W[b, t, _pos(2 * j + 1, K, NT)]
                        j = int(links[b, j, 0])
                    sym = labels[off + i]
                    grads[t, b, sym] = math.exp(lp[t, b, sym] - lse) - gs / z
            par = 1 - par

    return grad_kernel


_GRAD_KERNELS: dict = {}


def _grad_kernel(dtype):
    key = np.dtype(dtype).str
    kern = _GRAD_KERNELS.get(key)
    if kern is None:
        cast = float32 if np.dtype(dtype) == np.float32 else float64
        kern = _GRAD_KERNELS[key] = _make_grad_kernel(cast)
    return kern


# ----------------------------------------------------------------------------------------------
# host entry point


def _dev(x, name):
    """A numba device array (or the simulator's stand-in) for x; no copy."""
    if hasattr(x, "copy_to_host") and hasattr(x, "shape"):
        return x
    if not _SIM and cuda.is_cuda_array(x):
        return cuda.as_cuda_array(x)
    raise TypeError(f"ctc_cuda: {name} must be a CUDA array (numba device array or __cuda_array_interface__), "
                    f"got {type(x).__name__}")


def ctc_cuda(log_probs, labels, label_offsets, input_lengths, target_lengths, blank: int, costs, grads, *,
             from_logits: bool = False, stream=0, max_target_length: int | None = None, workspace=None) -> None:
    """CTC negative log-likelihood and its gradient, written into the given output arrays.

    All array arguments are CUDA arrays (numba device arrays, or objects exposing
    ``__cuda_array_interface__``, e.g. torch CUDA tensors through ``numba.cuda.as_cuda_array``):

    - log_probs (T, B, C) float32 / float64, C-contiguous: log-softmax outputs (raw logits when
      ``from_logits``);
    - labels (sum(target_lengths),) int32: the targets of all utterances concatenated (never
      ``blank``; values in [0, C), not checked);
    - label_offsets, input_lengths, target_lengths (B,) int32; 0 <= input_lengths <= T;
    - costs (B,) float64 OUTPUT: -log p(labels_b | x_b); inf when no alignment is possible; NaN
      when the utterance's inputs are NaN;
    - grads (T, B, C) OUTPUT, log_probs' dtype, C-contiguous, or None: torch's convention
      ``exp(log_probs) - gamma`` for t < input_lengths[b] (``softmax - gamma`` with
      ``from_logits``), 0 for later frames, NaN rows when the cost is inf or NaN.

    Runs asynchronously on ``stream`` (0 = numba's default stream). Two optional, keyword-only
    extras avoid host work: ``max_target_length`` (>= max(target_lengths); without it, the
    target lengths are copied to the host, which synchronises the stream) and ``workspace``, a
    float64 CUDA array of at least ``workspace_size(T, B, max_target_length)`` elements (without
    it, one is allocated per call). Utterances whose target length exceeds
    ``max_target_length`` get a NaN cost.
    """
    lp = _dev(log_probs, "log_probs")
    labels = _dev(labels, "labels")
    offs = _dev(label_offsets, "label_offsets")
    in_lens = _dev(input_lengths, "input_lengths")
    tg_lens = _dev(target_lengths, "target_lengths")
    costs = _dev(costs, "costs")
    if lp.ndim != 3 or np.dtype(lp.dtype) not in (np.float32, np.float64):
        raise TypeError(f"ctc_cuda: log_probs must be a (T, B, C) float32/float64 array, got {lp.dtype} {lp.shape}")
    if not lp.is_c_contiguous():
        raise ValueError("ctc_cuda: log_probs must be C-contiguous")
    T, B, C = lp.shape
    for name, arr, n in (("label_offsets", offs, B), ("input_lengths", in_lens, B), ("target_lengths", tg_lens, B)):
        if arr.shape != (n,) or np.dtype(arr.dtype) != np.int32:
            raise TypeError(f"ctc_cuda: {name} must be ({n},) int32, got {arr.dtype} {arr.shape}")
    if labels.ndim != 1 or np.dtype(labels.dtype) != np.int32:
        raise TypeError(f"ctc_cuda: labels must be 1-D int32, got {labels.dtype} {labels.shape}")
    if costs.shape != (B,) or np.dtype(costs.dtype) != np.float64:
        raise TypeError(f"ctc_cuda: costs must be ({B},) float64, got {costs.dtype} {costs.shape}")
    if grads is not None:
        grads = _dev(grads, "grads")
        if grads.shape != (T, B, C) or np.dtype(grads.dtype) != np.dtype(lp.dtype):
            raise TypeError(f"ctc_cuda: grads must be {(T, B, C)} {lp.dtype}, got {grads.dtype} {grads.shape}")
        if not grads.is_c_contiguous():
            raise ValueError("ctc_cuda: grads must be C-contiguous")
    if not 0 <= blank < C:
        raise ValueError(f"ctc_cuda: blank must be in [0, {C}), got {blank}")
    if B == 0:
        return

    if max_target_length is None:
        host = tg_lens.copy_to_host(stream=stream)
        if stream:  # a numba Stream: the copy above is asynchronous
            stream.synchronize()
        max_target_length = int(host.max())
    lmax = max(int(max_target_length), 0)
    K, NT, linear = _layout(2 * lmax + 1)
    SP = K * NT
    Tw = max(T, 1)
    need = workspace_size(T, B, lmax)
    if workspace is None:
        ws = cuda.device_array(need, dtype=np.float64, stream=stream)
    else:
        ws = _dev(workspace, "workspace")
        if ws.ndim != 1 or np.dtype(ws.dtype) != np.float64 or ws.shape[0] < need or not ws.is_c_contiguous():
            raise ValueError(f"ctc_cuda: workspace must be a contiguous 1-D float64 array of at least {need} elements")
    n_big = B * Tw * SP
    o = 0
    W = ws[o:o + n_big].reshape(B, Tw, SP)
    o += n_big
    E = ws[o:o + n_big].reshape(B, Tw, SP)
    o += n_big
    Z = ws[o:o + B * Tw].reshape(B, Tw)
    o += B * Tw
    lse = ws[o:o + Tw * B].reshape(Tw, B)
    o += Tw * B
    flags = ws[o:o + B]
    o += B
    nl = max(lmax, 1)
    links = ws[o:o + B * nl * 2].reshape(B, nl, 2)

    want_grad = grads is not None
    fl = bool(from_logits)
    blank = int(blank)
    rows = min(max(T * B, 1), _ROW_GRID)
    if T > 0:
        _prep_kernel[rows, _NT_ROW, stream](lp, labels, offs, in_lens, tg_lens, blank, fl, lmax, K, NT, E, lse, links)
    if linear:
        _ab_kernel(K, NT)[B, NT, stream](E, W, Z, labels, offs, in_lens, tg_lens, lmax, want_grad, costs, flags)
    # launched unconditionally: its blocks return at once unless flagged (no host round trip)
    _logspace_kernel[B, _NT_LOG, stream](lp, lse, labels, offs, in_lens, tg_lens, blank, fl, lmax, K, NT,
                                         want_grad, not linear, W, E, Z, costs, flags)
    if T > 0:
        if want_grad:
            _grad_kernel(lp.dtype)[rows, _NT_ROW, stream](lp, lse, labels, offs, in_lens, tg_lens, blank, fl, K, NT,
                                                          W, Z, links, costs, grads)
