#!/usr/bin/env bash
# One prepared script for a lent GPU machine (see the device tool): CUDA kernel tests on real hardware,
# the GPU benchmarks, and a short GPU training run. Usage: bash bench/gpu_check.sh [OUT_DIR]
# Assumes the README's set-up command has been run (or runs it when .venv is missing).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-/tmp/gpu_check}}"
mkdir -p "$out"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv && .venv/bin/pip install -q torch==2.11.0 torchaudio==2.11.0 && .venv/bin/pip install -q -e ".[dev]"
fi
py=.venv/bin/python
nvidia-smi | tee "$out/nvidia-smi.txt"
$py -c "import torch, numba.cuda as c; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'numba cuda', c.is_available())" | tee "$out/env.txt"
$py -m pytest -q tests/kernels 2>&1 | tee "$out/kernel_tests.txt"
$py bench/ctc.py --device cuda --repeats 20 2>&1 | tee "$out/bench_ctc_cuda.txt"
$py bench/ctc.py --device cpu --repeats 10 --threads 2 2>&1 | tee "$out/bench_ctc_cpu.txt"
if [ -d "${SPEECH_DATA:-../shared/data}/fsdd" ]; then
  $py recipes/fsdd/run.py --no-readme --exp "$out/fsdd-gpu" trainer=gpu loss.impl=numba trainer.progress=false \
    2>&1 | tail -n 20 | tee "$out/fsdd_gpu.txt"
fi
