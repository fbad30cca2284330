#!/usr/bin/env python
"""Latency of the commands users run once per sentence or clip: cold start and warm latency.

Cold start: process start to file written (``speech synthesize "<sentence>" -o x.wav``, default voice)
or to text printed (``speech transcribe <one FSDD clip> --model digits``), as a user runs them; the
median of ``--repeats`` runs. Beside it, in the same run:

* ``python -c "import torch"``: what importing torch alone costs on this machine, so that the
  toolkit's own share (cold start minus that) can be read off;
* ``python -c "pass"``: the interpreter's own start;
* espeak-ng and flite speaking the same sentence to a file, where they are installed (the rows say
  when they are not).

Warm latency: with everything loaded in one process (what ``--batch``, several files or a server
get), one sentence in to its audio out, and one clip in to its text out; median of ``--repeats``.

    python bench/latency.py                       # 2 threads, 7 repeats
    python bench/latency.py --repeats 11 --threads 1
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speech.recipes.common import cpu_model

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "The birch canoe slid on the smooth planks."
CLIP = "fsdd/recordings/7_theo_0.wav"


def timed(cmd: list[str], env: dict, repeats: int) -> float | None:
    """Median wall seconds of ``cmd`` (None if it fails)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            print(f"  failed: {' '.join(cmd)}: {r.stderr.strip()[-300:]}", file=sys.stderr)
            return None
    return statistics.median(times)


def warm(repeats: int, clip: Path) -> tuple[float, float]:
    """Median seconds of one sentence -> audio and one clip -> text with everything loaded."""
    from speech.pipelines.synthesizer import Synthesizer
    from speech.pipelines.transcriber import Transcriber

    synth, tr = Synthesizer("kathleen"), Transcriber("digits")
    synth.synthesize(SENTENCE)  # first call: caches, allocator
    tr.transcribe_file(clip)
    ts, tt = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        synth.synthesize(SENTENCE)
        ts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tr.transcribe_file(clip)
        tt.append(time.perf_counter() - t0)
    return statistics.median(ts), statistics.median(tt)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (OMP_NUM_THREADS) of every run")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")))
    args = ap.parse_args(argv)
    clip = args.data / CLIP
    if not clip.is_file():
        print(f"latency: {clip}: FSDD clip not found (set SPEECH_DATA)", file=sys.stderr)
        return 2
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    speech = [str(Path(sys.executable).with_name("speech"))]
    if not Path(speech[0]).exists():
        speech = [sys.executable, "-m", "speech.cli.main"]
    py = [sys.executable, "-c"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "x.wav")
        timed(speech + ["synthesize", SENTENCE, "-o", out], env, 1)  # caches (CMUdict, numba) made once
        rows = [
            ("python start (`python -c pass`)", timed(py + ["pass"], env, args.repeats)),
            ("import torch alone", timed(py + ["import torch"], env, args.repeats)),
            ("`speech --help`", timed(speech + ["--help"], env, args.repeats)),
            ("`speech synthesize` one sentence, cold", timed(speech + ["synthesize", SENTENCE, "-o", out], env,
                                                            args.repeats)),
            ("`speech transcribe` one clip, cold", timed(speech + ["transcribe", str(clip), "--model", "digits"],
                                                        env, args.repeats)),
        ]
        for name, cmd in (("espeak-ng", ["espeak-ng", "-w", out, SENTENCE]),
                          ("flite", ["flite", "-t", SENTENCE, "-o", out])):
            exe = shutil.which(cmd[0])
            rows.append((f"{name} one sentence, cold", timed(cmd, env, args.repeats) if exe else "not installed"))
    import torch  # noqa: PLC0415 - the warm rows run in this process

    torch.set_num_threads(args.threads)
    ws, wt = warm(args.repeats, clip)
    rows += [("`speech synthesize` one sentence, warm (text in to audio out)", ws),
             ("`speech transcribe` one clip, warm (audio in to text out)", wt)]
    torch_s = rows[1][1]
    print(f"{cpu_model()}, {os.cpu_count()} cores, {args.threads} torch threads; medians of {args.repeats} runs; "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| what | seconds | toolkit's own share (minus importing torch) |\n|---|---|---|")
    for name, s in rows:
        if isinstance(s, str) or s is None:
            print(f"| {name} | {s or 'failed'} | |")
            continue
        share = f"{s - torch_s:.2f}" if name.endswith("cold") and name.startswith("`speech") else ""
        print(f"| {name} | {s:.3f} | {share} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
