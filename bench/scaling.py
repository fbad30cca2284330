#!/usr/bin/env python
"""Data-parallel scaling on paper, from measurements: gradient bytes per step, ring-allreduce time at
8, 64 and 256 GPUs over NVLink and 100 Gb/s links, one GPU's step time, and the scaling efficiency
that follows; plus the learning rate and warmup the linear scaling rule gives at each global batch.

Two steps, so that the step time can be measured where the GPU is and the table made anywhere:

    python bench/scaling.py measure --device cuda --json step_times.json   # on a GPU (bf16 autocast)
    python bench/scaling.py report --steps step_times.json                 # the tables (docs/scaling.md)
    python bench/scaling.py report                                          # no GPU numbers: CPU-measured
                                                                            # or estimated, and marked so

The models are the toolkit's own BiLSTM-CTC (``speech.models.asr.bilstm_ctc``): the AN4 recipe's
(4 x 256 per direction, 30 ms frames, 29 characters) and a LibriSpeech-size one (5 x 1024, 30 ms
frames, 1,000 BPE tokens), each at its per-GPU batch of utterances of a typical length.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from speech.models.asr.bilstm import bilstm_ctc  # noqa: E402 - after the path of a source checkout

MODELS = {
    # name: model kwargs, vocab, per-GPU batch, frames per utterance (10 ms), training utterances
    "an4": (dict(hidden_size=256, num_layers=4, stack_frames=3, dropout=0.2), 29, 16, 300, 948),
    "librispeech": (dict(hidden_size=1024, num_layers=5, stack_frames=3, dropout=0.1), 1000, 32, 1250, 281_241),
}
"""AN4: the recipe's model and batch, 3 s utterances, 948 training utterances. LibriSpeech-size: the
960-hour training set (281,241 utterances, 12.3 s on average), a 5-layer 1,024-cell BiLSTM of the size
ESPnet's and Deep Speech 2's recurrent recipes used, and 1,000 BPE outputs."""

# Links. Sources: NVIDIA H100 / H200 SXM datasheets (NVLink 4: 900 GB/s per GPU, both directions
# together, so 450 GB/s each way); 100 Gb/s Ethernet / InfiniBand EDR: 12.5 GB/s each way at line rate.
# Latency per ring step: a few microseconds on NVLink, about 10 us across a network (NCCL's own
# measurements are in that range); it matters only for small buffers.
REFERENCE_LR = {"an4": (2e-3, 16), "librispeech": (1e-3, 32)}
"""(peak lr, the batch it was tuned at): AN4's recipe; a usual AdamW rate for the LibriSpeech-size model."""
WARMUP_EPOCHS = 5
"""Gradual warmup over a fixed amount of data (Goyal et al. 2017 warm up over 5 epochs at every batch size;
the AN4 recipe's 300 steps of 16 are 5 of its epochs), so fewer steps as the global batch grows."""
NVLINK_GBPS, NVLINK_ALPHA = 450e9, 5e-6
NET_GBPS, NET_ALPHA = 12.5e9, 10e-6
GPUS_PER_NODE = 8


def ring_allreduce_seconds(n: int, nbytes: float, bandwidth: float, alpha: float) -> float:
    """Bandwidth-optimal ring allreduce (reduce-scatter then all-gather; Patarasuk and Yuan 2009): each of
    the n participants sends and receives 2 (n - 1) / n of the buffer, in 2 (n - 1) steps."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / bandwidth


def allreduce_seconds(gpus: int, nbytes: float, nics_per_node: int) -> float:
    """One node: a ring over NVLink. Several: hierarchical (what NCCL does across nodes): reduce-scatter
    inside each node over NVLink, a ring between the nodes over the network for each node's share
    (the node's ``nics_per_node`` 100 Gb/s links carrying its 8 GPUs' shares in parallel), then an
    all-gather inside the node."""
    if gpus <= GPUS_PER_NODE:
        return ring_allreduce_seconds(gpus, nbytes, NVLINK_GBPS, NVLINK_ALPHA)
    nodes = gpus // GPUS_PER_NODE
    inside = ring_allreduce_seconds(GPUS_PER_NODE, nbytes, NVLINK_GBPS, NVLINK_ALPHA)  # the two halves together
    between = ring_allreduce_seconds(nodes, nbytes, NET_GBPS * nics_per_node, NET_ALPHA)
    return inside + between


def build(name: str, device: str) -> tuple[torch.nn.Module, int, int, int]:
    kwargs, vocab, batch, frames, _ = MODELS[name]
    model = bilstm_ctc(80, vocab, **kwargs).to(device)
    return model, vocab, batch, frames


def gradient_bytes(name: str) -> int:
    model = build(name, "cpu")[0]
    return sum(p.numel() * 4 for p in model.parameters() if p.requires_grad)  # DDP reduces fp32 gradients


def measure_step(name: str, device: str, repeats: int, bf16: bool) -> dict:
    """Median seconds of one training step (forward, CTC, backward, AdamW) on random features."""
    model, vocab, batch, frames = build(name, device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, frames, 80, generator=g).to(device)
    lens = torch.full((batch,), frames, dtype=torch.long, device=device)
    n_labels = max(1, frames // 3 // 4)
    targets = torch.randint(1, vocab, (batch, n_labels), generator=g).to(device)
    target_lens = torch.full((batch,), n_labels, dtype=torch.long, device=device)
    times = []
    for k in range(repeats + 2):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16, enabled=bf16):
            log_probs, out_lens = model(feats, lens)
        loss = torch.nn.functional.ctc_loss(log_probs.float().transpose(0, 1), targets, out_lens, target_lens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if k >= 2:
            times.append(time.perf_counter() - t0)
    return {"step_s": statistics.median(times), "batch": batch, "frames": frames, "device": device,
            "name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu", "bf16": bf16,
            "repeats": repeats}


def cmd_measure(args) -> None:
    out = {name: measure_step(name, args.device, args.repeats, args.bf16) for name in args.models}
    text = json.dumps(out, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


def cmd_report(args) -> None:
    steps = json.loads(Path(args.steps).read_text()) if args.steps else {}
    print("| model | parameters | gradient MB per step | per-GPU batch | one GPU's step (s) | GPUs | allreduce (ms), "
          "1 NIC per node | efficiency, no overlap / overlapped | allreduce (ms), 1 NIC per GPU | "
          "efficiency, no overlap / overlapped |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    for name in MODELS:
        nbytes = gradient_bytes(name)
        _, _, batch, _, _ = MODELS[name]
        if name in steps:
            step = steps[name]["step_s"]
            where = f"{step:.3f} (measured, {steps[name]['name']}{', bf16' if steps[name]['bf16'] else ''})"
        else:
            step = args.estimate.get(name) if args.estimate else None
            if step is None:
                notes.append(f"{name}: no GPU step time given; efficiency not computed")
                continue
            where = f"{step:.3f} (estimated)"
        for gpus in (8, 64, 256):
            cells = []
            for nics in (1, GPUS_PER_NODE):
                t = allreduce_seconds(gpus, nbytes, nics)
                backward = 2 / 3 * step  # DDP overlaps bucketed allreduce with the backward pass
                cells += [f"{t * 1e3:.1f}", f"{step / (step + t):.0%} / {step / (step + max(0.0, t - backward)):.0%}"]
                if gpus == 8:
                    break
            if gpus == 8:
                cells += cells  # one node: no network, both columns alike
            print(f"| {name} | {nbytes / 4 / 1e6:.1f} M | {nbytes / 1e6:.0f} | {batch} | {where} | {gpus} | "
                  + " | ".join(cells) + " |")
    print()
    print("| model | GPUs | global batch | steps per epoch | peak lr, linear rule | peak lr, square-root rule | "
          "warmup steps (5 epochs, at least 100) |")
    print("|---|---|---|---|---|---|---|")
    for name, (_, _, batch, _, utts) in MODELS.items():
        lr_ref, batch_ref = REFERENCE_LR[name]
        for gpus in (1, 8, 64, 256):
            global_batch = batch * gpus
            per_epoch = utts / global_batch
            linear = lr_ref * global_batch / batch_ref
            root = lr_ref * math.sqrt(global_batch / batch_ref)
            warm = max(100, math.ceil(WARMUP_EPOCHS * per_epoch))
            print(f"| {name} | {gpus} | {global_batch} | {per_epoch:.1f} | {linear:.3g} | {root:.3g} | {warm} |")
    for n in notes:
        print(f"\nnote: {n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure", help="time one training step of each model here")
    m.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    m.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    m.add_argument("--repeats", type=int, default=10)
    m.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    m.add_argument("--json")
    r = sub.add_parser("report", help="the tables, from measured (or estimated) step times")
    r.add_argument("--steps", help="JSON written by 'measure'")
    r.add_argument("--estimate", type=json.loads, default=None, help='e.g. {"an4": 0.02}: marked as estimated')
    args = ap.parse_args()
    cmd_measure(args) if args.cmd == "measure" else cmd_report(args)


if __name__ == "__main__":
    main()
