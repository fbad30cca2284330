"""Forced alignment on torch tensors: validation, device dispatch (CPU kernel / CUDA kernel).

Conventions are ``torch.nn.functional.ctc_loss``'s: ``log_probs`` (T, B, C) float32/float64;
``targets`` padded (B, S) or concatenated (sum(target_lengths),); ``input_lengths`` and
``target_lengths`` (B,) tensors or sequences of ints. Outputs live on ``log_probs``'s device.
See :mod:`speech.kernels.align.reference` for the path rules, tie-breaking and infeasible inputs.
"""
from __future__ import annotations

import numpy as np
import torch

from speech.kernels.ctc.functional import _prepare


def align(log_probs: torch.Tensor, targets, input_lengths, target_lengths,
          blank: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pure function: (states (B, T) int64, paths (B, T) int64, scores (B,) float64).

    ``states[b, t]`` is the extended-state index (``2k + 1`` for the k-th target label, even for
    blanks), ``paths[b, t]`` the emitted symbol; both are -1 on frames ``>= input_lengths[b]`` and
    on every frame of an utterance with no alignment (score ``-inf``).
    CPU tensors run the CPU kernel on zero-copy numpy views; CUDA tensors the CUDA kernel on the
    same memory (``numba.cuda.as_cuda_array``) on torch's current stream, with no host round trip
    beyond the (small) lengths and targets validation.
    """
    labels, offsets, in_lens, tgt_lens = _prepare(log_probs, targets, input_lengths, target_lengths, blank)
    lp = log_probs.detach().contiguous()
    T, B, _ = lp.shape
    dev = lp.device
    if dev.type == "cpu":
        from speech.kernels.align.cpu import align_cpu

        states = np.empty((B, T), dtype=np.int64)
        paths = np.empty((B, T), dtype=np.int64)
        scores = np.empty(B, dtype=np.float64)
        if B:
            align_cpu(lp.numpy(), labels.numpy(), offsets.numpy(), in_lens.numpy(), tgt_lens.numpy(), int(blank),
                      states, paths, scores)
        return torch.from_numpy(states), torch.from_numpy(paths), torch.from_numpy(scores)
    if dev.type == "cuda":
        from numba import cuda

        from speech.kernels.align.cuda import align_cuda, workspace_shapes

        lmax = int(tgt_lens.max()) if B else 0
        states = torch.empty((B, T), dtype=torch.int64, device=dev)
        paths = torch.empty((B, T), dtype=torch.int64, device=dev)
        scores = torch.empty(B, dtype=torch.float64, device=dev)
        if B == 0:
            return states, paths, scores
        ash, bsh = workspace_shapes(T, B, lmax)
        alpha = torch.empty(ash, dtype=torch.float64, device=dev)  # torch's caching allocator
        back = torch.empty(bsh, dtype=torch.int8, device=dev)
        with torch.cuda.device(dev):
            stream = cuda.external_stream(torch.cuda.current_stream(dev).cuda_stream)

            def arr(t):  # zero-copy view; sync=False: everything runs on torch's current stream
                return cuda.as_cuda_array(t, sync=False)

            align_cuda(arr(lp), arr(labels.to(dev, non_blocking=True)), arr(offsets.to(dev, non_blocking=True)),
                       arr(in_lens.to(dev, non_blocking=True)), arr(tgt_lens.to(dev, non_blocking=True)), int(blank),
                       arr(states), arr(paths), arr(scores), max_target_length=lmax, stream=stream,
                       alpha=arr(alpha), back=arr(back))
        return states, paths, scores
    raise ValueError(f"viterbi_align: unsupported device {dev}; expected cpu or cuda")


def viterbi_align(log_probs: torch.Tensor, targets, input_lengths, target_lengths,
                  blank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Best CTC path per utterance.

    Args:
        log_probs: (T, B, C) float32/float64 log-probs (CPU or CUDA).
        targets: (B, S) padded or (sum(target_lengths),) concatenated label ids (no blanks).
        input_lengths, target_lengths: (B,).
    Returns:
        paths: (B, T) int64, the symbol (blank or label id) emitted at each frame; -1 on frames
        ``>= input_lengths[b]`` and on every frame of an infeasible utterance;
        scores: (B,) float64, the sum of log_probs along the path; ``-inf`` when no alignment is
        possible (fewer than ``L + number of equal neighbours`` frames, or only ``-inf`` paths).
    Ties: stay > advance > skip at each step, and the path ends on the last label unless the final
    blank scores strictly more (``torchaudio.functional.forced_align``'s choices).
    """
    _, paths, scores = align(log_probs, targets, input_lengths, target_lengths, blank)
    return paths, scores


def align_states(log_probs: torch.Tensor, targets, input_lengths, target_lengths,
                 blank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`viterbi_align` but returns the extended-state index per frame (B, T) int64
    (``2k + 1`` = the k-th target label, even = a blank), which tells two consecutive identical
    labels apart; -1 where :func:`viterbi_align` has -1."""
    states, _, scores = align(log_probs, targets, input_lengths, target_lengths, blank)
    return states, scores
