"""Viterbi forced alignment (speech.kernels.align): numpy reference vs numba CPU kernel vs
``torchaudio.functional.forced_align``; the CUDA kernel's cases (tests/kernels/align_cuda_cases.py)
run in a subprocess under numba's CUDA simulator, and on a real GPU when there is one.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio.functional as TAF
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.kernels.align import align, align_reference, align_states, viterbi_align, viterbi_reference

sys.path.insert(0, str(Path(__file__).parent))
from cuda_harness import real_gpu, run_cases  # noqa: E402

CASES = "tests/kernels/align_cuda_cases.py"
TOL = {np.float32: 1e-4, np.float64: 1e-9}


# ------------------------------------------------------------------------------------------------
# helpers


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def min_frames(labels):
    return len(labels) + sum(1 for i in range(1, len(labels)) if labels[i] == labels[i - 1])


def rand_case(rng, T, B, C, blank, max_len, dtype=np.float64, min_len=1):
    """Random log-probs (T, B, C), targets (list of lists, with repeats when C is small), feasible lengths."""
    lp = log_softmax(rng.normal(scale=2.0, size=(T, B, C))).astype(dtype)
    symbols = np.array([c for c in range(C) if c != blank])
    targets, in_lens = [], []
    for _ in range(B):
        while True:
            tg = [int(v) for v in rng.choice(symbols, size=int(rng.integers(min_len, max_len + 1)))]
            if min_frames(tg) <= T:
                break
        targets.append(tg)
        in_lens.append(int(rng.integers(min_frames(tg), T + 1)))
    in_lens[0] = T
    return lp, targets, in_lens


def padded(targets, fill=0):
    S = max([len(t) for t in targets] + [1])
    out = torch.full((len(targets), S), fill, dtype=torch.int64)
    for b, t in enumerate(targets):
        out[b, :len(t)] = torch.tensor(t, dtype=torch.int64)
    return out


def pack(targets):
    lens = np.array([len(t) for t in targets], dtype=np.int64)
    labels = np.array([v for t in targets for v in t], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    return labels, offs, lens


def run_ref(lp, targets, in_lens, blank):
    labels, offs, lens = pack(targets)
    return align_reference(lp, labels, offs, np.asarray(in_lens), lens, blank)


def run_kernel(lp, targets, in_lens, blank):
    s, p, sc = align(torch.from_numpy(lp), padded(targets), torch.tensor(in_lens), torch.tensor([len(t) for t in targets]),
                     blank)
    return s.numpy(), p.numpy(), sc.numpy()


def run_torchaudio(lp, targets, in_lens, blank):
    """Per utterance (torchaudio aligns one at a time): (paths (B, T) with -1 padding, scores (B,))."""
    T, B, _ = lp.shape
    paths = np.full((B, T), -1, dtype=np.int64)
    scores = np.empty(B)
    for b in range(B):
        n = in_lens[b]
        x = torch.from_numpy(np.ascontiguousarray(lp[:n, b]))[None]
        ali, sc = TAF.forced_align(x, torch.tensor([targets[b]], dtype=torch.int32), blank=blank)
        paths[b, :n] = ali[0].numpy()
        scores[b] = sc.double().sum().item()
    return paths, scores


def check_valid_path(states, lp_b, labels, blank, score, tol):
    """states (Tb,) obey the CTC topology and the score is the sum of the emitted log-probs."""
    ext = np.full(2 * len(labels) + 1, blank)
    ext[1::2] = labels
    S = len(ext)
    assert states[0] in (0, 1) and states[-1] in (S - 1, S - 2)
    for a, b in zip(states[:-1], states[1:]):
        d = b - a
        assert d in (0, 1, 2), (a, b)
        if d == 2:
            assert b % 2 == 1 and ext[b] != ext[a], (a, b)
    assert abs(float(lp_b[np.arange(len(states)), ext[states]].astype(np.float64).sum()) - score) <= tol


def peaked_case(rng, path, C, sharp=8.0):
    """Log-probs (T, C) strongly peaked on ``path`` (symbol per frame): a unique best path."""
    T = len(path)
    x = rng.normal(scale=0.5, size=(T, C))
    x[np.arange(T), path] += sharp
    return log_softmax(x)


# ------------------------------------------------------------------------------------------------
# reference vs CPU kernel vs torchaudio


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,blank,seed", [(1, 0, 0), (7, 0, 1), (7, 4, 2), (1, 2, 3)])
def test_random_matches_reference_and_torchaudio(B, blank, seed, dtype):
    rng = np.random.default_rng(seed)
    T, C = 30, 5  # few symbols: many repeated neighbours
    lp, targets, in_lens = rand_case(rng, T, B, C, blank, 12, dtype)
    rs, rp, rsc = run_ref(lp, targets, in_lens, blank)
    ks, kp, ksc = run_kernel(lp, targets, in_lens, blank)
    np.testing.assert_array_equal(ks, rs)  # same arithmetic and tie-breaking: bit-identical
    np.testing.assert_array_equal(kp, rp)
    np.testing.assert_array_equal(ksc, rsc)
    tp, tsc = run_torchaudio(lp, targets, in_lens, blank)
    np.testing.assert_allclose(ksc, tsc, rtol=0, atol=TOL[dtype])
    for b in range(B):
        n = in_lens[b]
        assert (kp[b, n:] == -1).all() and (ks[b, n:] == -1).all()
        check_valid_path(ks[b, :n], lp[:n, b], targets[b], blank, ksc[b], 1e-9)
    # random float inputs: best paths are unique with probability one
    np.testing.assert_array_equal(kp, tp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("blank", [0, 3])
def test_peaked_unique_path(dtype, blank):
    rng = np.random.default_rng(5)
    C = 6
    a, b, c = [v for v in range(C) if v != blank][:3]
    truth = [[blank, a, a, blank, a, b, b, c, blank, blank, c, c, blank], [a, blank, b, c, c, c, c, blank, blank, blank,
                                                                            -1, -1, -1]]
    targets = [[a, a, b, c, c], [a, b, c]]
    T = len(truth[0])
    in_lens = [T, 10]
    lp = np.stack([peaked_case(rng, [max(v, 0) for v in p], C) for p in truth], axis=1).astype(dtype)
    _, kp, ksc = run_kernel(lp, targets, in_lens, blank)
    np.testing.assert_array_equal(kp, np.array(truth))
    tp, tsc = run_torchaudio(lp, targets, in_lens, blank)
    np.testing.assert_array_equal(kp, tp)
    np.testing.assert_allclose(ksc, tsc, rtol=0, atol=TOL[dtype])
    # states tell the two a's apart
    st, _ = align_states(torch.from_numpy(lp), padded(targets), in_lens, [5, 3], blank)
    np.testing.assert_array_equal(st[0].numpy(), [0, 1, 1, 2, 3, 5, 5, 7, 8, 8, 9, 9, 10])


def test_minimum_frames_forced_path():
    """T = L + repeats: the path is forced (labels with one blank between equal neighbours)."""
    rng = np.random.default_rng(6)
    targets = [[1, 1, 2, 2, 3]]
    T = min_frames(targets[0])
    assert T == 7
    lp = log_softmax(rng.normal(size=(T, 1, 4)))
    st, sc = align_states(torch.from_numpy(lp), torch.tensor(targets), [T], [5])
    np.testing.assert_array_equal(st[0].numpy(), [1, 2, 3, 5, 6, 7, 9])
    paths, sc2 = viterbi_align(torch.from_numpy(lp), torch.tensor(targets), [T], [5])
    np.testing.assert_array_equal(paths[0].numpy(), [1, 0, 1, 2, 0, 2, 3])
    assert sc.item() == sc2.item() == pytest.approx(lp[np.arange(T), 0, [1, 0, 1, 2, 0, 2, 3]].sum(), abs=1e-12)
    ta, _ = run_torchaudio(lp, targets, [T], 0)
    np.testing.assert_array_equal(paths.numpy(), ta)


def test_infeasible_and_empty():
    """Too few frames -> score -inf and -1 on every frame; L = 0 -> all blanks; no frames, no labels -> 0."""
    rng = np.random.default_rng(7)
    T, C = 6, 4
    lp = log_softmax(rng.normal(size=(T, 5, C)))
    targets = [[1, 1, 2, 2, 3], [], [], [2], [3, 3]]
    in_lens = [6, 4, 0, 0, 2]
    st, sc = align_states(torch.from_numpy(lp), padded(targets), in_lens, [len(t) for t in targets])
    paths, _ = viterbi_align(torch.from_numpy(lp), padded(targets), in_lens, [len(t) for t in targets])
    assert sc[0] == -np.inf and (st[0] == -1).all() and (paths[0] == -1).all()  # needs 7 frames
    assert sc[1].item() == pytest.approx(lp[:4, 1, 0].sum(), abs=1e-12)
    np.testing.assert_array_equal(paths[1].numpy(), [0, 0, 0, 0, -1, -1])
    assert sc[2].item() == 0.0 and (paths[2] == -1).all()
    assert sc[3] == -np.inf and (paths[3] == -1).all()
    assert sc[4] == -np.inf and (paths[4] == -1).all()  # [3, 3] needs 3 frames
    rs, rp, rsc = run_ref(lp, targets, in_lens, 0)
    np.testing.assert_array_equal(st.numpy(), rs)
    np.testing.assert_array_equal(sc.numpy(), rsc)
    # -inf log-probs that block every path: also "no alignment"
    lp2 = lp.copy()
    lp2[:, 3, 2] = -np.inf
    _, sc2 = viterbi_align(torch.from_numpy(lp2), padded(targets), [6, 4, 0, 6, 6], [len(t) for t in targets])
    assert sc2[3] == -np.inf


def test_input_lengths_shorter_than_T_and_target_formats():
    rng = np.random.default_rng(8)
    lp, targets, in_lens = rand_case(rng, 25, 7, 6, 0, 8)
    in_lens[1:] = [min(n, 15) if min_frames(t) <= 15 else n for n, t in zip(in_lens[1:], targets[1:])]
    x = torch.from_numpy(lp)
    lens = [len(t) for t in targets]
    p1, s1 = viterbi_align(x, padded(targets, fill=0), in_lens, lens)
    p2, s2 = viterbi_align(x, torch.tensor([v for t in targets for v in t]), torch.tensor(in_lens), torch.tensor(lens))
    p3, s3 = viterbi_align(x, padded(targets, fill=5), in_lens, lens)  # padding value is ignored
    for p, s in ((p2, s2), (p3, s3)):
        assert torch.equal(p, p1) and torch.equal(s, s1)
    for b in range(7):  # same as aligning the truncated utterance alone
        n = in_lens[b]
        pb, sb = viterbi_align(x[:n, b:b + 1], [targets[b]], [n], [lens[b]])
        assert torch.equal(pb[0], p1[b, :n]) and sb.item() == s1[b].item()
        assert (p1[b, n:] == -1).all()
    assert p1.dtype == torch.int64 and s1.dtype == torch.float64 and p1.shape == (7, 25)


def test_ties_are_deterministic():
    """Uniform log-probs: every path ties. Rules: end on the last label, then stay as long as possible
    going backwards, i.e. the labels come as early as possible and the last label fills the rest."""
    lp = np.full((8, 1, 4), np.log(0.25))
    paths, sc = viterbi_align(torch.from_numpy(lp), torch.tensor([[1, 2, 2]]), [8], [3])
    np.testing.assert_array_equal(paths[0].numpy(), [1, 2, 0, 2, 2, 2, 2, 2])
    assert sc.item() == pytest.approx(8 * np.log(0.25))
    ta, _ = run_torchaudio(lp, [[1, 2, 2]], [8], 0)
    np.testing.assert_array_equal(paths.numpy(), ta)
    rs, rp, _ = run_ref(lp, [[1, 2, 2]], [8], 0)
    np.testing.assert_array_equal(rp, paths.numpy())


def test_validation():
    lp = torch.randn(5, 1, 4).log_softmax(-1)
    with pytest.raises(ValueError, match="blank"):
        viterbi_align(lp, torch.tensor([[0, 1]]), [5], [2])
    with pytest.raises(ValueError):
        viterbi_align(lp, torch.tensor([[1, 4]]), [5], [2])
    with pytest.raises(ValueError):
        viterbi_align(lp, torch.tensor([[1]]), [6], [1])
    with pytest.raises(TypeError):
        viterbi_align(lp.half(), torch.tensor([[1]]), [5], [1])
    with pytest.raises(ValueError):
        viterbi_align(lp[0], torch.tensor([[1]]), [5], [1])


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_hypothesis_matches_reference(data):
    T = data.draw(st.integers(0, 12), label="T")
    B = data.draw(st.integers(1, 4), label="B")
    C = data.draw(st.integers(2, 5), label="C")
    blank = data.draw(st.integers(0, C - 1), label="blank")
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    lp = log_softmax(rng.normal(scale=data.draw(st.sampled_from([0.1, 1.0, 5.0])), size=(T, B, C))).astype(dtype)
    if data.draw(st.booleans(), label="quantize"):  # many exact ties
        lp = np.round(lp).astype(dtype)
    symbols = [c for c in range(C) if c != blank]
    targets = [data.draw(st.lists(st.sampled_from(symbols), max_size=6), label=f"target{b}") for b in range(B)]
    in_lens = [data.draw(st.integers(0, T), label=f"len{b}") for b in range(B)]
    rs, rp, rsc = run_ref(lp, targets, in_lens, blank)
    ks, kp, ksc = run_kernel(lp, targets, in_lens, blank)
    np.testing.assert_array_equal(ks, rs)
    np.testing.assert_array_equal(kp, rp)
    np.testing.assert_array_equal(ksc, rsc)
    for b in range(B):
        n = in_lens[b]
        feasible = min_frames(targets[b]) <= n and (n > 0 or not targets[b])
        assert np.isfinite(ksc[b]) == feasible
        if feasible and n:
            check_valid_path(ks[b, :n], lp[:n, b], targets[b], blank, ksc[b], 1e-9)
            # optimal: no better than torchaudio's (its float32 accumulation aside)
            if targets[b]:
                _, tsc = run_torchaudio(lp[:, b:b + 1], [targets[b]], [n], blank)
                assert ksc[b] >= tsc[0] - TOL[dtype]
        else:
            assert (kp[b] == -1).all()


def test_single_utterance_reference_api():
    lp = log_softmax(np.random.default_rng(9).normal(size=(6, 4)))
    states, score = viterbi_reference(lp, [1, 2])
    assert states.shape == (6,) and states.dtype == np.int64 and np.isfinite(score)


# ------------------------------------------------------------------------------------------------
# CUDA kernel: in a subprocess (numba reads NUMBA_ENABLE_CUDASIM once, at import)


def _run_cases(simulator: bool, timeout: int) -> None:
    run_cases(CASES, simulator, timeout)


def test_align_cuda_in_simulator():
    _run_cases(simulator=True, timeout=600)


def _real_gpu() -> bool:
    return real_gpu()


@pytest.mark.skipif(not _real_gpu(), reason="needs a CUDA GPU")
def test_align_cuda_on_gpu():
    _run_cases(simulator=False, timeout=900)


def test_align_cuda_kernel_compiles_for_the_device():
    """Type-check and compile the kernel to PTX for both input dtypes (needs NVVM, not a GPU)."""
    import numba
    from numba import config, cuda

    if config.ENABLE_CUDASIM:
        pytest.skip("the simulator cannot compile")
    gpu = _real_gpu()
    cc = cuda.get_current_device().compute_capability if gpu else (8, 0)
    try:
        cuda.compile_ptx(lambda a: None, (numba.float64[::1],), cc=cc)
    except Exception as e:  # no NVVM / CUDA toolkit
        pytest.skip(f"NVVM unavailable: {e}")
    from speech.kernels.align import cuda as ka

    ty = numba.typeof
    i32 = ty(np.zeros(1, np.int32))
    for dt in (np.float32, np.float64):
        sig = (ty(np.zeros((1, 1, 1), dt)), i32, i32, i32, i32, numba.int64, ty(np.zeros((1, 1, 1))),
               ty(np.zeros((1, 1, 1), np.int8)), ty(np.zeros((1, 1), np.int64)), ty(np.zeros((1, 1), np.int64)),
               ty(np.zeros(1)))
        ptx, _ = cuda.compile_ptx(ka._align_kernel.py_func, sig, cc=cc)
        assert ".entry" in ptx
