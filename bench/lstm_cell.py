"""BiLSTM encoder forward + backward time per batch: cell=lstm (torch's fused nn.LSTM, the
reference) vs cell=mi_lstm (multiplicative-integration LSTM, Python loop over time).

    .venv/bin/python bench/lstm_cell.py
    .venv/bin/python bench/lstm_cell.py --batch 16 --frames 200 --repeats 5 --projection 96

Input x: (B, T, F) with T frames after stacking (stack_frames=1 here), lengths spread over
[T/2, T]; the loss is the sum of the encoder output (B, T, 2H), so backward runs through every layer.
Prints the median milliseconds per batch for each cell and the ratio mi_lstm / lstm.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from speech.models.asr import BiLSTMConfig, BiLSTMEncoder


def time_encoder(enc: BiLSTMEncoder, x: torch.Tensor, lens: torch.Tensor, repeats: int, warmup: int) -> list[float]:
    """Seconds per forward + backward of enc on x (B, T, F), lens (B,)."""
    times = []
    for i in range(warmup + repeats):
        enc.zero_grad(set_to_none=True)
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        y, _ = enc(x, lens)
        y.sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--frames", type=int, default=100, help="T after frame stacking")
    p.add_argument("--features", type=int, default=240)
    p.add_argument("--hidden", type=int, default=192)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--projection", type=int, default=0)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    x = torch.randn(args.batch, args.frames, args.features, device=dev)
    lens = torch.randint(args.frames // 2, args.frames + 1, (args.batch,))
    lens[0] = args.frames
    print(
        f"B={args.batch} T={args.frames} F={args.features} H={args.hidden} layers={args.layers} "
        f"P={args.projection} threads={args.threads} device={dev} torch={torch.__version__}"
    )
    medians = {}
    for cell in ["lstm", "mi_lstm"]:
        cfg = BiLSTMConfig(
            hidden_size=args.hidden, num_layers=args.layers, projection_size=args.projection, dropout=0.0, cell=cell
        )
        enc = BiLSTMEncoder(args.features, cfg).to(dev).train()
        t = time_encoder(enc, x, lens, args.repeats, args.warmup)
        medians[cell] = statistics.median(t) * 1e3
        print(f"{cell:8s} fwd+bwd median {medians[cell]:9.2f} ms  (min {min(t) * 1e3:.2f}, max {max(t) * 1e3:.2f})")
    print(f"mi_lstm / lstm: {medians['mi_lstm'] / medians['lstm']:.2f}x")


if __name__ == "__main__":
    main()
