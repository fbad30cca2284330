"""The CPU CTC path as it was before the one-pass gradient (commit 3ed14c3), for ``bench/ctc.py --baseline``.

Same recursion kernel as today (``speech.kernels.ctc.cpu.ctc_cpu``); what differs is around it, as it
was: the blank/label log-probs gathered in label order and exponentiated by torch, the gradient
computed eagerly in forward as ``torch.exp`` of the whole (T, B, C) input into a freshly allocated
tensor, the occupancies subtracted in a second pass, a (T, B, C) copy of a non-contiguous
(batch-first, transposed) input, and a third pass in backward to scale by the incoming gradient
unless it is all ones. Kept only to measure before and after in one run; not used by the toolkit.
"""
from __future__ import annotations

import numba
import numpy as np
import torch
from numba import njit, prange

from speech.kernels.ctc.cpu import ctc_cpu
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
    """out[b, t, j] = lp[t, b, symbols[b, j]] in label order (the old gather; the table is utterance-major
    now, as today's recursion kernel reads it)."""
    T, B, _ = lp.shape
    J = symbols.shape[1]
    for t in prange(T):
        for b in range(B):
            for j in range(J):
                out[b, t, j] = lp[t, b, symbols[b, j]]


@njit(parallel=True, cache=True)
def _subtract_occupancies(em, labels, offsets, input_lengths, target_lengths, blank, costs, grads):
    """The old second pass: grads (holding exp(lp)) minus the occupancies, in memory order."""
    T, B, C = grads.shape
    for t in prange(T):
        for b in range(B):
            if t >= input_lengths[b]:
                for c in range(C):
                    grads[t, b, c] = 0.0
            elif not (costs[b] < np.inf):
                for c in range(C):
                    grads[t, b, c] = np.nan
            else:
                grads[t, b, blank] -= em[b, t, 0]
                off = offsets[b]
                for i in range(target_lengths[b]):
                    grads[t, b, labels[off + i]] -= em[b, t, i + 1]


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
    em = _buffer("em", (B, T, lmax + 1))
    _gather_emissions(lp.numpy(), symbols.numpy(), em.numpy())
    em.exp_()
    work = _buffer("work", (numba.get_num_threads(), 2 * T * (2 * lmax + 5)))
    torch.exp(lp, out=grads)
    norm = torch.zeros(T, B, dtype=torch.float64)
    costs = np.empty(B, dtype=np.float64)
    ctc_cpu(lp.view(T * B, C).numpy(), B, 1, norm.numpy(), em.numpy(), work.numpy(), labels.numpy(),
            offsets.numpy(), in_lens.numpy(), tgt_lens.numpy(), int(blank), costs, True)
    _subtract_occupancies(em.numpy(), labels.numpy(), offsets.numpy(), in_lens.numpy(), tgt_lens.numpy(), int(blank),
                          costs, grads.numpy())
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
