"""CTC loss on torch tensors through the numba kernels: validation, device dispatch, autograd.

``ctc_loss`` takes exactly ``torch.nn.functional.ctc_loss``'s arguments and conventions:
``log_probs`` (T, B, C); ``targets`` padded (B, S) or concatenated (sum(target_lengths),);
``input_lengths`` and ``target_lengths`` (B,) tensors or sequences of ints.

Memory and passes (CPU): forward gathers each utterance's blank and label probabilities and runs
the recursions, keeping the state occupancies (O(T * B * L) float64); backward writes the gradient,
multiplied by the incoming per-utterance gradient, in one pass over (T, B, C): one read of the
log-probs and one write of the gradient. The gradient, the occupancy table and the recursion
scratch (O(threads * T * (L + 2)) float64) are buffers reused across calls (:class:`_Workspace`),
never overwritten while anything else still holds them. Batch-first models' (T, B, C) transposes
are read and their gradients written in place, without a copy.
"""
from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

_REDUCTIONS = ("none", "sum", "mean")


def _as_lengths(x, name: str) -> np.ndarray:
    """(B,) int64 numpy lengths from a tensor (any device) or a sequence of ints."""
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"ctc_loss: {name} must be integers, got dtype {x.dtype}")
        return x.detach().cpu().reshape(-1).numpy().astype(np.int64, copy=False)
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {name} must be integers, got dtype {a.dtype}")
    return a.reshape(-1).astype(np.int64, copy=False)


def _prepare_np(log_probs: torch.Tensor, targets, input_lengths, target_lengths, blank: int):
    """Validate like torch does and flatten the targets.

    The checks and the flattening run in one compiled call (:func:`.driver.flatten_targets`); the
    messages are built here, only when a check fails. Returns (labels, offsets, in_lens,
    tgt_lens), C-contiguous int32 numpy arrays.
    """
    if not isinstance(log_probs, torch.Tensor) or log_probs.dim() != 3:
        raise ValueError(f"ctc_loss: log_probs must be a 3-D tensor (T, B, C), got shape "
                         f"{tuple(getattr(log_probs, 'shape', ()))}")
    if log_probs.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"ctc_loss: log_probs must be float32 or float64, got {log_probs.dtype}")
    T, B, C = log_probs.shape
    if not 0 <= blank < C:
        raise ValueError(f"ctc_loss: blank must be in [0, {C}), got {blank}")
    in_lens = _as_lengths(input_lengths, "input_lengths")
    tgt_lens = _as_lengths(target_lengths, "target_lengths")
    if in_lens.size != B or tgt_lens.size != B:
        raise ValueError(f"ctc_loss: input_lengths and target_lengths must have batch size {B}, got "
                         f"{in_lens.size} and {tgt_lens.size}")
    if isinstance(targets, torch.Tensor):
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise TypeError(f"ctc_loss: targets must be integers, got dtype {targets.dtype}")
        tg = targets.detach().cpu().numpy()
    else:
        tg = np.asarray(targets)
        if tg.dtype.kind not in "iu":
            raise TypeError(f"ctc_loss: targets must be integers, got dtype {tg.dtype}")
    if tg.ndim == 2:
        if tg.shape[0] != B:
            raise ValueError(f"ctc_loss: padded targets must have shape (B={B}, S), got {tuple(tg.shape)}")
        S = tg.shape[1]
    elif tg.ndim == 1:
        S = -1
    else:
        raise ValueError(f"ctc_loss: targets must be (B, S) padded or (sum(target_lengths),), got {tuple(tg.shape)}")
    from speech.kernels.ctc import driver  # lazy: numba loads on the first loss call, not on import

    status, labels, offsets, in32, tgt32 = driver.flatten_targets(
        np.ascontiguousarray(tg.reshape(-1), dtype=np.int64), S, in_lens, tgt_lens, T, C, blank)
    if status != driver.OK:
        raise _target_error(status, tg, S, in_lens, tgt_lens, T, C, blank)
    return labels, offsets, in32, tgt32


def _target_error(status: int, tg: np.ndarray, S: int, in_lens, tgt_lens, T: int, C: int, blank: int) -> Exception:
    """The message for a failed :func:`.driver.flatten_targets` check."""
    from speech.kernels.ctc import driver

    if status == driver.NEGATIVE_LENGTH:
        return ValueError("ctc_loss: input_lengths and target_lengths must be non-negative")
    if status == driver.INPUT_TOO_LONG:
        return ValueError(f"ctc_loss: expected input_lengths to be at most T={T}, got {int(in_lens.max())}")
    if status == driver.TARGET_TOO_LONG:
        return ValueError(f"ctc_loss: target_lengths exceed the padded target length {S}")
    if status == driver.COUNT_MISMATCH:
        return ValueError(f"ctc_loss: concatenated targets hold {tg.size} labels but target_lengths sum to "
                          f"{int(tgt_lens.sum())}")
    if status == driver.BLANK_LABEL:
        return ValueError(f"ctc_loss: targets contain the blank label {blank}")
    labels = tg[np.arange(S) < tgt_lens[:, None]] if S >= 0 else tg
    return ValueError(f"ctc_loss: target labels must be in [0, {C}), got values in "
                      f"[{int(labels.min())}, {int(labels.max())}]")


def _prepare(log_probs: torch.Tensor, targets, input_lengths, target_lengths, blank: int):
    """:func:`_prepare_np` as int32 CPU tensors (the CUDA kernels and forced alignment take these)."""
    return tuple(torch.from_numpy(a) for a in _prepare_np(log_probs, targets, input_lengths, target_lengths, blank))


def _storage_use_count(t: torch.Tensor) -> int | None:
    """How many tensors share ``t``'s memory (plus one for the query itself); None if torch cannot say."""
    count = getattr(torch._C, "_storage_Use_Count", None)
    if count is None:
        return None
    return int(count(t.untyped_storage()._cdata))


_ALONE = _storage_use_count(torch.empty(1))  # the count of a tensor nobody else shares


class _Workspace(threading.local):
    """Per-thread buffers reused across calls: the gradient, the emission/occupancy table, scratch.

    A fresh 128 MB gradient costs more in page faults than computing it, so buffers are kept and
    reused. Reuse is safe because a buffer is only handed out again when no tensor outside this
    pool shares its memory (torch's storage use count): a gradient that autograd adopted as a
    leaf's ``.grad``, a table a retained graph still holds, a result the caller kept, all make the
    next call take (or allocate) another buffer. Up to ``_KEEP`` buffers per (name, dtype, device)
    are kept, grown on demand, never shrunk; :func:`release_workspace` frees them.
    """

    _KEEP = 4

    def __init__(self):
        self.buffers: dict[tuple, list[torch.Tensor]] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        n = 1
        for d in shape:
            n *= d
        pool = self.buffers.setdefault((name, dtype, str(device)), [])
        for i, buf in enumerate(pool):
            if _ALONE is not None and _storage_use_count(buf) == _ALONE:
                if buf.numel() < n:  # grow: drop the small one (nobody holds it)
                    buf = pool[i] = torch.empty(n, dtype=dtype, device=device)
                return buf[:n].view(shape)  # a new view each time: autograd may adopt it as .grad
        buf = torch.empty(max(n, 1), dtype=dtype, device=device)
        pool.append(buf)
        if len(pool) > self._KEEP:
            pool.pop(0)  # its holder keeps it alive as long as it needs it
        return buf[:n].view(shape)


_WORKSPACE = _Workspace()


def release_workspace() -> None:
    """Free the buffers the kernels keep between calls (in this thread); tensors already handed out stay valid."""
    _WORKSPACE.buffers.clear()


def _rows(lp: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """(T, B, C) -> a C-contiguous (T * B, C) view and the row strides (st, sb): row t * st + b * sb.

    (T, B, C)-contiguous tensors give (B, 1); the (T, B, C) transpose of a contiguous batch-first
    (B, T, C) tensor (what a batch-first model hands to the loss) gives (1, T) without a copy;
    anything else is copied to (T, B, C) first.
    """
    T, B, C = lp.shape
    if lp.is_contiguous():
        return lp.view(T * B, C), B, 1
    bt = lp.transpose(0, 1)
    if bt.is_contiguous():
        return bt.view(B * T, C), 1, T
    return lp.contiguous().view(T * B, C), B, 1


def _rows_view(flat: torch.Tensor, T: int, B: int, C: int, st: int, sb: int) -> torch.Tensor:
    """The (T, B, C) tensor whose rows are ``flat``'s (the inverse of :func:`_rows`)."""
    return flat.view(T, B, C) if st >= sb else flat.view(B, T, C).transpose(0, 1)


def _grad_out(grad_buffer: torch.Tensor | None, lp: torch.Tensor, st: int, sb: int) -> torch.Tensor:
    """Rows (T * B, C) for the gradient: the caller's ``grad_buffer`` or a pooled buffer, laid out like the input."""
    T, B, C = lp.shape
    if grad_buffer is None:
        return _WORKSPACE.get("grad", (T * B, C), lp.dtype, lp.device)
    like = _rows_view(torch.empty(T * B, C, device="meta"), T, B, C, st, sb)
    if (grad_buffer.shape != lp.shape or grad_buffer.dtype != lp.dtype or grad_buffer.device != lp.device
            or (T * B > 1 and grad_buffer.stride() != like.stride())):
        raise ValueError(f"ctc_loss: grad_buffer must be a {lp.dtype} tensor of shape {tuple(lp.shape)} on {lp.device} "
                         f"with strides {like.stride()} (torch.empty_like(log_probs)), got {grad_buffer.dtype} "
                         f"{tuple(grad_buffer.shape)} strides {grad_buffer.stride()} on {grad_buffer.device}")
    return grad_buffer.transpose(0, 1).reshape(B * T, C) if st < sb else grad_buffer.view(T * B, C)


# Below this many elements (~0.1 ms of work) a pass runs in the calling thread only: waking
# numba's other threads costs microseconds on an idle machine but up to a scheduler time slice
# (milliseconds) when another process holds their core, more than the whole pass.
_SERIAL_BELOW = 1 << 17


class _CpuState:
    """What the CPU forward leaves for the gradient pass: row layout, normaliser, occupancies, raw costs."""

    def __init__(self, T, B, C, st, sb, norm, em, costs, labels, offsets, in_lens, tgt_lens, blank):
        self.T, self.B, self.C, self.st, self.sb = T, B, C, st, sb
        self.norm, self.em, self.costs = norm, em, costs
        self.labels, self.offsets, self.in_lens, self.tgt_lens, self.blank = labels, offsets, in_lens, tgt_lens, blank


def _cpu_forward(lp, labels, offsets, in_lens, tgt_lens, blank, compute_grad, from_logits) -> _CpuState:
    """Costs (float64, raw: inf for infeasible utterances) and, if ``compute_grad``, the occupancies.

    ``labels``, ``offsets``, ``in_lens``, ``tgt_lens``: int32 numpy arrays from :func:`_prepare_np`.
    The kernels run from one compiled driver (:func:`.driver.ctc_forward`); around it only the
    buffers are fetched (see the module :mod:`.driver` for why).
    """
    # numba and the compiled kernels load on the first CPU call, not when speech.kernels is imported
    # (importing numba costs ~0.3 s that a command which never trains should not pay)
    import numba

    from speech.kernels.ctc.driver import ctc_forward

    T, B, C = lp.shape
    rows, st, sb = _rows(lp)
    lmax = int(tgt_lens.max()) if B else 0
    norm = torch.zeros(T, B, dtype=torch.float64)
    em = _WORKSPACE.get("em", (B, T, lmax + 1), torch.float64, lp.device)  # emissions, then occupancies
    work = _WORKSPACE.get("work", (numba.get_num_threads(), 2 * T * (lmax + 2)), torch.float64, lp.device)
    costs = torch.empty(B, dtype=torch.float64)
    ctc_forward(rows.numpy(), st, sb, bool(from_logits), norm.numpy(), em.numpy(), work.numpy(), labels, offsets,
                in_lens, tgt_lens, int(blank), costs.numpy(), bool(compute_grad), _SERIAL_BELOW)
    return _CpuState(T, B, C, st, sb, norm, em if compute_grad else None, costs, labels, offsets, in_lens, tgt_lens,
                     int(blank))


def _cpu_grad(lp: torch.Tensor, s: _CpuState, scale: torch.Tensor, zero_infinity: bool,
              grad_buffer: torch.Tensor | None = None) -> torch.Tensor:
    """The gradient of sum_b scale[b] * cost_b w.r.t. ``lp`` in one pass (see ``cpu.ctc_grad``), laid out like ``lp``."""
    from speech.kernels.ctc.cpu import ctc_grad, ctc_grad_serial  # lazy, as in _cpu_forward

    rows, st, sb = _rows(lp)
    out = _grad_out(grad_buffer, lp, st, sb)
    scale_np = np.ascontiguousarray(np.broadcast_to(scale.detach().cpu().numpy().astype(np.float64).reshape(-1), (s.B,)))
    # exp of every entry, occupancies of the labels
    kernel = ctc_grad if s.T * s.B * (s.C + s.em.shape[2]) >= _SERIAL_BELOW else ctc_grad_serial
    kernel(rows.numpy(), st, sb, s.norm.numpy(), s.em.numpy(), s.labels, s.offsets, s.in_lens, s.tgt_lens, s.blank,
           s.costs.numpy(), scale_np, bool(zero_infinity), out.numpy())
    return _rows_view(out, s.T, s.B, s.C, st, sb)


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

    CPU tensors run the CPU kernels on zero-copy numpy views; CUDA tensors run the CUDA kernel on
    the same memory (``numba.cuda.as_cuda_array``) on torch's current stream. The gradient goes
    into ``grad_buffer`` when given, else into a buffer reused across calls (a new one whenever
    the previous result is still referenced, so a kept result is never overwritten).
    """
    lp = log_probs.detach()
    B = lp.shape[1]
    if lp.device.type == "cpu":
        state = _cpu_forward(lp, *_prepare_np(log_probs, targets, input_lengths, target_lengths, blank), blank,
                             compute_grad, from_logits)
        if not compute_grad:
            return state.costs, None
        return state.costs, _cpu_grad(lp, state, torch.ones(1, dtype=torch.float64), False, grad_buffer)
    labels, offsets, in_lens, tgt_lens = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    if lp.device.type == "cuda":
        from numba import cuda

        from speech.kernels.ctc.cuda import ctc_cuda, workspace_size

        lp = lp.contiguous()
        grads = None
        if compute_grad:
            grads = _grad_out(grad_buffer, lp, lp.shape[1], 1).view(lp.shape)
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
    """Per-utterance CTC costs (B,).

    CPU: forward runs the recursions and keeps the occupancies (O(T * B * L)); backward writes the
    gradient, already multiplied by the incoming per-utterance gradient, in one pass over
    (T, B, C) into a reused buffer laid out like the input (see :class:`_Workspace` for why reuse
    is safe). A second backward through a retained graph recomputes it from the saved occupancies.
    CUDA: the kernel computes the gradient eagerly in forward; the first backward scales it in
    place and hands it over, a second backward recomputes it.
    """

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity, from_logits, grad_buffer):
        need_grad = log_probs.requires_grad
        ctx.zero_infinity, ctx.grad_buffer = zero_infinity, grad_buffer
        if log_probs.device.type == "cpu":
            state = _cpu_forward(log_probs.detach(), *_prepare_np(log_probs, targets, input_lengths, target_lengths,
                                                                  blank), blank, need_grad, from_logits)
            costs = state.costs
            if need_grad:
                # autograd owns these: freed after a backward without retain_graph, then reusable by the pool
                ctx.save_for_backward(log_probs, state.em, state.norm, state.costs)
                state.em = state.norm = state.costs = None
                ctx.state = state
        else:
            costs, grads = ctc_costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank,
                                               compute_grad=need_grad, from_logits=from_logits, grad_buffer=grad_buffer)
            if zero_infinity and grads is not None:
                grads.masked_fill_(torch.isinf(costs).view(1, -1, 1), 0.0)
            ctx.grads = grads
            ctx.args = (targets, input_lengths, target_lengths, blank, from_logits)
            ctx.save_for_backward(log_probs)
            ctx.state = None
        costs = costs.to(log_probs.device)
        if zero_infinity:
            costs = costs.masked_fill(torch.isinf(costs), 0.0)
        return costs.to(log_probs.dtype)

    @staticmethod
    def backward(ctx, grad_costs):
        if ctx.state is not None:  # CPU: the one fused gradient pass, scaled by grad_costs
            log_probs, em, norm, costs = ctx.saved_tensors
            s = ctx.state
            s.em, s.norm, s.costs = em, norm, costs
            try:
                grads = _cpu_grad(log_probs.detach(), s, grad_costs, ctx.zero_infinity, ctx.grad_buffer)
            finally:
                s.em = s.norm = s.costs = None  # only the saved tensors hold them
            return grads, None, None, None, None, None, None, None
        grads, ctx.grads = ctx.grads, None  # release it: autograd may then adopt it as .grad without a copy
        if grads is None:  # second backward through a retained graph
            (log_probs,) = ctx.saved_tensors
            targets, input_lengths, target_lengths, blank, from_logits = ctx.args
            costs, grads = ctc_costs_and_grads(log_probs, targets, input_lengths, target_lengths, blank,
                                               from_logits=from_logits)
            if ctx.zero_infinity:
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
