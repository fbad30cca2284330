#!/usr/bin/env python
"""CTC loss speed: the toolkit's numba kernels vs torch.nn.functional.ctc_loss, forward + backward.

Each case builds one set of inputs (float32 log-probs from log_softmax of random logits, random
targets without the blank, full-length inputs) and times, for every implementation, a full
forward + backward that produces the gradient with respect to log_probs; the implementations take
turns (one call of each per round, so a shared machine's changing load falls on all alike). Prints
medians and the ratio torch / numba (> 1: numba is faster) in the same run. Numba's compile time is
reported separately (first call; later runs load the on-disk cache).

On the CPU it also times numba's backward alone (the one pass over (T, B, C) that writes the
gradient) against a copy of a (T, B, C) float32 tensor into a preallocated one (one read and one
write of the same bytes, the memory-bound floor of that pass), and prints the ratio: 1.0x means
the gradient costs exactly a copy.

    python bench/ctc.py                       # CPU, 2 threads, the four issue shapes
    python bench/ctc.py --threads 1 --baseline   # plus the path before the one-pass gradient (bench/ctc_before.py)
    python bench/ctc.py --busy                # with another process spinning on one core meanwhile
    python bench/ctc.py --batch-first         # log-probs as the (T, B, C) transpose of a (B, T, C) tensor
    python bench/ctc.py --device cuda         # torch native CUDA (+ cuDNN where it applies) vs numba CUDA
    python bench/ctc.py --shapes 400,16,32,80 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ctc_before.py, run as a script from anywhere

from ctc_before import ctc_loss_before  # noqa: E402

from speech.kernels.ctc import ctc_loss as numba_ctc  # noqa: E402
from speech.kernels.threads import set_num_threads  # noqa: E402

DEFAULT_SHAPES = [(400, 16, 32, 80), (200, 32, 500, 40), (1000, 8, 29, 200), (500, 64, 1000, 100)]


def make_inputs(T, B, C, L, device, seed=0, batch_first=False):
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(T, B, C, generator=g).log_softmax(-1).to(device)
    if batch_first:  # what a batch-first model hands to the loss: a (T, B, C) view of (B, T, C) memory
        log_probs = log_probs.transpose(0, 1).contiguous().transpose(0, 1)
    targets = torch.randint(1, C, (B, L), generator=g, dtype=torch.long).to(device)
    input_lengths = torch.full((B,), T, dtype=torch.long)
    target_lengths = torch.full((B,), L, dtype=torch.long)
    return log_probs, targets, input_lengths, target_lengths


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_in_turn(fns: dict, repeats: int, device: str) -> dict[str, float]:
    """Median time of each function, timed in turn (one call of each per round), so that a change in
    a shared machine's load falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(timed(fn, 1, device))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and numba alike")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--shapes", nargs="*", help="T,B,C,L (default: the four reference shapes)")
    ap.add_argument("--baseline", action="store_true", help="also time the path before the one-pass gradient (CPU)")
    ap.add_argument("--busy", action="store_true", help="keep one core busy with a spinning process meanwhile")
    ap.add_argument("--batch-first", action="store_true", help="log-probs as the transpose of a (B, T, C) tensor")
    args = ap.parse_args()
    if args.threads < 1:
        sys.exit(f"bench/ctc.py: --threads must be at least 1, got {args.threads}")
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else DEFAULT_SHAPES
    dev = args.device
    set_num_threads(args.threads)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        run_cases(shapes, dev, args)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def run_cases(shapes, dev: str, args) -> None:
    cpu = dev == "cpu"
    baseline = args.baseline and cpu
    # compile (or load from cache) once, on a small case of the same dtype
    lp, tg, il, tl = make_inputs(20, 2, 5, 3, dev)
    t0 = time.perf_counter()
    x = lp.clone().requires_grad_()
    numba_ctc(x, tg, il, tl, reduction="sum").backward()
    _sync(dev)
    print(f"numba {dev} first call (compile or cache load): {time.perf_counter() - t0:.2f} s")
    if baseline:
        ctc_loss_before(x, tg, il, tl).backward()
    print(f"device={dev} threads={args.threads} repeats={args.repeats} busy_core={args.busy} "
          f"batch_first={args.batch_first} dtype=float32, forward+backward (gradient included)")
    header = f"{'T':>5} {'B':>4} {'C':>5} {'L':>4} | {'torch ms':>9}"
    if dev == "cuda":
        header += f" {'cudnn ms':>9}"
    if baseline:
        header += f" {'before ms':>9}"
    header += f" {'numba ms':>9} | {'torch/numba':>11}"
    if baseline:
        header += f" {'before/numba':>12}"
    if cpu:
        header += f" | {'grad pass':>9} {'copy ms':>8} {'pass/copy':>9}"
    print(header + " | max|dloss| max|dgrad|")
    for T, B, C, L in shapes:
        lp, tg, il, tl = make_inputs(T, B, C, L, dev, batch_first=args.batch_first)
        x = lp.detach().requires_grad_()

        def run(fn, targets=tg):
            x.grad = None
            loss = fn(x, targets, il, tl, reduction="sum")
            loss.backward()
            return loss.detach(), x.grad

        ref_loss, ref_grad = run(F.ctc_loss)
        got_loss, got_grad = run(numba_ctc)
        dloss = abs(float(ref_loss) - float(got_loss))
        dgrad = float((ref_grad - got_grad).abs().max())
        fns = {"torch": lambda: run(F.ctc_loss), "numba": lambda: run(numba_ctc)}
        if baseline:
            fns["before"] = lambda: run(ctc_loss_before)
        times = timed_in_turn(fns, args.repeats, dev)
        t_torch, t_numba = times["torch"], times["numba"]
        row = f"{T:>5} {B:>4} {C:>5} {L:>4} | {1000 * t_torch:>9.2f}"
        if dev == "cuda":
            # cuDNN's CTC needs int32 concatenated targets on the CPU, lengths on the CPU, blank 0, L <= 256
            tg_cat = tg.reshape(-1).to("cpu", torch.int32)
            il32, tl32 = il.to(torch.int32), tl.to(torch.int32)

            def cudnn():
                x.grad = None
                F.ctc_loss(x, tg_cat, il32, tl32, reduction="sum").backward()

            # torch falls back to its native kernel silently when a cuDNN condition fails: mark which ran
            try:
                mark = "" if torch._use_cudnn_ctc_loss(x, tg_cat, il32.tolist(), tl32.tolist(), 0) else "*"
            except Exception:  # a private helper: its signature may change between torch versions
                mark = "?"
            row += f" {1000 * timed(cudnn, args.repeats, dev):>8.2f}{mark}"
        if baseline:
            t_before = times["before"]
            row += f" {1000 * t_before:>9.2f}"
        row += f" {1000 * t_numba:>9.2f} | {t_torch / t_numba:>10.1f}x"
        if baseline:
            row += f" {t_before / t_numba:>11.1f}x"
        if cpu:
            t_pass = backward_only(x, tg, il, tl, args.repeats)
            dst = torch.empty_like(lp)
            t_copy = timed(lambda: dst.copy_(lp), args.repeats, dev)
            row += f" | {1000 * t_pass:>9.2f} {1000 * t_copy:>8.2f} {t_pass / t_copy:>8.2f}x"
        row += f" | {dloss:.1e} {dgrad:.1e}"
        print(row, flush=True)
    if dev == "cuda":
        print(f"cudnn ms: torch's cuDNN CTC (int32 targets on the CPU, full-length inputs); '*': torch declined cuDNN "
              f"and ran its native kernel ('?': could not tell). cuDNN {torch.backends.cudnn.version()}, "
              f"GPU {torch.cuda.get_device_name()}")


def backward_only(x, tg, il, tl, repeats: int) -> float:
    """Median time of numba's backward alone (the gradient pass), the forward run untimed before each."""
    times = []
    for _ in range(repeats):
        x.grad = None
        loss = numba_ctc(x, tg, il, tl, reduction="sum")
        t0 = time.perf_counter()
        loss.backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    main()
