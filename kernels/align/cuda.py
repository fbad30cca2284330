"""Viterbi forced alignment over the CTC topology as a numba CUDA kernel.

Imported lazily by the dispatcher, only for CUDA tensors; the same code runs under numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported), which is what CI tests.

One block per utterance, threads strided over the ``S = 2L + 1`` extended states (a thread owns
states ``tid, tid + NT, ...``). Each frame reads the previous score row and writes the next one
(double-buffered in the global workspace ``alpha`` (B, 2, Smax + 2), two ``-inf`` pads in front so
``s - 1`` and ``s - 2`` are always valid), stores one int8 backpointer per state in ``back``
(B, T, Smax) (0 = stay, 1 = advance, 2 = skip), then ``syncthreads``. Thread 0 then picks the
final state and backtracks. Recursion, float64 accumulation order and tie-breaking are those of
:mod:`speech.kernels.align.reference`, so the results agree with the reference and the CPU kernel
bit for bit.

Memory: ``B * T * Smax`` bytes of backpointers plus ``16 * B * (Smax + 2)`` bytes of scores.
"""
from __future__ import annotations

import math

import numpy as np
from numba import config, cuda

_SIM = bool(config.ENABLE_CUDASIM)
_MAX_THREADS = 4 if _SIM else 256  # the simulator runs every thread as a Python thread
_MIN_THREADS = 1 if _SIM else 32


def threads_for(smax: int) -> int:
    """Threads per block for ``smax`` extended states: the next power of two, clamped."""
    n = _MIN_THREADS
    while n < smax and n < _MAX_THREADS:
        n *= 2
    return n


@cuda.jit(cache=True)
def _align_kernel(lp, labels, offsets, input_lengths, target_lengths, blank, alpha, back, states, paths, scores):
    b = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    nt = cuda.blockDim.x
    T = states.shape[1]
    Tb = input_lengths[b]
    L = target_lengths[b]
    off = offsets[b]
    S = 2 * L + 1
    ninf = -math.inf
    for t in range(tid, T, nt):
        states[b, t] = -1
        paths[b, t] = -1
    for s in range(tid, S + 2, nt):
        alpha[b, 0, s] = ninf
        alpha[b, 1, s] = ninf
    cuda.syncthreads()
    if Tb == 0:  # uniform across the block
        if tid == 0:
            scores[b] = 0.0 if L == 0 else ninf
        return
    if tid == 0:
        alpha[b, 0, 2] = lp[0, b, blank] + 0.0
        if L > 0:
            alpha[b, 0, 3] = lp[0, b, labels[off]] + 0.0
    cuda.syncthreads()
    for t in range(1, Tb):
        p = (t - 1) & 1
        c = t & 1
        for s in range(tid, S, nt):
            best = alpha[b, p, s + 2]
            arg = 0
            a1 = alpha[b, p, s + 1]
            if a1 > best:
                best = a1
                arg = 1
            sym = blank
            if s % 2 == 1:
                k = off + s // 2
                sym = labels[k]
                if s >= 3 and labels[k] != labels[k - 1]:
                    a2 = alpha[b, p, s]
                    if a2 > best:
                        best = a2
                        arg = 2
            alpha[b, c, s + 2] = best + lp[t, b, sym]
            back[b, t, s] = arg
        cuda.syncthreads()
    if tid == 0:
        f = (Tb - 1) & 1
        end = S - 1
        if S > 1 and not alpha[b, f, S + 1] > alpha[b, f, S]:
            end = S - 2
        sc = alpha[b, f, end + 2]
        if sc > ninf and sc < math.inf:
            scores[b] = sc
            s = end
            for t in range(Tb - 1, -1, -1):
                states[b, t] = s
                paths[b, t] = blank if s % 2 == 0 else labels[off + s // 2]
                s -= back[b, t, s]
        else:
            scores[b] = ninf


def workspace_shapes(T: int, B: int, max_target_length: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Shapes of the (alpha float64, back int8) workspaces."""
    smax = 2 * max_target_length + 1
    return (B, 2, smax + 2), (B, max(T, 1), smax)


def align_cuda(lp, labels, offsets, input_lengths, target_lengths, blank, states, paths, scores, *,
               max_target_length: int | None = None, stream=0, alpha=None, back=None) -> None:
    """Launch the alignment kernel (device arrays in, device arrays out; asynchronous on ``stream``).

    Args:
        lp: (T, B, C) float32/float64 log-probs; labels: (sum L,) int32; offsets, input_lengths,
        target_lengths: (B,) int32; states, paths: (B, T) int64 outputs; scores: (B,) float64 output.
        max_target_length: max(target_lengths) (read from the device when omitted: a sync).
        alpha, back: optional workspaces of :func:`workspace_shapes` (float64 / int8); allocated
        here when omitted.
    """
    T, B = lp.shape[0], lp.shape[1]
    if B == 0:
        return
    if max_target_length is None:
        tl = target_lengths.copy_to_host() if hasattr(target_lengths, "copy_to_host") else np.asarray(target_lengths)
        max_target_length = int(tl.max()) if len(tl) else 0
    ash, bsh = workspace_shapes(T, B, max_target_length)
    if alpha is None:
        alpha = cuda.device_array(ash, np.float64, stream=stream)
    if back is None:
        back = cuda.device_array(bsh, np.int8, stream=stream)
    nt = threads_for(2 * max_target_length + 1)
    _align_kernel[B, nt, stream](lp, labels, offsets, input_lengths, target_lengths, blank, alpha, back, states,
                                 paths, scores)
