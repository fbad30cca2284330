"""Test cases for the CTC CUDA kernel (``speech.kernels.ctc.cuda.ctc_cuda``) against
``torch.nn.functional.ctc_loss`` in float64.

Not collected directly (the name has no ``test_`` prefix): ``tests/kernels/test_ctc_cuda.py`` runs
this file in a subprocess, once under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, which
must be set before numba is imported; small shapes) and once on a real GPU when there is one.

Reference: costs from ``reduction="none"``; gradients from autograd on a float64 leaf
``log_probs`` with ``loss.sum().backward()``, which is torch's convention
``exp(log_probs) - gamma`` (NaN rows for infinite losses, 0 past the input length).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import config, cuda

SIM = bool(config.ENABLE_CUDASIM)
if not SIM and not cuda.is_available():
    pytest.skip("needs numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) or a CUDA GPU", allow_module_level=True)
if SIM:
    # The simulator runs each CUDA thread as a Python thread and releases a barrier by polling
    # them under the GIL: with the default 5 ms switch interval every syncthreads costs milliseconds.
    sys.setswitchinterval(1e-4)

from speech.kernels.ctc import cuda as kc  # noqa: E402  (after the simulator check)

F64 = dict(rtol=1e-9, atol=1e-9)
F32_COST = dict(rtol=1e-5, atol=1e-5)
F32_GRAD = dict(rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------------
# helpers


def pack(targets):
    """list of label lists -> (labels concatenated, offsets, lengths), all int32."""
    lens = np.array([len(t) for t in targets], dtype=np.int32)
    labels = np.concatenate([np.asarray(t, dtype=np.int32).reshape(-1) for t in targets] + [np.zeros(0, np.int32)])
    offs = np.zeros(len(targets), dtype=np.int32)
    offs[1:] = np.cumsum(lens)[:-1]
    return labels.astype(np.int32), offs, lens


def run_cuda(x, targets, in_lens, blank=0, *, from_logits=False, grads=True, **kw):
    """ctc_cuda on host inputs moved to the device; returns (costs, grads or None) on the host."""
    T, B, C = x.shape
    labels, offs, lens = pack(targets)
    d = cuda.to_device
    costs = cuda.device_array(B, np.float64)
    g = cuda.device_array((T, B, C), x.dtype) if grads else None
    kc.ctc_cuda(d(np.ascontiguousarray(x)), d(labels), d(offs), d(np.asarray(in_lens, np.int32)), d(lens), blank,
                costs, g, from_logits=from_logits, **kw)
    return costs.copy_to_host(), (g.copy_to_host() if grads else None)


def run_torch(x, targets, in_lens, blank=0, *, from_logits=False):
    """float64 torch reference: (costs, d sum(costs) / d log_probs)."""
    x = torch.from_numpy(np.asarray(x, dtype=np.float64))
    lp = torch.log_softmax(x, -1) if from_logits else x
    lp = lp.detach().requires_grad_()
    labels, _, lens = pack(targets)
    loss = F.ctc_loss(lp, torch.from_numpy(labels.astype(np.int64)), torch.as_tensor(np.asarray(in_lens, np.int64)),
                      torch.from_numpy(lens.astype(np.int64)), blank=blank, reduction="none", zero_infinity=False)
    loss.sum().backward()
    return loss.detach().numpy(), lp.grad.numpy()


def check(x, targets, in_lens, blank=0, *, from_logits=False, cost_tol=F64, grad_tol=F64, **kw):
    """Compare with torch (inf / NaN positions must match) and return (costs, grads)."""
    c, g = run_cuda(x, targets, in_lens, blank, from_logits=from_logits, **kw)
    rc, rg = run_torch(x, targets, in_lens, blank, from_logits=from_logits)
    np.testing.assert_allclose(c, rc, **cost_tol, err_msg="costs")
    np.testing.assert_allclose(g, rg, **grad_tol, err_msg="grads")
    for b, n in enumerate(in_lens):
        assert (g[n:, b] == 0).all(), f"utterance {b}: rows past its input length {n} must be 0"
    return c, g


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def rand_inputs(rng, T, B, C, *, scale=2.0, dtype=np.float64, logits=False):
    x = rng.normal(scale=scale, size=(T, B, C))
    return (x if logits else log_softmax(x)).astype(dtype)


def rand_targets(rng, B, C, blank, max_len, min_len=0):
    symbols = np.array([c for c in range(C) if c != blank])
    return [list(rng.choice(symbols, size=int(rng.integers(min_len, max_len + 1)))) for _ in range(B)]


def min_frames(labels):
    return len(labels) + sum(1 for i in range(1, len(labels)) if labels[i] == labels[i - 1])


def feasible_lengths(rng, T, targets):
    """Input lengths from each target's minimum to T (T when the minimum exceeds it)."""
    return [int(rng.integers(min(min_frames(t), T), T + 1)) for t in targets]


# ------------------------------------------------------------------------------------------------
# cases


@pytest.mark.parametrize("T,B,C,max_len,seed", [
    (12, 1, 5, 4, 0),
    (40, 7, 29, 20, 1),    # up to 41 extended states: several threads with several states each
    (25, 7, 2, 12, 2),     # C = 2: every target is 1, 1, 1, ... (all neighbours repeated)
    (20, 7, 5, 8, 3),      # few symbols: many repeats, adjacent and not
])
def test_matches_torch(T, B, C, max_len, seed):
    rng = np.random.default_rng(seed)
    x = rand_inputs(rng, T, B, C)
    targets = rand_targets(rng, B, C, 0, max_len, min_len=1)
    in_lens = feasible_lengths(rng, T, targets)
    in_lens[0] = T  # at least one full-length utterance
    c, _ = check(x, targets, in_lens)
    assert np.isfinite(c).all()


def test_lengths_edge_cases():
    rng = np.random.default_rng(4)
    T, C = 10, 5
    cases = [  # (targets, input length, expected cost class)
        ([], 10, "finite"),          # L = 0: only blanks
        ([], 0, "zero"),             # no frames, no labels: p = 1 (torch: 0)
        ([1, 2, 3], 0, "inf"),       # no frames: infeasible, no rows to write
        ([1, 1, 2, 2], 6, "finite"),  # exactly the minimum: 4 labels + 2 separating blanks
        ([1, 1, 2, 2], 5, "inf"),    # one frame short: inf, NaN rows
        ([3], 1, "finite"),          # one frame, one label
        ([1, 2, 3, 4], 4, "finite"),  # minimum without repeats: no blank anywhere
        ([4, 4, 4], 10, "finite"),
    ]
    targets = [t for t, _, _ in cases]
    in_lens = [n for _, n, _ in cases]
    x = rand_inputs(rng, T, len(cases), C)
    c, g = check(x, targets, in_lens)
    for b, (_, n, kind) in enumerate(cases):
        if kind == "finite":
            assert np.isfinite(c[b]) and c[b] > 0
        elif kind == "zero":
            assert c[b] == 0
        else:
            assert c[b] == np.inf
            assert np.isnan(g[:n, b]).all()


def test_no_frames_at_all():
    c, g = run_cuda(np.zeros((0, 3, 4)), [[], [1, 2], []], [0, 0, 0])
    np.testing.assert_array_equal(c, [0.0, np.inf, 0.0])
    assert g.shape == (0, 3, 4)


def test_blank_is_last_symbol():
    rng = np.random.default_rng(5)
    T, B, C = 18, 4, 6
    x = rand_inputs(rng, T, B, C)
    targets = [[0, 0, 1], [4, 3, 4, 3, 2], [0], [2, 2, 2, 1, 1]]
    check(x, targets, [18, 15, 3, 18], blank=C - 1)


def test_float32():
    rng = np.random.default_rng(6)
    T, B, C = 30, 5, 29
    x = rand_inputs(rng, T, B, C, dtype=np.float32)
    targets = rand_targets(rng, B, C, 0, 12)
    in_lens = feasible_lengths(rng, T, targets)
    check(x, targets, in_lens, cost_tol=F32_COST, grad_tol=F32_GRAD)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_from_logits(dtype):
    rng = np.random.default_rng(7)
    T, B, C = 20, 4, 7
    x = rand_inputs(rng, T, B, C, scale=3.0, dtype=dtype, logits=True) + 5.0  # not normalised
    targets = rand_targets(rng, B, C, 2, 6)
    in_lens = feasible_lengths(rng, T, targets)
    f32 = dtype == np.float32
    c, g = check(x, targets, in_lens, blank=2, from_logits=True, cost_tol=F32_COST if f32 else F64,
                 grad_tol=F32_GRAD if f32 else F64)
    # the same costs as feeding log_softmax(x) without from_logits
    c2, _ = run_cuda(log_softmax(x.astype(np.float64)), targets, in_lens, 2, grads=False)
    np.testing.assert_allclose(c, c2, **(F32_COST if f32 else F64))
    # softmax - gamma: every valid row sums to 0
    for b, n in enumerate(in_lens):
        np.testing.assert_allclose(g[:n, b].astype(np.float64).sum(-1), 0.0, atol=1e-4 if f32 else 1e-10)


def test_costs_only():
    rng = np.random.default_rng(8)
    T, B, C = 15, 3, 6
    x = rand_inputs(rng, T, B, C)
    targets = [[1, 2, 2], [], [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5]]  # the last is infeasible
    c, g = run_cuda(x, targets, [15, 7, 15], grads=False)
    assert g is None
    rc, _ = run_torch(x, targets, [15, 7, 15])
    np.testing.assert_allclose(c, rc, **F64)


def confidently_wrong(T, B, C, targets, bad_frame_utt):
    """Logits where blank is near-certain and every target label has log-prob ~ -800 (its exp is 0
    in float64); in utterance ``bad_frame_utt`` frame 0 also gives blank and the first label -800,
    so the very first scale sum is 0."""
    x = np.full((T, B, C), -5.0)
    x[:, :, 0] = 0.0
    for b, t in enumerate(targets):
        for lab in t:
            x[:, b, lab] = -800.0
    x[0, bad_frame_utt, 0] = -800.0
    return x


@pytest.mark.parametrize("from_logits", [False, True])
def test_underflow_falls_back_to_log_space(from_logits):
    T, C = 12, 5
    targets = [[1, 2, 3], [1, 1], [2, 4]]
    x = confidently_wrong(T, 3, C, targets, bad_frame_utt=2)
    rng = np.random.default_rng(9)
    x[:, 1, :] = rng.normal(size=(T, C))  # an ordinary utterance beside them
    if not from_logits:
        x = log_softmax(x)
    c, g = check(x, targets, [T, T, T], from_logits=from_logits)
    assert 2000 < c[0] < 3000 and np.isfinite(g[:, 0]).all()  # three labels at ~ -800 each
    assert 1500 < c[2] < 1700 and np.isfinite(g[:, 2]).all()  # two labels (or the blank of frame 0 + two)
    assert np.isfinite(c[1])


@pytest.mark.parametrize("from_logits", [False, True])
def test_nan_stays_in_its_utterance(from_logits):
    rng = np.random.default_rng(10)
    T, B, C = 14, 3, 6
    x = rand_inputs(rng, T, B, C, logits=from_logits)
    x[4, 1, :] = np.nan
    targets = [[1, 2], [3, 3, 4], [5]]
    c, g = check(x, targets, [14, 12, 9], from_logits=from_logits)
    assert np.isnan(c[1]) and np.isnan(g[:12, 1]).all() and (g[12:, 1] == 0).all()
    assert np.isfinite(c[[0, 2]]).all() and np.isfinite(g[:, [0, 2]]).all()


def test_nan_past_the_input_length_is_ignored():
    rng = np.random.default_rng(11)
    x = rand_inputs(rng, 10, 2, 5)
    x[8:, 0, :] = np.nan
    c, g = check(x, [[1, 2], [3]], [8, 10])
    assert np.isfinite(c).all() and (g[8:, 0] == 0).all()


def test_everything_in_log_space(monkeypatch):
    """Targets too long for the recursion kernel run entirely in the log-space kernel."""
    monkeypatch.setattr(kc, "_MAX_NT", 0)
    rng = np.random.default_rng(12)
    T, B, C = 16, 5, 6
    x = rand_inputs(rng, T, B, C, logits=True)
    targets = [[1, 2, 2, 3], [], [4], [1, 2, 3], [5, 5]]
    in_lens = [16, 9, 0, 2, 16]  # [4] without frames and [1, 2, 3] in 2 frames: inf
    c, _ = check(x, targets, in_lens, blank=0, from_logits=True)
    assert c[2] == np.inf and c[3] == np.inf and np.isfinite(c[[0, 1, 4]]).all()


def test_many_threads_with_two_states_each(monkeypatch):
    """A layout with K = 2 states per thread: most neighbours come from other threads."""
    monkeypatch.setattr(kc, "_MAX_K", 2)
    rng = np.random.default_rng(13)
    T, B, C = 45, 2, 29
    x = rand_inputs(rng, T, B, C)
    targets = [list(rng.integers(1, C, size=20)), [7, 7, 7, 8, 8, 9, 7, 7]]
    check(x, targets, [45, 30])


def test_workspace_and_max_target_length():
    rng = np.random.default_rng(14)
    T, B, C = 12, 3, 6
    ws = cuda.device_array(kc.workspace_size(T, B, 5) + 7, np.float64)
    x = rand_inputs(rng, T, B, C)
    targets = [[1, 2, 3], [4, 4], [5, 1, 2, 3, 4]]
    check(x, targets, [12, 12, 10], workspace=ws, max_target_length=5)
    # reused with other sizes, a generous max_target_length
    x2 = rand_inputs(rng, 8, 2, C)
    check(x2, [[2], [3, 1]], [8, 5], workspace=ws, max_target_length=4)
    # a target longer than max_target_length: NaN for it (never out-of-bounds writes), others exact
    c, g = run_cuda(x, targets, [12, 12, 10], workspace=ws, max_target_length=3)
    rc, rg = run_torch(x, targets, [12, 12, 10])
    assert np.isnan(c[2]) and np.isnan(g[:10, 2]).all()
    np.testing.assert_allclose(c[:2], rc[:2], **F64)
    np.testing.assert_allclose(g[:, :2], rg[:, :2], **F64)
    with pytest.raises(ValueError, match="workspace"):
        run_cuda(x, targets, [12, 12, 10], workspace=cuda.device_array(10, np.float64))


def test_rejects_bad_arguments():
    x = log_softmax(np.random.default_rng(15).normal(size=(4, 2, 3)))
    labels, offs, lens = pack([[1], [2]])
    d = cuda.to_device
    il = d(np.array([4, 4], np.int32))
    costs = cuda.device_array(2, np.float64)
    with pytest.raises(TypeError, match="CUDA array"):
        kc.ctc_cuda(x, d(labels), d(offs), il, d(lens), 0, costs, None)  # host array
    with pytest.raises(TypeError, match="input_lengths"):
        kc.ctc_cuda(d(x), d(labels), d(offs), d(np.array([4, 4], np.int64)), d(lens), 0, costs, None)
    with pytest.raises(TypeError, match="grads"):
        kc.ctc_cuda(d(x), d(labels), d(offs), il, d(lens), 0, costs, cuda.device_array((4, 2, 3), np.float32))
    with pytest.raises(ValueError, match="blank"):
        kc.ctc_cuda(d(x), d(labels), d(offs), il, d(lens), 3, costs, None)


@settings(max_examples=8, deadline=None, database=None)
# a subnormal scale factor: 1 / c overflowed to inf and the gradient came out NaN (CI, 2026-11-29)
@example(seed=37294136, T=7, B=2, C=5, max_len=3, scale=400.0, from_logits=False, blank_last=False)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 10), B=st.integers(1, 3), C=st.integers(2, 6),
       max_len=st.integers(0, 5), scale=st.sampled_from([1.0, 4.0, 400.0]), from_logits=st.booleans(),
       blank_last=st.booleans())
def test_random_cases(seed, T, B, C, max_len, scale, from_logits, blank_last):
    """Random shapes, lengths (feasible or not), blanks and scales (400: float64 underflow)."""
    rng = np.random.default_rng(seed)
    blank = C - 1 if blank_last else 0
    x = rand_inputs(rng, T, B, C, scale=scale, logits=from_logits)
    targets = rand_targets(rng, B, C, blank, max_len)
    in_lens = [int(n) for n in rng.integers(0, T + 1, size=B)]
    c, g = run_cuda(x, targets, in_lens, blank, from_logits=from_logits)
    rc, rg = run_torch(x, targets, in_lens, blank, from_logits=from_logits)
    np.testing.assert_allclose(c, rc, **F64)
    np.testing.assert_allclose(g, rg, **F64)


@pytest.mark.skipif(SIM, reason="larger shapes only on a real GPU")
@pytest.mark.parametrize("T,B,C,max_len,dtype,from_logits", [
    (150, 16, 60, 60, np.float64, False),   # 121 states: 32 threads x 4
    (300, 8, 100, 200, np.float32, True),   # up to 401 states: 64 threads x 8
    (120, 4, 40, 1100, np.float64, False),  # 2201 states: log-space kernel only (targets mostly infeasible)
])
def test_gpu_larger(T, B, C, max_len, dtype, from_logits):
    rng = np.random.default_rng(16)
    x = rand_inputs(rng, T, B, C, dtype=dtype, logits=from_logits)
    targets = rand_targets(rng, B, C, 0, max_len, min_len=max_len // 2)
    if max_len > T:
        targets[0] = list(rng.integers(1, C, size=T // 2))  # one feasible utterance
        targets[1] = list(rng.integers(1, C, size=max_len))  # keeps Smax above the linear limit
    in_lens = feasible_lengths(rng, T, targets)
    f32 = dtype == np.float32
    check(x, targets, in_lens, from_logits=from_logits, cost_tol=F32_COST if f32 else F64,
          grad_tol=F32_GRAD if f32 else dict(rtol=0, atol=1e-8))
