#!/usr/bin/env python
"""CTC loss speed: the toolkit's numba kernels vs torch.nn.functional.ctc_loss, forward + backward.

Each case builds one set of inputs (float32 log-probs from log_softmax of random logits, random
targets without the blank, full-length inputs) and times, for every implementation, a full
forward + backward that produces the gradient with respect to log_probs. Prints medians and the
ratio torch / numba (> 1: numba is faster) in the same run. Numba's compile time is reported
separately (first call; later runs load the on-disk cache).

    python bench/ctc.py                       # CPU, 2 threads, the four issue shapes
    python bench/ctc.py --device cuda         # torch native CUDA (+ cuDNN where it applies) vs numba CUDA
    python bench/ctc.py --shapes 400,16,32,80 --repeats 20
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

DEFAULT_SHAPES = [(400, 16, 32, 80), (200, 32, 500, 40), (1000, 8, 29, 200), (500, 64, 1000, 100)]


def make_inputs(T, B, C, L, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(T, B, C, generator=g).log_softmax(-1).to(device)
    targets = torch.randint(1, C, (B, L), generator=g, dtype=torch.long).to(device)
    input_lengths = torch.full((B,), T, dtype=torch.long)
    target_lengths = torch.full((B,), L, dtype=torch.long)
    return log_probs, targets, input_lengths, target_lengths


def timed(fn, repeats: int, device: str) -> float:
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=2, help="torch and numba CPU threads")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--shapes", nargs="*", help="T,B,C,L (default: the four reference shapes)")
    args = ap.parse_args()
    import numba

    from speech.kernels.ctc import ctc_loss as numba_ctc

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else DEFAULT_SHAPES
    dev = args.device

    # compile (or load from cache) once, on a small case of the same dtype
    lp, tg, il, tl = make_inputs(20, 2, 5, 3, dev)
    t0 = time.perf_counter()
    x = lp.clone().requires_grad_()
    numba_ctc(x, tg, il, tl, reduction="sum").backward()
    if dev == "cuda":
        torch.cuda.synchronize()
    print(f"numba {dev} first call (compile or cache load): {time.perf_counter() - t0:.2f} s")
    print(f"device={dev} threads={args.threads} repeats={args.repeats} dtype=float32, forward+backward (gradient included)")
    header = f"{'T':>5} {'B':>4} {'C':>5} {'L':>4} | {'torch ms':>9}"
    if dev == "cuda":
        header += f" {'cudnn ms':>9}"
    header += f" {'numba ms':>9} | {'torch/numba':>11} | max|dloss| max|dgrad|"
    print(header)
    for T, B, C, L in shapes:
        lp, tg, il, tl = make_inputs(T, B, C, L, dev)

        x = lp.detach().requires_grad_()

        def run(fn, targets=tg):
            x.grad = None
            loss = fn(x, targets, il, tl, reduction="sum")
            loss.backward()
            return loss.detach(), x.grad

        torch_fn = F.ctc_loss
        numba_fn = numba_ctc
        ref_loss, ref_grad = run(torch_fn)
        got_loss, got_grad = run(numba_fn)
        dloss = abs(float(ref_loss) - float(got_loss))
        dgrad = float((ref_grad - got_grad).abs().max())
        t_torch = timed(lambda: run(torch_fn), args.repeats, dev)
        t_numba = timed(lambda: run(numba_fn), args.repeats, dev)
        row = f"{T:>5} {B:>4} {C:>5} {L:>4} | {1000 * t_torch:>9.2f}"
        if dev == "cuda":
            # cuDNN's CTC needs int32 concatenated targets on the CPU, lengths on the CPU, blank 0, L <= 256
            tg_cat = tg.reshape(-1).to("cpu", torch.int32)
            il32, tl32 = il.to(torch.int32), tl.to(torch.int32)

            def cudnn():
                x.grad = None
                F.ctc_loss(x, tg_cat, il32, tl32, reduction="sum").backward()

            # torch falls back to its native kernel silently when a cuDNN condition fails: say which ran
            try:
                mark = "" if torch._use_cudnn_ctc_loss(x, tg_cat, il32.tolist(), tl32.tolist(), 0) else "*"
            except Exception:  # a private helper: its signature may change between torch versions
                mark = "?"
            row += f" {1000 * timed(cudnn, args.repeats, dev):>8.2f}{mark}"
        row += f" {1000 * t_numba:>9.2f} | {t_torch / t_numba:>10.1f}x | {dloss:.1e} {dgrad:.1e}"
        print(row, flush=True)
    if dev == "cuda":
        print(f"cudnn ms: torch's cuDNN CTC (int32 targets on the CPU, full-length inputs); '*': torch declined "
              f"cuDNN for that case and ran its native kernel ('?': could not tell). cuDNN {torch.backends.cudnn.version()}, "
              f"GPU {torch.cuda.get_device_name()}")


if __name__ == "__main__":
    main()
