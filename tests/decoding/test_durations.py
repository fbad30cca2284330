"""Phoneme durations from the Viterbi CTC aligner: path -> durations, frame-rate upsampling,
end-to-end alignment on synthetic log-probs."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speech.decoding.durations import align_durations, min_frames, path_to_durations, states_to_token_index, upsample_durations

B = 0  # blank


def reference_durations(path, L, blank):
    """Frame-by-frame loop: label frames to their label; a blank run between labels k and k+1
    split first half (n // 2) left, rest right; leading to the first, trailing to the last."""
    owner = [None] * len(path)
    k = -1
    prev = blank
    for t, s in enumerate(path):
        if s != blank:
            if s != prev:
                k += 1
            owner[t] = k
        prev = s
    t = 0
    T = len(path)
    while t < T:
        if owner[t] is not None:
            t += 1
            continue
        u = t
        while u < T and owner[u] is None:
            u += 1
        left = owner[t - 1] if t > 0 else None
        right = owner[u] if u < T else None
        n = u - t
        for i in range(n):
            if left is None:
                owner[t + i] = right
            elif right is None:
                owner[t + i] = left
            else:
                owner[t + i] = left if i < n // 2 else right
        t = u
    d = [0] * L
    for o in owner:
        d[o] += 1
    return d


def random_path(rng, labels, blank=B):
    """A valid CTC path (and its extended states) for ``labels``."""
    path, states = [], []
    for k, lab in enumerate(labels):
        nb = int(rng.integers(0, 4))
        if k > 0 and labels[k - 1] == lab:
            nb = max(nb, 1)
        path += [blank] * nb
        states += [2 * k] * nb
        r = int(rng.integers(1, 4))
        path += [lab] * r
        states += [2 * k + 1] * r
    nb = int(rng.integers(0, 4))
    path += [blank] * nb
    states += [2 * len(labels)] * nb
    return np.array(path), np.array(states)


# ---------------------------------------------------------------------------------------------
# path_to_durations

@pytest.mark.parametrize("path,L,expected", [
    ([1, 1, 2, 2, 2], 2, [2, 3]),                  # no blanks
    ([1, 0, 0, 0, 0, 2], 2, [3, 3]),               # even blank run split in half
    ([1, 0, 0, 0, 2], 2, [2, 3]),                  # odd run: middle frame goes right
    ([1, 0, 2], 2, [1, 2]),                        # a single blank goes right
    ([0, 0, 1, 2, 0, 0, 0], 2, [3, 4]),            # leading / trailing blanks
    ([0, 3, 0], 1, [3]),                           # single phoneme owns everything
    ([5], 1, [1]),
    ([1, 1, 0, 1], 2, [2, 2]),                     # repeated label "a a" separated by a blank
    ([0, 1, 0, 0, 1, 1, 0, 2, 0], 3, [3, 3, 3]),
])
def test_hand_built_paths(path, L, expected):
    d = path_to_durations(np.array(path), L, B)
    assert d.tolist() == expected
    assert d.dtype == np.int64 and d.sum() == len(path)
    assert reference_durations(path, L, B) == expected


def test_nonzero_blank_id_and_torch_input():
    path = torch.tensor([4, 1, 4, 4, 2, 2, 4])
    assert path_to_durations(path, 2, blank=4).tolist() == [3, 4]


def test_token_index_tells_repeats_apart():
    # states for target "a a": a(1) a(1) blank(2) a(3) blank(4)
    states = np.array([1, 1, 2, 3, 4])
    path = np.array([7, 7, 0, 7, 0])
    ti = states_to_token_index(states)
    assert ti.tolist() == [0, 0, -1, 1, -1]
    assert path_to_durations(path, 2, B, token_index=ti).tolist() == [2, 3]
    assert path_to_durations(path, 2, B).tolist() == [2, 3]


def test_states_to_token_index_padding():
    assert states_to_token_index(np.array([0, 1, 2, 3, -1, -1])).tolist() == [-1, 0, -1, 1, -1, -1]


def test_errors():
    with pytest.raises(ValueError, match="all blank"):
        path_to_durations(np.zeros(4, dtype=int), 2, B)
    with pytest.raises(ValueError, match="-1"):
        path_to_durations(np.full(4, -1), 2, B)
    with pytest.raises(ValueError, match="1 label segments"):  # "a a" without the blank: one label
        path_to_durations(np.array([1, 1, 1]), 2, B)
    with pytest.raises(ValueError, match="3 label segments"):
        path_to_durations(np.array([1, 2, 3]), 2, B)
    with pytest.raises(ValueError, match="disagree"):
        path_to_durations(np.array([1, 0, 2]), 2, B, token_index=np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="in order"):
        path_to_durations(np.array([1, 0, 2]), 2, B, token_index=np.array([1, -1, 0]))
    assert path_to_durations(np.zeros(0, dtype=int), 0, B).tolist() == []


def test_random_paths_match_reference_and_sum_to_T():
    rng = np.random.default_rng(0)
    for _ in range(200):
        L = int(rng.integers(1, 7))
        labels = rng.integers(1, 4, size=L)  # small alphabet: many repeated neighbours
        path, states = random_path(rng, labels)
        ref = reference_durations(path.tolist(), L, B)
        d = path_to_durations(path, L, B)
        d2 = path_to_durations(path, L, B, token_index=states_to_token_index(states))
        assert d.tolist() == ref and d2.tolist() == ref
        assert d.sum() == len(path) and (d >= 1).all()


# ---------------------------------------------------------------------------------------------
# upsample_durations

def test_upsample_exact_and_adjusts_end():
    assert upsample_durations([1, 2, 3], 2).tolist() == [2, 4, 6]
    assert upsample_durations([1, 2, 3], 3, 16).tolist() == [3, 6, 7]     # partial last stack
    assert upsample_durations([1, 2, 3], 3, 20).tolist() == [3, 6, 11]    # surplus to the last
    assert upsample_durations([2, 1, 1], 2, 5).tolist() == [4, 1, 0]      # cascades backwards
    assert upsample_durations([2, 1, 0], 2, 5).tolist() == [4, 1, 0]      # last non-zero first
    assert upsample_durations([1, 1], 1, 2).tolist() == [1, 1]


def test_upsample_random_sums_nonnegative():
    rng = np.random.default_rng(1)
    for _ in range(200):
        d = rng.integers(0, 6, size=int(rng.integers(1, 8)))
        f = int(rng.integers(1, 4))
        total = int(max(0, d.sum() * f + rng.integers(-f - 2, f + 3)))
        u = upsample_durations(d, f, total)
        assert u.sum() == total and (u >= 0).all()
        # every phoneme boundary inside the mel length stays exactly scaled
        ends = np.cumsum(d * f)
        np.testing.assert_array_equal(np.cumsum(u)[:-1], np.minimum(ends[:-1], total))


def test_upsample_errors():
    with pytest.raises(ValueError, match="factor"):
        upsample_durations([1, 2], 0)
    with pytest.raises(ValueError, match="non-negative"):
        upsample_durations([1, -2], 2)


# ---------------------------------------------------------------------------------------------
# align_durations

def synthetic_log_probs(path, C, peak=0.0, floor=-8.0):
    lp = np.full((len(path), C), floor, dtype=np.float32)
    lp[np.arange(len(path)), path] = peak
    return lp


@pytest.mark.parametrize("as_torch", [False, True])
def test_align_recovers_known_alignment(as_torch):
    target = np.array([3, 1, 1, 2])                    # repeated "1 1" needs a blank
    path = np.array([0, 0, 3, 3, 3, 0, 1, 1, 0, 0, 1, 2, 2, 0])
    lp = synthetic_log_probs(path, C=5)
    if as_torch:
        lp = torch.from_numpy(lp).log_softmax(-1)
    d = align_durations(lp, target, blank=0)
    assert d.tolist() == path_to_durations(path, 4, 0).tolist() == [5, 4, 2, 3]


def test_align_random_known_alignments():
    rng = np.random.default_rng(2)
    for _ in range(20):
        L = int(rng.integers(1, 6))
        target = rng.integers(1, 4, size=L)
        path, _ = random_path(rng, target)
        d = align_durations(synthetic_log_probs(path, C=4), target)
        assert d.tolist() == reference_durations(path.tolist(), L, 0)
        assert d.sum() == len(path)


def test_align_with_frame_stacking():
    target = np.array([2, 1])
    path = np.array([2, 2, 0, 1, 1])                   # CTC durations [2, 3]
    d = align_durations(synthetic_log_probs(path, C=3), target, factor=3, total_frames=14)
    assert d.tolist() == [6, 8] and d.sum() == 14      # the padded last stack loses one frame
    assert align_durations(synthetic_log_probs(path, C=3), target, factor=2).tolist() == [4, 6]


def test_align_nonzero_blank():
    target = np.array([0, 1])
    path = np.array([2, 0, 0, 2, 2, 1])
    assert align_durations(synthetic_log_probs(path, C=3), target, blank=2).tolist() == [4, 2]


def test_align_exact_minimum_length():
    target = np.array([1, 1, 1])
    assert min_frames(target) == 5
    path = np.array([1, 0, 1, 0, 1])
    assert align_durations(synthetic_log_probs(path, C=2), target).tolist() == [1, 2, 2]


def test_align_too_short_names_lengths():
    target = np.array([1, 1, 2])                       # needs 3 + 1 = 4 frames
    lp = synthetic_log_probs(np.array([1, 0, 2]), C=3)
    with pytest.raises(ValueError, match=r"3 frames.*3 phonemes.*needs 4"):
        align_durations(lp, target)
    with pytest.raises(ValueError, match="no phonemes"):
        align_durations(lp, np.array([], dtype=int))


def test_align_no_finite_path():
    lp = np.full((4, 3), -np.inf, dtype=np.float32)
    with pytest.raises(ValueError, match="finite"):
        align_durations(lp, np.array([1, 2]))
