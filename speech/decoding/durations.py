"""Phoneme durations for synthesis training (FastSpeech 2) from the toolkit's Viterbi CTC aligner.

A CTC acoustic model's log-probs and a phoneme sequence go through the forced aligner
(:func:`speech.kernels.align.align`); its best path is turned into one integer duration per
phoneme that sums to the number of frames, then (optionally) mapped onto the mel frame rate.

Frame ownership rule (:func:`path_to_durations`): every frame belongs to exactly one phoneme.

- a phoneme owns the frames where the path emits it (the label and its repeats);
- a run of ``n`` blank frames between phoneme ``k`` and phoneme ``k + 1`` is split: the first
  ``n // 2`` frames go to phoneme ``k`` (left), the remaining ``n - n // 2`` to phoneme ``k + 1``
  (right; so an odd middle frame goes right);
- leading blanks go to the first phoneme, trailing blanks to the last.

Equivalently, with ``first[k]`` / ``last[k]`` the first / last frame that emits phoneme ``k``, the
boundary between ``k`` and ``k + 1`` is ``last[k] + 1 + (first[k + 1] - last[k] - 1) // 2`` and
the durations are the differences of ``[0, boundaries..., T]``.

Frame rates (:func:`upsample_durations`): a CTC model with frame stacking ``factor`` has one
output frame per ``factor`` mel frames, CTC frame ``t`` covering mel frames
``[t * factor, (t + 1) * factor)``. Durations are scaled by ``factor`` and the end is adjusted so
they sum to the mel length: extra mel frames (mel longer than ``factor * T``) go to the last
phoneme; missing ones (the last CTC frame covered a padded, partial stack) are taken from the end,
the last non-zero phoneme first. Every phoneme boundary before the end stays exact.
"""
from __future__ import annotations

import numpy as np
import torch

from speech.kernels.align import align

__all__ = [
    "align_durations",
    "min_frames",
    "path_to_durations",
    "states_to_token_index",
    "upsample_durations",
]


def _np_int(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(np.int64).reshape(-1)


def min_frames(target_ids) -> int:
    """Fewest frames a CTC path for ``target_ids`` needs: ``L`` plus one blank per pair of equal
    neighbours (``"a a"`` needs ``a, blank, a``)."""
    t = _np_int(target_ids)
    return int(t.size + np.count_nonzero(t[1:] == t[:-1]))


def states_to_token_index(states) -> np.ndarray:
    """Aligner extended-state indices (T,) -> target index per frame (T,): ``k`` for state
    ``2k + 1`` (the k-th target label), ``-1`` for blank states (even) and padding (-1)."""
    st = _np_int(states)
    return np.where((st >= 0) & (st % 2 == 1), (st - 1) // 2, -1)


def _walk_path(path: np.ndarray, blank: int) -> np.ndarray:
    """Target index per frame reconstructed from the emitted symbols: a non-blank frame starts a
    new target label unless the previous frame emitted the same symbol (CTC collapses repeats;
    equal consecutive labels are separated by a blank). Blank frames get -1."""
    emit = path != blank
    prev = np.concatenate(([blank], path[:-1]))
    starts = emit & (path != prev)
    return np.where(emit, np.cumsum(starts) - 1, -1)


def path_to_durations(path, target_len: int, blank: int, token_index=None) -> np.ndarray:
    """Durations (frames per target label) from one utterance's best CTC path.

    Args:
        path: (T,) symbol emitted at each frame (blank or a label id), e.g. one row of
            ``viterbi_align``'s paths restricted to the utterance's ``input_length`` frames.
        target_len: L, the number of target labels (phonemes).
        blank: the blank id.
        token_index: optional (T,) target index per frame (``k`` while label ``k`` is emitted,
            ``-1`` on blanks), e.g. :func:`states_to_token_index` of the aligner's states. It tells
            repeated labels apart without relying on the blank between them; without it the index
            is reconstructed by walking ``path``.
    Returns:
        (L,) int64 durations >= 0 (every label emitted by the path gets >= 1) summing to T; the
        frame ownership rule is in the module docstring.
    Raises:
        ValueError: the path contains -1 (no alignment), does not emit exactly ``target_len``
        labels in order, or is inconsistent with ``token_index``.
    """
    p = _np_int(path)
    T, L = p.size, int(target_len)
    if L < 0:
        raise ValueError(f"path_to_durations: target_len must be >= 0, got {L}")
    if (p < 0).any():
        raise ValueError("path_to_durations: the path contains -1 (no alignment for this utterance)")
    if L == 0:
        if T:
            raise ValueError(f"path_to_durations: {T} frames cannot be given to 0 labels")
        return np.zeros(0, dtype=np.int64)
    if token_index is None:
        ti = _walk_path(p, blank)
    else:
        ti = _np_int(token_index)
        if ti.size != T:
            raise ValueError(f"path_to_durations: token_index has {ti.size} frames, path has {T}")
        if not np.array_equal(ti >= 0, p != blank):
            raise ValueError("path_to_durations: token_index and path disagree on which frames are blank")
    frames = np.flatnonzero(ti >= 0)
    ks = ti[frames]
    if frames.size == 0:
        raise ValueError(f"path_to_durations: the path emits no label ({T} frames, all blank) but the "
                         f"target has {L}")
    change = np.flatnonzero(np.diff(ks) != 0)
    first = frames[np.concatenate(([0], change + 1))]
    last = frames[np.concatenate((change, [frames.size - 1]))]
    order = ks[np.concatenate(([0], change + 1))]
    if order.size != L or not np.array_equal(order, np.arange(L)):
        raise ValueError(f"path_to_durations: the path emits {order.size} label segments "
                         f"(expected the {L} target labels in order)")
    gaps = first[1:] - last[:-1] - 1
    bounds = last[:-1] + 1 + gaps // 2
    return np.diff(np.concatenate(([0], bounds, [T]))).astype(np.int64)


def upsample_durations(durations, factor: int, total_frames: int | None = None) -> np.ndarray:
    """Durations at a CTC model's reduced frame rate -> durations at the mel frame rate.

    Each duration is multiplied by ``factor`` (the frame stacking); the sum is then made exactly
    ``total_frames`` (default ``factor * sum(durations)``) by adjusting the end: a surplus of mel
    frames is added to the last phoneme, a deficit is removed from the last phonemes, the last
    non-zero one first (cascading backwards if it runs out). Results are never negative.

    Raises ValueError for a negative duration, ``factor < 1`` or ``total_frames < 0``.
    """
    d = _np_int(durations)
    f = int(factor)
    if f < 1:
        raise ValueError(f"upsample_durations: factor must be >= 1, got {factor}")
    if (d < 0).any():
        raise ValueError("upsample_durations: durations must be non-negative")
    scaled = d * f
    total = int(scaled.sum()) if total_frames is None else int(total_frames)
    if total < 0:
        raise ValueError(f"upsample_durations: total_frames must be >= 0, got {total_frames}")
    if d.size == 0:
        if total:
            raise ValueError(f"upsample_durations: {total} frames cannot be given to 0 phonemes")
        return scaled
    # mel boundary of each phoneme end, clipped to the mel length; the last one is the mel length.
    ends = np.minimum(np.cumsum(scaled), total)
    ends[-1] = total
    return np.diff(np.concatenate(([0], ends))).astype(np.int64)


def align_durations(log_probs, target_ids, blank: int = 0, factor: int = 1,
                    total_frames: int | None = None) -> np.ndarray:
    """Phoneme durations of one utterance by Viterbi forced alignment over the CTC topology.

    Args:
        log_probs: (T, C) CTC log-probabilities (torch tensor on CPU/CUDA, or numpy array).
        target_ids: (L,) phoneme ids (none equal to ``blank``).
        blank: the blank id.
        factor: mel frames per CTC frame (frame stacking); total_frames: the mel length (default
            ``factor * T``). See :func:`upsample_durations`.
    Returns:
        (L,) int64 durations summing to ``total_frames`` (``T`` when factor is 1 and no total).
    Raises:
        ValueError: T is shorter than the CTC topology allows for the target
        (``L + number of equal neighbours > T``), or no path has a finite score.
    """
    lp = log_probs if isinstance(log_probs, torch.Tensor) else torch.from_numpy(np.asarray(log_probs))
    if lp.dim() != 2:
        raise ValueError(f"align_durations: log_probs must be (T, C), got shape {tuple(lp.shape)}")
    if lp.dtype not in (torch.float32, torch.float64):
        lp = lp.to(torch.float32)
    tgt = _np_int(target_ids)
    T, L = int(lp.shape[0]), int(tgt.size)
    if L == 0:
        raise ValueError("align_durations: the target has no phonemes")
    need = min_frames(tgt)
    if need > T:
        raise ValueError(f"align_durations: {T} frames are too few for {L} phonemes "
                         f"(the CTC topology needs {need} = L + repeated neighbours)")
    states, paths, scores = align(lp.unsqueeze(1), torch.from_numpy(tgt).unsqueeze(0), [T], [L], blank)
    if not np.isfinite(float(scores[0])):
        raise ValueError(f"align_durations: no alignment with a finite score ({T} frames, {L} phonemes)")
    path = paths[0].cpu().numpy()
    dur = path_to_durations(path, L, blank, token_index=states_to_token_index(states[0]))
    if factor != 1 or total_frames is not None:
        dur = upsample_durations(dur, factor, total_frames)
    return dur
