"""CTC loss on torch tensors through the numba kernels: validation, device dispatch, autograd.

``ctc_loss`` takes exactly ``torch.nn.functional.ctc_loss``'s arguments and conventions:
``log_probs`` (T, B, C); ``targets`` padded (B, S) or concatenated (sum(target_lengths),);
``input_lengths`` and ``target_lengths`` (B,) tensors or sequences of ints.

Memory: the forward pass computes the gradient eagerly into one (T, B, C) array (allocated per
call, or a caller's reusable ``grad_buffer``); the kernels add O(threads * T * (2L + 1)) float64
scratch for the recursions plus O(B * T * L) for the emissions, kept between calls. The backward
pass scales that array in place and hands it over, so no second (T, B, C) array is made; a
second backward through a retained graph recomputes it.
"""
from __future__ import annotations

from typing import Sequence

import threading

import numpy as np
import torch

_REDUCTIONS = ("none", "sum", "mean")


def _as_lengths(x, name: str, device) -> torch.Tensor:
    t = torch.as_tensor(x, device="cpu") if not isinstance(x, torch.Tensor) else x.detach().cpu()
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise TypeError(f"ctc_loss: {name} must be integers, got dtype {t.dtype}")
    return t.reshape(-1).to(torch.int64)


def _prepare(log_probs: torch.Tensor, targets, input_lengths, target_lengths, blank: int):
    """Validate like torch does and flatten the targets. Returns (labels, offsets, in_lens, tgt_lens) int32 on CPU."""
    if not isinstance(log_probs, torch.Tensor) or log_probs.dim() != 3:
        raise ValueError(f"ctc_loss: log_probs must be a 3-D tensor (T, B, C), got shape "
                         f"{tuple(getattr(log_probs, 'shape', ()))}")
    if log_probs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"ctc_loss: log_probs must be float32 or float64, got {log_probs.dtype}")
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank must be in [0, {C}), got {blank}")
    in_lens = _as_lengths(input_lengths, "input_lengths", log_probs.device)
    tgt_lens = _as_lengths(target_lengths, "target_lengths", log_probs.device)
    if in_lens.numel() != B or tgt_lens.numel() != B:
        raise ValueError(f"ctc_loss: input_lengths and target_lengths must have batch size {B}, got "
                         f"{in_lens.numel()} and {tgt_lens.numel()}")
    if (in_lens < 0).any() or (tgt_lens < 0).any():
        raise ValueError("ctc_loss: input_lengths and target_lengths must be non-negative")
    if (in_lens > T).any():
        raise ValueError(f"ctc_loss: expected input_lengths to be at most T={T}, got {int(in_lens.max())}")
    if not isinstance(targets, torch.Tensor):
        targets = torch.as_tensor(targets)
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise TypeError(f"ctc_loss: targets must be integers, got dtype {targets.dtype}")
    tg = targets.detach().cpu().to(torch.int64)
    if tg.dim() == 2:
        if tg.shape[0] != B:
            raise ValueError(f"ctc_loss: padded targets must have shape (B={B}, S), got {tuple(tg.shape)}")
        if (tgt_lens > tg.shape[1]).any():
            raise ValueError(f"ctc_loss: target_lengths exceed the padded target length {tg.shape[1]}")
        mask = torch.arange(tg.shape[1]).unsqueeze(0) < tgt_lens.unsqueeze(1)
        labels = tg[mask]
    elif tg.dim() == 1:
        if int(tgt_lens.sum()) != tg.numel():
            raise ValueError(f"ctc_loss: concatenated targets hold {tg.numel()} labels but target_lengths sum to "
                             f"{int(tgt_lens.sum())}")
        labels = tg
    else:
        raise ValueError(f"ctc_loss: targets must be (B, S) padded or (sum(target_lengths),), got {tuple(tg.shape)}")
    if labels.numel():
        if (labels == blank).any():
            raise ValueError(f"ctc_loss: targets contain the blank label {blank}")
        if labels.min() < 0 or labels.max() >= C:
            raise ValueError(f"ctc_loss: target labels must be in [0, {C}), got values in "
                             f"[{int(labels.min())}, {int(labels.max())}]")
    offsets = torch.cumsum(tgt_lens, 0) - tgt_lens
    as32 = lambda t: t.to(torch.int32).contiguous()  # noqa: E731
    return as32(labels), as32(offsets), as32(in_lens), as32(tgt_lens)


class _Workspace(threading.local):
    """Per-thread scratch tensors reused across calls, grown on demand (never shrunk).

    Reusing them avoids allocating (and page-faulting) tens of megabytes per loss evaluation.
    """

    def __init__(self):
        self.buffers: dict[tuple, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        key = (name, dtype, str(device))
        buf = self.buffers.get(key)
        if buf is None or buf.numel() < n:
            buf = torch.empty(max(n, 1), dtype=dtype, device=device)
            self.buffers[key] = buf
        return buf[:n].view(shape)


_WORKSPACE = _Workspace()


def release_workspace() -> None:
    """Free the scratch memory the kernels keep between calls (in this thread)."""
    _WORKSPACE.buffers.clear()


def _check_buffer(buf: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
    if buf is None:
        return torch.empty_like(like, memory_format=torch.contiguous_format)
    if buf.shape != like.shape or buf.dtype != like.dtype or buf.device != like.device or not buf.is_contiguous():
        raise ValueError(f"ctc_loss: grad_buffer must be a contiguous {like.dtype} tensor of shape {tuple(like.shape)} "
                         f"on {like.device}, got {buf.dtype} {tuple(buf.shape)} on {buf.device}")
    return buf


def ctc_costs_and_grads(
    log_probs: torch.Tensor,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    *,
    compute_grad: bool = True,
    from_logits: bool = False,
    grad_buffer: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The pure function: per-utterance costs (B,) float64 and gradients (T, B, C) (or None).

    CPU tensors run the CPU kernel on zero-copy numpy views; CUDA tensors run the CUDA kernel on
    the same memory (``numba.cuda.as_cuda_array``) on torch's current stream. ``grad_buffer``, when
    given, receives the gradient (reuse it across steps to avoid an allocation per call).
    """
    labels, offsets, in_lens, tgt_lens = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    lp = log_probs.detach().contiguous()
    B = lp.shape[1]
    grads = _check_buffer(grad_buffer, lp) if compute_grad else None
    if lp.device.type == "cpu":
        import numba

        from speech.kernels.ctc.cpu import ctc_cpu, gather_emissions

        T, _, C = lp.shape
        # The O(T * B * C) and O(T * B * L) exponentials run in torch's vectorized kernels (numba has
        # no vector math library here): the softmax goes straight into the gradient buffer, and the
        # emission probabilities of each utterance's blank + labels into a float64 (T, B, L + 1)
        # array, which the kernel then overwrites with the occupancies it subtracts.
        norm = torch.logsumexp(lp, dim=-1, keepdim=True) if from_logits else None
        lmax = int(tgt_lens.max()) if B else 0
        symbols = torch.full((B, lmax + 1), int(blank), dtype=torch.int64)  # blank, then the labels
        if lmax:
            mask = torch.arange(lmax).unsqueeze(0) < tgt_lens.unsqueeze(1).long()
            symbols[:, 1:][mask] = labels.long()
        em = _WORKSPACE.get("em", (T, B, lmax + 1), torch.float64, lp.device)
        gather_emissions(lp.numpy(), symbols.numpy(), em.numpy())
        if norm is not None:
            em.sub_(norm)
        em.exp_()
        work = _WORKSPACE.get("work", (numba.get_num_threads(), 2 * T * (2 * lmax + 5)), torch.float64, lp.device)
        if grads is not None:
            if norm is None:
                torch.exp(lp, out=grads)
            else:
                torch.sub(lp, norm, out=grads).exp_()
        norm64 = norm.squeeze(-1).double() if norm is not None else torch.zeros(T, B, dtype=torch.float64)
        costs = np.empty(B, dtype=np.float64)
        g = grads.numpy() if grads is not None else np.empty((1, 1, 1), dtype=lp.numpy().dtype)
        ctc_cpu(lp.numpy(), norm64.numpy(), em.numpy(), work.numpy(), labels.numpy(), offsets.numpy(), in_lens.numpy(),
                tgt_lens.numpy(), int(blank), costs, g, grads is not None)
        return torch.from_numpy(costs), grads
    if lp.device.type == "cuda":
        from numba import cuda

        from speech.kernels.ctc.cuda import ctc_cuda, workspace_size

        dev = lp.device
        T = lp.shape[0]
        lmax = int(tgt_lens.max()) if B else 0
        costs_t = torch.empty(B, dtype=torch.float64, device=dev)
        # scratch from torch's caching allocator (numba's own would allocate and free, stalling the GPU)
        work = _WORKSPACE.get("cuda_work", (workspace_size(T, B, lmax),), torch.float64, dev)
        with torch.cuda.device(dev):
            stream = cuda.external_stream(torch.cuda.current_stream(dev).cuda_stream)

            def arr(t):  # zero-copy view; sync=False: everything runs on torch's current stream
                return cuda.as_cuda_array(t, sync=False)

            ctc_cuda(arr(lp), arr(labels.to(dev, non_blocking=True)), arr(offsets.to(dev, non_blocking=True)),
                     arr(in_lens.to(dev, non_blocking=True)), arr(tgt_lens.to(dev, non_blocking=True)), int(blank),
                     arr(costs_t), arr(grads) if grads is not None else None, from_logits=from_logits, stream=stream,
                     max_target_length=lmax, workspace=arr(work))
        return costs_t, grads
    raise ValueError(f"ctc_loss: unsupported device {lp.device}; expected cpu or cuda")


class CTCLossFunction(torch.autograd.Function):
    """Per-utterance CTC costs (B,); the gradient is computed eagerly in forward.

    The first backward hands that gradient over (scaled in place, so no second (T, B, C) array);
    a second backward through the same graph (``retain_graph=True``) recomputes it.
    """

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity, from_logits, grad_buffer):
        need_grad = log_probs.requires_grad
        costs, grads = ctc_costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank,
                                           compute_grad=need_grad, from_logits=from_logits, grad_buffer=grad_buffer)
        costs = costs.to(log_probs.device)
        if zero_infinity and grads is not None:
            grads.masked_fill_(torch.isinf(costs).view(1, -1, 1), 0.0)
        if zero_infinity:
            costs = costs.masked_fill(torch.isinf(costs), 0.0)
        ctx.grads = grads
        ctx.args = (targets, input_lengths, target_lengths, blank, zero_infinity, from_logits)
        ctx.save_for_backward(log_probs)
        return costs.to(log_probs.dtype)

    @staticmethod
    def backward(ctx, grad_costs):
        grads, ctx.grads = ctx.grads, None  # release it: autograd may then adopt it as .grad without a copy
        if grads is None:  # second backward through a retained graph
            (log_probs,) = ctx.saved_tensors
            targets, input_lengths, target_lengths, blank, zero_infinity, from_logits = ctx.args
            costs, grads = ctc_costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank,
                                               from_logits=from_logits)
            if zero_infinity:
                grads.masked_fill_(torch.isinf(costs).to(grads.device).view(1, -1, 1), 0.0)
        if not bool((grad_costs == 1).all()):  # reduction="sum" needs no scaling
            grads.mul_(grad_costs.to(grads.dtype).view(1, -1, 1))
        return grads, None, None, None, None, None, None, None


def _reduce(costs: torch.Tensor, target_lengths, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return costs
    if reduction == "sum":
        return costs.sum()
    if reduction == "mean":
        tl = torch.as_tensor(target_lengths, device=costs.device).to(costs.dtype).clamp(min=1)
        return (costs / tl).mean()
    raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def ctc_loss(
    log_probs: torch.Tensor,
    targets,
    input_lengths: torch.Tensor | Sequence[int],
    target_lengths: torch.Tensor | Sequence[int],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    grad_buffer: torch.Tensor | None = None,
) -> torch.Tensor:
    """Drop-in replacement for ``torch.nn.functional.ctc_loss`` running the numba kernels."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    costs = CTCLossFunction.apply(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity, False,
                                  grad_buffer)
    return _reduce(costs, target_lengths, reduction)


def ctc_loss_from_logits(
    logits: torch.Tensor,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
    grad_buffer: torch.Tensor | None = None,
) -> torch.Tensor:
    """CTC on unnormalised logits (T, B, C): log_softmax happens inside the kernel and its backward
    is skipped, because the kernel's gradient is already the gradient with respect to the logits."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    costs = CTCLossFunction.apply(logits, targets, input_lengths, target_lengths, blank, zero_infinity, True,
                                  grad_buffer)
    return _reduce(costs, target_lengths, reduction)


class CTCLossNumba(torch.nn.Module):
    """Module form of :func:`ctc_loss` (``from_logits=True`` for :func:`ctc_loss_from_logits`)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False, from_logits: bool = False):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"ctc_loss: reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.blank, self.reduction, self.zero_infinity, self.from_logits = blank, reduction, zero_infinity, from_logits

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        """log_probs (or logits): (T, B, C); targets (B, S) or (sum L,); lengths (B,)."""
        fn = ctc_loss_from_logits if self.from_logits else ctc_loss
        return fn(log_probs, targets, input_lengths, target_lengths, self.blank, self.reduction, self.zero_infinity)
