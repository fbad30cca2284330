"""The CPU loss's forward in one compiled call: target checks, then the kernels of :mod:`.cpu`.

A training step calls the loss once, right after the model's forward has evicted everything else
from the caches; there, each Python-level operation on a small array (a numpy or torch call,
a kernel dispatch, a thread-count switch) costs tens of microseconds, and on the small CTC
shapes those added up to a third of the loss. So the checks and the flattening of the targets
are one compiled function (:func:`flatten_targets`), and the forward kernels run from one
compiled driver (:func:`ctc_forward`) that also picks, pass by pass, whether to run on numba's
threads or on the calling thread alone (a pass under ``serial_below`` elements: waking the other
threads costs more than it saves, and a scheduler time slice when another process holds their core).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from speech.kernels.ctc.cpu import (
    ctc_cpu,
    ctc_cpu_serial,
    emissions,
    emissions_serial,
    log_normalizer,
    log_normalizer_serial,
)

# status codes of flatten_targets (functional._prepare_np turns them into messages)
OK, NEGATIVE_LENGTH, INPUT_TOO_LONG, TARGET_TOO_LONG, COUNT_MISMATCH, BLANK_LABEL, LABEL_RANGE = range(7)


@njit(cache=True)
def flatten_targets(flat, S, in_lens, tgt_lens, T, C, blank):
    """Check the lengths and targets like torch does and concatenate the targets.

    flat: int64 targets, either (B * S,) from a padded (B, S) array (``S >= 0``) or the
    concatenated (sum L,) ones (``S < 0``); in_lens, tgt_lens: (B,) int64.
    Returns (status, labels, offsets, in_lens, tgt_lens): the arrays int32, empty unless status is OK.
    """
    B = in_lens.shape[0]
    empty = np.empty(0, np.int32)
    total = 0
    for b in range(B):
        if in_lens[b] < 0 or tgt_lens[b] < 0:
            return NEGATIVE_LENGTH, empty, empty, empty, empty
    for b in range(B):
        if in_lens[b] > T:
            return INPUT_TOO_LONG, empty, empty, empty, empty
        total += tgt_lens[b]
    if S >= 0:
        for b in range(B):
            if tgt_lens[b] > S:
                return TARGET_TOO_LONG, empty, empty, empty, empty
    elif total != flat.shape[0]:
        return COUNT_MISMATCH, empty, empty, empty, empty
    labels = np.empty(total, np.int64)
    offsets = np.empty(B, np.int32)
    k = 0
    for b in range(B):
        offsets[b] = k
        start = b * S if S >= 0 else k
        for i in range(tgt_lens[b]):
            labels[k] = flat[start + i]
            k += 1
    for i in range(total):  # torch's order: the blank first, then the range
        if labels[i] == blank:
            return BLANK_LABEL, empty, empty, empty, empty
    for i in range(total):
        if labels[i] < 0 or labels[i] >= C:
            return LABEL_RANGE, empty, empty, empty, empty
    return OK, labels.astype(np.int32), offsets, in_lens.astype(np.int32), tgt_lens.astype(np.int32)


@njit(cache=True)
def ctc_forward(x, st, sb, from_logits, norm, em, work, labels, offsets, in_lens, tgt_lens, blank, costs, compute_grad,
                serial_below):
    """Costs into ``costs`` and, with ``compute_grad``, the occupancies into ``em``.

    x: (T * B, C) rows (see :mod:`.cpu`); norm: (T, B) float64, zeros, or filled here from the
    logits when ``from_logits``; em: (B, T, Lmax + 1) float64; work: (threads, >= 2 T (Lmax + 2)).
    """
    T, B = norm.shape
    C = x.shape[1]
    J = em.shape[2]
    if from_logits and T * B:
        if T * B * C < serial_below:
            log_normalizer_serial(x, st, sb, norm)
        else:
            log_normalizer(x, st, sb, norm)
    # each utterance's symbols (blank, then its labels, padded with blank) and their ascending order
    symbols = np.full((B, J), blank, np.int64)
    order = np.empty((B, J), np.int64)
    states = 0
    for b in range(B):
        for i in range(tgt_lens[b]):
            symbols[b, i + 1] = labels[offsets[b] + i]
        order[b] = np.argsort(symbols[b])
        states += in_lens[b] * (2 * tgt_lens[b] + 1)
    if T * B * max(C, J) < serial_below:  # a full read of the rows (see cpu.emissions)
        emissions_serial(x, st, sb, norm, symbols, order, em)
    else:
        emissions(x, st, sb, norm, symbols, order, em)
    if 4 * states < serial_below:  # ~4 passes over each utterance's states
        ctc_cpu_serial(x, st, sb, norm, em, work, labels, offsets, in_lens, tgt_lens, blank, costs, compute_grad)
    else:
        ctc_cpu(x, st, sb, norm, em, work, labels, offsets, in_lens, tgt_lens, blank, costs, compute_grad)
