#!/usr/bin/env python
"""Synthesis speed: real-time factor of `speech synthesize` (frontend + FastSpeech2 + vocoder).

Times one short sentence, a paragraph of several sentences and a long multi-paragraph text (held-out
Harvard sentences), reporting for each the audio length, the median wall time and
RTF = wall time / audio duration (< 1: faster than real time).
The reference is real time itself (RTF 1.0); the synthesis target is RTF <= 0.1 on the 2-core CPU.

    python bench/tts_rtf.py --model exp/kathleen/model                 # 2 threads, Griffin-Lim 32 iterations
    python bench/tts_rtf.py --model exp/kathleen/model --threads 1 --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="voice package folder")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gl-iters", type=int, default=32, help="Griffin-Lim iterations")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from speech.pipelines.synthesizer import Synthesizer
    from speech.packages.vocoder import load_vocoder
    from speech.packages.voice import load_tts_package

    pkg = load_tts_package(args.model)
    synth = Synthesizer(pkg, load_vocoder("griffin-lim", pkg.fbank, n_iter=args.gl_iters))
    texts = {"one sentence": SENTENCES[0], "paragraph (5 sentences)": " ".join(SENTENCES[:5]),
             "long text (40 sentences)": " ".join(SENTENCES * 4)}
    synth.synthesize("Warm up.")
    print(f"voice {args.model}; {args.threads} threads; Griffin-Lim {args.gl_iters} iterations")
    print("| input | audio s | wall s | RTF |")
    print("|---|---|---|---|")
    for name, text in texts.items():
        walls, audio = [], 0.0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = synth.synthesize(text)
            walls.append(time.perf_counter() - t0)
            audio = r.duration
        wall = statistics.median(walls)
        print(f"| {name} | {audio:.2f} | {wall:.3f} | {wall / audio:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
