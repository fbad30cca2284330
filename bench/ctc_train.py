#!/usr/bin/env python
"""End to end: what CTC's speed is worth in a training step with a 1,000-token output layer.

A BiLSTM-CTC recognizer (the toolkit's ``bilstm_ctc``, small: 2 layers x 128 cells per direction by
default) with a 1,000-token output layer is trained for ``--steps`` steps on real AN4 features
(log-mel of the training utterances, 16 kHz), once with ``loss.impl=torch`` and once with
``loss.impl=numba`` (the toolkit's ``CTCLoss`` module, its defaults: batchmean, zero_infinity), from
the same initial weights over the same batches in the same order (and the same dropout masks: each
keeps its own random state). The two take their steps in turn, alternating which goes first, so a
change in the load of a shared machine falls on both alike.

The targets are synthetic: the toolkit has no BPE / subword tokenizer (only characters and
phonemes), so each utterance gets a fixed, seeded sequence of token ids in 1..999 (Zipf-distributed,
as subword frequencies are) with one token per 2.5 characters of its real transcript, about the rate
of a 1,000-unit BPE. Real features and real lengths, made-up labels: the loss values say nothing
about recognition; the timings are the point.

Each step is timed in four parts, so the loss's share is exact: the model forward (ending in
log_softmax), the loss forward + backward to the gradient w.r.t. the log-probs (on a detached
copy), the model backward from that gradient, the optimizer step. Medians over the steps after
``--warmup``.

    python bench/ctc_train.py                        # 200 steps per implementation, 2 threads
    python bench/ctc_train.py --steps 100 --batch 32 --hidden 256 --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from speech.audio import load
from speech.features import FbankConfig, log_mel
from speech.kernels.threads import set_num_threads
from speech.losses import CTCLoss
from speech.models.asr import bilstm_ctc

REPO = Path(__file__).resolve().parents[1]


def load_an4(root: Path, n: int, max_seconds: float) -> list[tuple[torch.Tensor, int]]:
    """(log-mel (T, 80), transcript length in characters) of the first ``n`` AN4 training utterances."""
    etc = root / "an4" / "etc"
    ids_file, text_file = etc / "an4_train.fileids", etc / "an4_train.transcription"
    for f in (ids_file, text_file):
        if not f.is_file():
            sys.exit(f"bench/ctc_train.py: {f} not found: set SPEECH_DATA or --data to the folder holding an4/")
    ids = ids_file.read_text().split()
    texts = [line.split("</s>")[0].replace("<s>", "").strip() for line in text_file.read_text().splitlines()]
    cfg = FbankConfig()
    out = []
    for fid, text in zip(ids, texts):
        wav, _ = load(root / "an4" / "wav" / f"{fid}.flac", cfg.sample_rate)
        if len(wav) > max_seconds * cfg.sample_rate:
            continue
        out.append((log_mel(torch.as_tensor(wav, dtype=torch.float32), cfg), len(text)))
        if len(out) == n:
            break
    return out


def synthetic_targets(utts, vocab: int, seed: int) -> list[torch.Tensor]:
    """One Zipf-distributed token sequence per utterance, ~1 token per 2.5 characters, ids in 1..vocab-1."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, vocab)
    p = 1.0 / ranks
    p /= p.sum()
    return [torch.as_tensor(rng.choice(ranks, size=max(1, round(chars / 2.5)), p=p), dtype=torch.long)
            for _, chars in utts]


def batches(utts, targets, batch_size: int, seed: int, steps: int):
    """``steps`` padded batches (feats (B, T, 80), feat_lens, targets (B, S), target_lens), length-bucketed."""
    order = sorted(range(len(utts)), key=lambda i: utts[i][0].shape[0])
    groups = [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < steps:
        for gi in rng.permutation(len(groups)):
            g = groups[gi]
            feats = torch.nn.utils.rnn.pad_sequence([utts[i][0] for i in g], batch_first=True)
            lens = torch.tensor([utts[i][0].shape[0] for i in g])
            tg = torch.nn.utils.rnn.pad_sequence([targets[i] for i in g], batch_first=True)
            tl = torch.tensor([len(targets[i]) for i in g])
            out.append((feats, lens, tg, tl))
            if len(out) == steps:
                break
    return out


class Run:
    """One implementation's model, loss, optimizer, random state and timings."""

    PARTS = ("model forward", "loss fwd+bwd", "model backward", "optimizer")

    def __init__(self, impl: str, args):
        torch.manual_seed(args.seed)  # the same initial weights for every implementation
        self.model = bilstm_ctc(80, args.vocab, hidden_size=args.hidden, num_layers=args.layers, stack_frames=2,
                                dropout=0.1)
        self.model.train()
        self.crit = CTCLoss(impl=impl)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.rng = torch.get_rng_state()  # dropout draws from the global generator: each run keeps its own
        self.parts: dict[str, list[float]] = {k: [] for k in self.PARTS}
        self.losses: list[float] = []
        self.wall = self.cpu = 0.0

    def step(self, feats, lens, tg, tl) -> None:
        torch.set_rng_state(self.rng)
        c0 = time.process_time()
        t0 = time.perf_counter()
        lp, out_lens = self.model(feats, lens)
        t1 = time.perf_counter()
        lp_d = lp.detach().requires_grad_()
        loss = self.crit(lp_d, out_lens, tg, tl)
        loss.backward()
        t2 = time.perf_counter()
        lp.backward(lp_d.grad)
        t3 = time.perf_counter()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        t4 = time.perf_counter()
        self.cpu += time.process_time() - c0
        self.wall += t4 - t0
        for k, v in zip(self.PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            self.parts[k].append(v)
        self.losses.append(float(loss.detach()))
        self.rng = torch.get_rng_state()

    def medians(self, warmup: int) -> dict[str, float]:
        med = {k: statistics.median(v[warmup:]) for k, v in self.parts.items()}
        med["step"] = statistics.median([sum(p) for p in zip(*(v[warmup:] for v in self.parts.values()))])
        return med


def train(data, args) -> dict[str, Run]:
    """The implementations step by step in turn (alternating which goes first), so that a change in
    the machine's load while the bench runs falls on all of them alike."""
    runs = {impl: Run(impl, args) for impl in args.impls}
    order = list(runs.values())
    for i, batch in enumerate(data):
        for run in order if i % 2 == 0 else order[::-1]:
            run.step(*batch)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")))
    ap.add_argument("--utts", type=int, default=640, help="AN4 training utterances to use")
    ap.add_argument("--max-seconds", type=float, default=4.0, help="skip longer utterances")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10, help="steps left out of the medians")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2, help="torch and numba threads (one budget)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--impls", nargs="+", default=["torch", "numba"], choices=["torch", "numba"])
    args = ap.parse_args()
    if args.steps <= args.warmup:
        sys.exit(f"bench/ctc_train.py: --steps ({args.steps}) must exceed --warmup ({args.warmup})")
    set_num_threads(args.threads)
    t0 = time.perf_counter()
    utts = load_an4(args.data, args.utts, args.max_seconds)
    targets = synthetic_targets(utts, args.vocab, args.seed)
    data = batches(utts, targets, args.batch, args.seed, args.steps)
    frames = [u[0].shape[0] for u in utts]
    print(f"AN4: {len(utts)} utterances, {np.mean(frames) / 100:.2f} s mean, features in {time.perf_counter() - t0:.1f} s; "
          f"synthetic targets, vocab {args.vocab}, {np.mean([len(t) for t in targets]):.1f} tokens mean")
    print(f"model: BiLSTM {args.layers} x {args.hidden} per direction, stack 2, output {args.vocab}; batch {args.batch}, "
          f"{args.steps} steps (medians of the last {args.steps - args.warmup}), threads {args.threads}")
    t0 = time.perf_counter()
    runs = train(data, args)
    print(f"{args.steps} steps of each in {time.perf_counter() - t0:.1f} s")
    for impl, r in runs.items():
        # CPU seconds per wall second: threads x busy fraction; above --threads would mean threads spinning
        print(f"loss.impl={impl}: CPU {r.cpu / r.wall:.2f} s per s; first / last loss {r.losses[0]:.4f} / "
              f"{r.losses[-1]:.4f}")
    results = {impl: r.medians(args.warmup) for impl, r in runs.items()}
    print(f"\n{'ms per step (median)':<22}" + "".join(f"{impl:>12}" for impl in results))
    for part in (*Run.PARTS, "step"):
        print(f"{part:<22}" + "".join(f"{t[part] * 1000:>12.2f}" for t in results.values()))
    print(f"{'loss share of step':<22}" + "".join(f"{t['loss fwd+bwd'] / t['step']:>11.1%} " for t in results.values()))
    if {"torch", "numba"} <= set(results):
        t, n = results["torch"], results["numba"]
        print(f"loss: torch / numba {t['loss fwd+bwd'] / n['loss fwd+bwd']:.1f}x; step: torch / numba "
              f"{t['step'] / n['step']:.2f}x; first-step loss difference "
              f"{abs(runs['torch'].losses[0] - runs['numba'].losses[0]):.1e}")


if __name__ == "__main__":
    main()
