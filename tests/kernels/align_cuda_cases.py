"""Test cases for the forced-alignment CUDA kernel (``speech.kernels.align.cuda.align_cuda``)
against the numpy reference (bit-identical states, paths and scores expected).

Not collected directly (no ``test_`` prefix): ``tests/kernels/test_align.py`` runs this file in a
subprocess, under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, small shapes) and on a real
GPU when there is one (there the torch-facing ``viterbi_align`` on CUDA tensors is checked too).
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from numba import config, cuda

SIM = bool(config.ENABLE_CUDASIM)
if not SIM and not cuda.is_available():
    pytest.skip("needs numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) or a CUDA GPU", allow_module_level=True)
if SIM:
    sys.setswitchinterval(1e-4)  # the simulator polls its threads at every syncthreads under the GIL

from speech.kernels.align import align_reference  # noqa: E402
from speech.kernels.align import cuda as ka  # noqa: E402


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def pack(targets):
    lens = np.array([len(t) for t in targets], dtype=np.int32)
    labels = np.array([v for t in targets for v in t], dtype=np.int32)
    offs = np.zeros(len(targets), dtype=np.int32)
    offs[1:] = np.cumsum(lens)[:-1]
    return labels, offs, lens


def min_frames(labels):
    return len(labels) + sum(1 for i in range(1, len(labels)) if labels[i] == labels[i - 1])


def check(lp, targets, in_lens, blank=0):
    T, B, _ = lp.shape
    labels, offs, lens = pack(targets)
    if labels.size == 0:
        labels = np.zeros(1, np.int32)  # keep the device array non-empty
    d = cuda.to_device
    states = cuda.device_array((B, T), np.int64)
    paths = cuda.device_array((B, T), np.int64)
    scores = cuda.device_array(B, np.float64)
    ka.align_cuda(d(np.ascontiguousarray(lp)), d(labels), d(offs), d(np.asarray(in_lens, np.int32)), d(lens), blank,
                  states, paths, scores, max_target_length=int(lens.max()))
    rs, rp, rsc = align_reference(lp, labels, offs, np.asarray(in_lens), lens, blank)
    np.testing.assert_array_equal(states.copy_to_host(), rs)
    np.testing.assert_array_equal(paths.copy_to_host(), rp)
    np.testing.assert_array_equal(scores.copy_to_host(), rsc)
    return rsc


def rand_case(rng, T, B, C, blank, max_len, dtype):
    lp = log_softmax(rng.normal(scale=2.0, size=(T, B, C))).astype(dtype)
    symbols = np.array([c for c in range(C) if c != blank])
    targets, in_lens = [], []
    for _ in range(B):
        while True:
            tg = [int(v) for v in rng.choice(symbols, size=int(rng.integers(1, max_len + 1)))]
            if min_frames(tg) <= T:
                break
        targets.append(tg)
        in_lens.append(int(rng.integers(min_frames(tg), T + 1)))
    in_lens[0] = T
    return lp, targets, in_lens


@pytest.mark.parametrize("T,B,C,blank,max_len,dtype,seed", [
    (10, 1, 5, 0, 3, np.float64, 0),
    (14, 7, 4, 0, 6, np.float32, 1),   # repeats, padding frames, float32
    (14, 7, 5, 3, 6, np.float64, 2),   # blank != 0
    (16, 2, 12, 0, 10, np.float64, 3),  # S = 21 > threads per block in the simulator
])
def test_random_matches_reference(T, B, C, blank, max_len, dtype, seed):
    rng = np.random.default_rng(seed)
    lp, targets, in_lens = rand_case(rng, T, B, C, blank, max_len, dtype)
    assert np.isfinite(check(lp, targets, in_lens, blank)).all()


def test_edge_cases():
    """Minimum frames (forced path), infeasible (-inf, all -1), L = 0, no frames, ties."""
    rng = np.random.default_rng(4)
    T, C = 7, 4
    lp = log_softmax(rng.normal(size=(T, 7, C)))
    lp[:, 5:] = np.log(0.25)  # uniform: every path ties (stay / advance / skip tie-breaking)
    targets = [[1, 1, 2, 2, 3], [1, 1, 2, 2, 3], [], [], [2], [1, 2, 2], [1, 2]]
    in_lens = [7, 6, 3, 0, 0, 7, 7]
    sc = check(lp, targets, in_lens)
    assert np.isfinite(sc[0]) and sc[1] == -np.inf and np.isfinite(sc[2]) and sc[3] == 0.0 and sc[4] == -np.inf


@pytest.mark.skipif(SIM, reason="torch CUDA tensors need a real GPU")
def test_torch_api_on_gpu():
    import torch

    from speech.kernels.align import align

    rng = np.random.default_rng(5)
    for dtype in (np.float32, np.float64):
        lp, targets, in_lens = rand_case(rng, 200, 16, 30, 0, 60, dtype)
        tg = [torch.tensor(t) for t in targets]
        args = (torch.cat(tg), torch.tensor(in_lens), torch.tensor([len(t) for t in targets]))
        cpu = align(torch.from_numpy(lp), *args)
        gpu = align(torch.from_numpy(lp).cuda(), *args)
        for a, b in zip(cpu, gpu):
            assert b.is_cuda
            assert torch.equal(a, b.cpu())
