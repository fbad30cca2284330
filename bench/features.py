#!/usr/bin/env python
"""Log-mel feature extraction speed: speech.features.LogMelFbank vs torchaudio's MelSpectrogram.

Both compute 80-bin log-mel energies with the same window, hop, FFT size and mel range on the same
batch; the script prints median wall times and the ratio (reference / ours, > 1 means ours is faster),
plus the largest difference between the two outputs when the window is as long as the FFT.

    python bench/features.py                 # 16 kHz, batch 16 x 10 s, 2 threads
    python bench/features.py --sample-rate 8000 --batch 64 --seconds 2
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torchaudio

from speech.features import FbankConfig, LogMelFbank


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (caches, allocator)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def reference(cfg: FbankConfig) -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate, n_fft=cfg.fft_size, win_length=cfg.win_length, hop_length=cfg.hop_length,
        f_min=cfg.f_min, f_max=cfg.f_max or cfg.sample_rate / 2, n_mels=cfg.n_mels, center=False, power=2.0,
        norm=None, mel_scale="htk",
    )


def agreement(cfg: FbankConfig, wav: torch.Tensor) -> float:
    """Max |difference| with a window as long as the FFT: torchaudio centres a shorter window inside
    each FFT frame (shifting frames by (n_fft - win) / 2 samples), ours starts it at the frame start."""
    cfg = FbankConfig(sample_rate=cfg.sample_rate, n_mels=cfg.n_mels, hop_ms=cfg.hop_ms, f_min=cfg.f_min,
                      win_ms=1000 * cfg.fft_size / cfg.sample_rate, n_fft=cfg.fft_size, preemphasis=0.0)
    lens = torch.full((wav.shape[0],), wav.shape[1])
    a = LogMelFbank(cfg)(wav, lens)[0]
    b = torch.log(reference(cfg)(wav).clamp_min(cfg.log_floor)).transpose(1, 2)
    return (a - b).abs().max().item()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sample-rate", type=int, default=16000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cfg = FbankConfig(sample_rate=args.sample_rate, preemphasis=0.0)
    ours = LogMelFbank(cfg).eval()
    ref = reference(cfg)
    n = int(args.seconds * cfg.sample_rate)
    wav = 0.1 * torch.randn(args.batch, n)
    lens = torch.full((args.batch,), n)

    with torch.inference_mode():
        def run_ours():
            return ours(wav, lens)[0]

        def run_ref():
            return torch.log(ref(wav).clamp_min(cfg.log_floor)).transpose(1, 2)

        diff = agreement(cfg, wav[:2])
        t_ours = median_time(run_ours, args.repeats)
        t_ref = median_time(run_ref, args.repeats)
    audio = args.batch * args.seconds
    print(f"log-mel {cfg.n_mels} bins, {cfg.sample_rate} Hz, batch {args.batch} x {args.seconds:g} s, "
          f"{args.threads} threads, {args.repeats} repeats")
    print(f"  torchaudio MelSpectrogram : {1000 * t_ref:8.2f} ms  (RTF {t_ref / audio:.5f})")
    print(f"  speech LogMelFbank        : {1000 * t_ours:8.2f} ms  (RTF {t_ours / audio:.5f})")
    print(f"  speed ratio (torchaudio / ours): {t_ref / t_ours:.2f}x; max |difference| {diff:.1e} (log units, "
          f"window = FFT size)")


if __name__ == "__main__":
    main()
