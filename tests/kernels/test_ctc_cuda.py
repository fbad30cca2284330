"""The CTC CUDA kernel's tests (tests/kernels/cuda_cases.py), run in subprocesses: numba reads
NUMBA_ENABLE_CUDASIM once, at import, so the simulator run needs a fresh interpreter.

- always: under numba's CUDA simulator (what CI runs; small shapes, a few tens of seconds);
- on a machine with a CUDA GPU: the same cases plus larger ones on the device;
- when NVVM is installed (no GPU needed): every kernel variant compiles for a real target, which
  the simulator (plain Python) never checks.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from cuda_harness import real_gpu, run_cases  # noqa: E402

CASES = "tests/kernels/cuda_cases.py"


def _run_cases(simulator: bool, timeout: int) -> None:
    run_cases(CASES, simulator, timeout)


def test_ctc_cuda_in_simulator():
    _run_cases(simulator=True, timeout=600)


def _real_gpu() -> bool:
    return real_gpu()


@pytest.mark.skipif(not _real_gpu(), reason="needs a CUDA GPU")
def test_ctc_cuda_on_gpu():
    _run_cases(simulator=False, timeout=900)


def test_ctc_cuda_kernels_compile_for_the_device():
    """Type-check and compile every kernel to PTX (needs NVVM, not a GPU)."""
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
    import numba.cuda.dispatcher as disp

    from speech.kernels.ctc import cuda as kc

    class _Device:  # device functions are compiled for "the current device": pretend there is one
        compute_capability = cc

    mp = pytest.MonkeyPatch()
    if not gpu:
        mp.setattr(disp, "get_current_device", lambda: _Device())
    try:
        ty = numba.typeof
        i32 = ty(np.zeros(1, np.int32))
        f64v = ty(np.zeros(1, np.float64))
        f64m = ty(np.zeros((1, 1), np.float64))
        f64t = ty(np.zeros((1, 1, 1), np.float64))
        i, b = numba.int64, numba.boolean
        for dt in (np.float32, np.float64):
            lp = ty(np.zeros((1, 1, 1), dt))
            kernels = [
                (kc._prep_kernel, (lp, i32, i32, i32, i32, i, b, i, i, i, f64t, f64m, f64t)),
                (kc._logspace_kernel,
                 (lp, f64m, i32, i32, i32, i32, i, b, i, i, i, b, b, f64t, f64t, f64m, f64v, f64v)),
                (kc._grad_kernel(dt), (lp, f64m, i32, i32, i32, i32, i, b, i, i, f64t, f64m, f64t, f64v, lp)),
            ]
            if dt == np.float64:  # the recursion kernel does not see the input dtype
                for K, NT in {kc._layout(s)[:2] for s in (3, 121, 201, 2047)}:
                    kernels.append((kc._ab_kernel(K, NT), (f64t, f64t, f64m, i32, i32, i32, i32, i, b, f64v, f64v)))
            for kern, sig in kernels:
                ptx, _ = cuda.compile_ptx(kern.py_func, sig, cc=cc)
                assert ".entry" in ptx
    finally:
        mp.undo()
