"""Runs a file of CUDA kernel cases in a subprocess: numba reads NUMBA_ENABLE_CUDASIM once, at import,
so the simulator (CI) and a real GPU each need a fresh interpreter."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cases(cases: str, simulator: bool, timeout: int) -> None:
    env = dict(os.environ)
    if simulator:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    else:
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", cases], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    out = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"{cases} failed ({'simulator' if simulator else 'GPU'}):\n{out}"
    assert " passed" in out, out


def real_gpu() -> bool:
    from numba import config, cuda

    return not config.ENABLE_CUDASIM and cuda.is_available()
