#!/usr/bin/env python
"""Activation recomputation (model.asr.recompute): memory saved and step time paid, measured.

For the toolkit's own BiLSTM-CTC model (speech.models.asr.bilstm_ctc; default 4 layers x 320 cells per
direction, 80-dim features, T=1000 frames, B=32, every utterance full length) and one CTC training step
(forward + backward), each variant (stored activations / recomputed; fp32 / bf16 autocast) runs in a fresh
subprocess, so that no variant's allocations inflate another's peak, and reports:

* saved activation bytes: the distinct tensors autograd saves for backward, summed as numel * element
  size through torch.autograd.graph.saved_tensors_hooks (with recompute these are each layer's input,
  kept by the checkpoint, plus what the output layer and the loss save);
* peak memory of the step: on the CPU the process's peak resident set (VmHWM) minus its resident set
  just before the first step; on CUDA torch.cuda.max_memory_allocated minus memory_allocated before;
* step time: the median of --repeats forward + backward passes after the first (untimed) one.

Peak memory is that of the first full-size step of a fresh process (after one step on a tiny batch that
loads whatever the code paths load once), so no block freed by an earlier full-size step hides in the
allocator's free lists; blocks freed within the step are reused as in training. At tiny shapes the CPU
peak is mostly allocator noise; read it at realistic ones.

It prints each variant against the first (stored, fp32) measured in the same run: memory saving in % and
step time in +%. The "fits a budget" lines divide --budget-gb by the measured saved bytes per frame
(saved bytes / (B * T), which grow linearly with B * T at a fixed model): computed, not searched.

    python bench/recompute.py                                   # CPU, 2 threads, the issue's shape
    python bench/recompute.py --batch 8 --frames 500 --repeats 3
    python bench/recompute.py --device cuda --dtypes fp32 bf16  # GPU: max_memory_allocated, bf16 autocast
    python bench/recompute.py --device cuda --hidden 256 --stack-frames 3 --frames 400 --batch 64 \\
        --variants store --adam                                  # the AN4 model's one-GPU training step
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from speech.models.asr import bilstm_ctc

VOCAB = 32  # a character vocabulary; the output layer is small beside the BiLSTM


def _proc_kib(field: str) -> int:
    """A /proc/self/status field in KiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def measure(args: argparse.Namespace, recompute: bool, dtype: str) -> dict:
    """One variant, in this process: saved bytes and peak memory of the first step, then the step time."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    model = bilstm_ctc(input_dim=args.features, vocab_size=VOCAB, hidden_size=args.hidden, num_layers=args.layers,
                       stack_frames=args.stack_frames, dropout=0.1, recompute=recompute,
                       recompute_layers=args.recompute_layers).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4) if args.adam else None
    b, t = args.batch, args.frames
    x = torch.randn(b, t, args.features, device=dev)
    lens = torch.full((b,), t, dtype=torch.long, device=dev)  # on the device, as the trainer moves batches
    out_len = -(-t // args.stack_frames)
    n_tgt = max(1, min(out_len // 4, 100))
    targets = torch.randint(1, VOCAB, (b, n_tgt), device=dev)
    tgt_lens = torch.full((b,), n_tgt, dtype=torch.long, device=dev)
    saved: dict = {}

    def pack(tensor):
        saved[(tensor.data_ptr(), tensor.numel(), tensor.dtype)] = tensor.numel() * tensor.element_size()
        return tensor

    def step(count_saved: bool = False, x=x, lens=lens, targets=targets, tgt_lens=tgt_lens) -> None:
        model.zero_grad(set_to_none=False)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            if count_saved:
                with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                    logp, out_lens = model(x, lens)
                    loss = F.ctc_loss(logp.transpose(0, 1), targets, out_lens, tgt_lens)
            else:
                logp, out_lens = model(x, lens)
                loss = F.ctc_loss(logp.transpose(0, 1), targets, out_lens, tgt_lens)
        loss.backward()
        if opt is not None:
            opt.step()

    # one step on a tiny batch first: the one-time costs (modules the checkpoint and autocast paths import,
    # kernel libraries' set-up, the optimizer's state) stay out of the measured peak, in every variant
    tiny = min(t, 8 * args.stack_frames)
    step(x=x[:1, :tiny], lens=torch.full((1,), tiny, dtype=torch.long, device=dev), targets=targets[:1, :1],
         tgt_lens=torch.ones(1, dtype=torch.long, device=dev))

    # gradient buffers first (they are not activations)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    _sync(dev)
    # step 0 (untimed): the saved tensors and the peak above what the process held just before it
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = _proc_kib("VmRSS") * 1024
    if args.repeats == 0:  # the saved bytes alone: one forward, no backward, no peak, no time
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dtype == "bf16"):
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
                logp, out_lens = model(x, lens)
                F.ctc_loss(logp.transpose(0, 1), targets, out_lens, tgt_lens)
        return {"recompute": recompute, "dtype": dtype, "saved_bytes": sum(saved.values()), "peak_bytes": None,
                "step_ms": None, "step_ms_min": None}
    step(count_saved=True)
    _sync(dev)
    peak = (torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else _proc_kib("VmHWM") * 1024) - base
    times = []
    for _ in range(args.repeats):
        _sync(dev)
        t0 = time.perf_counter()
        step()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return {"recompute": recompute, "dtype": dtype, "saved_bytes": sum(saved.values()), "peak_bytes": peak,
            "step_ms": 1e3 * statistics.median(times), "step_ms_min": 1e3 * min(times)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=320, help="LSTM cells per direction")
    ap.add_argument("--features", type=int, default=80)
    ap.add_argument("--frames", type=int, default=1000, help="T, feature frames per utterance (all full length)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--stack-frames", type=int, default=1, help="model.asr.stack_frames (1: T steps per LSTM)")
    ap.add_argument("--repeats", type=int, default=5, help="timed steps; 0: count the saved bytes only (one forward)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dtypes", nargs="+", default=["fp32"], choices=["fp32", "bf16"],
                    help="bf16: torch.autocast(bfloat16) around forward and loss")
    ap.add_argument("--variants", nargs="+", default=["store", "recompute"], choices=["store", "recompute"])
    ap.add_argument("--adam", action="store_true", help="include an AdamW update in each step")
    ap.add_argument("--recompute-layers", type=int, default=0,
                    help="model.asr.recompute_layers: recompute the first k layers only (0: all)")
    ap.add_argument("--budget-gb", type=float, default=16.0, help="activation memory budget for the 'fits' lines")
    ap.add_argument("--child", nargs=2, metavar=("VARIANT", "DTYPE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args, args.child[0] == "recompute", args.child[1])))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench/recompute.py: --device cuda but torch sees no CUDA device")

    print(f"BiLSTM-CTC {args.layers} x {args.hidden} (bidirectional), F={args.features}, T={args.frames}, "
          f"B={args.batch}, stack_frames={args.stack_frames}, vocab={VOCAB}; device={args.device} "
          f"threads={args.threads} repeats={args.repeats} torch={torch.__version__}"
          + (f" recompute_layers={args.recompute_layers}" if args.recompute_layers else "")
          + (f" gpu={torch.cuda.get_device_name()}" if args.device == "cuda" else ""))
    forwarded = sys.argv[1:]
    rows = []
    for dtype in args.dtypes:
        for variant in args.variants:
            cmd = [sys.executable, __file__, *forwarded, "--child", variant, dtype]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{variant} {dtype}: failed (exit {res.returncode}): {res.stderr.strip().splitlines()[-1:]}")
                continue
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    if not rows:
        sys.exit("bench/recompute.py: every variant failed")
    ref = rows[0]
    mem = "peak alloc MB" if args.device == "cuda" else "peak RSS MB"
    print(f"{'variant':<10} {'dtype':<5} | {'saved MB':>9} {'saving':>7} | {mem:>13} {'saving':>7} | "
          f"{'step ms':>9} {'time':>7}")
    for r in rows:
        name = "recompute" if r["recompute"] else "store"
        line = (f"{name:<10} {r['dtype']:<5} | {r['saved_bytes'] / 1e6:>9.1f} "
                f"{100 * (1 - r['saved_bytes'] / ref['saved_bytes']):>6.1f}% | ")
        if r["step_ms"] is None:  # --repeats 0
            line += f"{'-':>13} {'-':>7} | {'-':>9} {'-':>7}"
        else:
            line += (f"{r['peak_bytes'] / 1e6:>13.1f} {100 * (1 - r['peak_bytes'] / max(ref['peak_bytes'], 1)):>6.1f}% | "
                     f"{r['step_ms']:>9.1f} {100 * (r['step_ms'] / ref['step_ms'] - 1):>+6.1f}%")
        print(line)
    budget = args.budget_gb * 2 ** 30
    frames = args.batch * args.frames
    print(f"fits {args.budget_gb:g} GiB of saved activations (computed from saved bytes per frame, linear in B x T):")
    for r in rows:
        per_frame = r["saved_bytes"] / frames
        name = "recompute" if r["recompute"] else "store"
        print(f"  {name:<10} {r['dtype']:<5} {per_frame / 1e3:8.1f} kB/frame: largest batch at T={args.frames}: "
              f"{int(budget // (per_frame * args.frames))}; longest utterance at B={args.batch}: "
              f"{int(budget // (per_frame * args.batch))} frames")
    print("json " + json.dumps({"args": {k: v for k, v in vars(args).items() if k != "child"}, "rows": rows}))


if __name__ == "__main__":
    main()
