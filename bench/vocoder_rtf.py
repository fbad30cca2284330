#!/usr/bin/env python
"""Vocoder speed on the CPU: real-time factor of the HiFi-GAN generators V1, V2, V3 and Griffin-Lim.

Synthesizes ``--seconds`` of audio (22.05 kHz, hop 256: the ``tts_fbank()`` synthesis features) from
random log-mels with each HiFi-GAN preset (random weights: speed does not depend on training; weight
norm removed, ``torch.inference_mode``) and, as the reference in the same run, with
``GriffinLimVocoder`` (``--gl-iters`` iterations, default 32). Prints a markdown table: parameters,
RTF = best wall time of ``--repeats`` runs / audio duration (< 1: faster than real time), and how
many times faster than real time (1 / RTF).

    .venv/bin/python bench/vocoder_rtf.py                       # 2 threads, 5 s
    .venv/bin/python bench/vocoder_rtf.py --threads 1 --repeats 5 --presets v2 v3
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def _best_wall(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, oneDNN primitives)
    walls = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    return min(walls)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--seconds", type=float, default=5.0, help="audio synthesized per run")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per vocoder (best is reported)")
    ap.add_argument("--presets", nargs="+", default=["v1", "v2", "v3", "v1-istft", "v2-istft", "v3-istft"],
                    help="HiFi-GAN presets (the -istft ones: inverse-STFT output head)")
    ap.add_argument("--gl-iters", type=int, default=32, help="Griffin-Lim iterations")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from speech.models.vocoders import hifigan_generator
    from speech.features import tts_fbank
    from speech.models.vocoders.griffin_lim import GriffinLimVocoder

    fb = tts_fbank()
    frames = round(args.seconds * fb.sample_rate / fb.hop_length)
    audio_s = frames * fb.hop_length / fb.sample_rate
    torch.manual_seed(0)
    log_mel = torch.randn(frames, fb.n_mels) * 2.0 - 6.0  # (T, n_mels), a plausible log-mel range

    print(f"{audio_s:.2f} s of {fb.sample_rate} Hz audio ({frames} frames, hop {fb.hop_length}); "
          f"{args.threads} threads; best of {args.repeats}; torch {torch.__version__}; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print()
    print("| vocoder | params | wall s | RTF | x faster than real time |")
    print("|---|---|---|---|---|")
    for preset in args.presets:
        g = hifigan_generator(fb.n_mels, preset, fb.hop_length).remove_weight_norm().eval()
        n_params = sum(p.numel() for p in g.parameters())
        x = log_mel[None]  # (1, T, n_mels)

        def run(g=g, x=x):
            with torch.inference_mode():
                return g(x)

        wall = _best_wall(run, args.repeats)
        rtf = wall / audio_s
        print(f"| HiFi-GAN {preset.upper()} | {n_params / 1e6:.2f} M | {wall:.3f} | {rtf:.3f} | {1 / rtf:.1f}x |",
              flush=True)
    gl = GriffinLimVocoder(fb, n_iter=args.gl_iters)
    wall = _best_wall(lambda: gl(log_mel), args.repeats)
    rtf = wall / audio_s
    print(f"| Griffin-Lim ({args.gl_iters} iterations) | 0 | {wall:.3f} | {rtf:.3f} | {1 / rtf:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
