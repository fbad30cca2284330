#!/usr/bin/env python
"""Which MCD to trust: Griffin-Lim copy synthesis against MP3 round trips, on both mel-cepstral distortions.

For each of a voice's held-out recordings (a bundled voice's ``test_ids``, e.g. Kathleen's 70 takes)
it makes two degraded copies and scores each against the recording:

* **Griffin-Lim copy synthesis**: the recording's own 80-band log-mel inverted by Griffin-Lim
  (32 iterations), the toolkit's default vocoder;
* **MP3 round trips**: ffmpeg's libmp3lame at 32 and 64 kbit/s (mono), decoded back.

and prints, per system, the mean of the toolkit's mel-filterbank MCD (``mcd_db``,
:func:`speech.features.quality.mcd_dtw`) and of the standard WORLD/SPTK MCD (``mcd_world_db``,
:func:`speech.features.quality.mcd_world`). Griffin-Lim inverts exactly the mel features the
filterbank MCD is computed from, so that measure calls its output nearly perfect; the WORLD one
hears the phase artefacts. Needs ffmpeg and the ``eval`` extra (pyworld, pysptk).

    python bench/mcd_rank.py                      # Kathleen's held-out takes, $SPEECH_DATA/kathleen
    python bench/mcd_rank.py --limit 20
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def mp3_round_trip(src: Path, sr: int, kbps: int, tmp: Path) -> np.ndarray:
    """``src`` (a WAV file) through libmp3lame at ``kbps`` and back, at ``sr``."""
    from speech.audio.io import load

    mp3 = tmp / f"out{kbps}.mp3"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-ac", "1", "-codec:a", "libmp3lame",
                    "-b:a", f"{kbps}k", str(mp3)], check=True)
    out, _ = load(mp3, sample_rate=sr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="kathleen", help="bundled voice (or package) whose test_ids are scored")
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data"))
                    / "kathleen", help="the voice's corpus folder")
    ap.add_argument("--limit", type=int, default=0, help="score only the first N held-out takes (0: all)")
    args = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("bench/mcd_rank.py: ffmpeg not found (the README's set-up installs it)")

    import torch

    from speech.audio.io import load, save
    from speech.data.prepare.tts_corpus import read_tts_corpus
    from speech.features import tts_fbank
    from speech.features.functional import log_mel
    from speech.features.quality import mcd_dtw, mcd_world
    from speech.packages.vocoder import load_vocoder
    from speech.packages.voice import load_tts_package

    ids = list(load_tts_package(args.voice).meta.get("test_ids", []))
    if args.limit:
        ids = ids[: args.limit]
    by_id = {u.id: u for u in read_tts_corpus(args.data)}
    gl = load_vocoder("griffin-lim", tts_fbank())
    sr = gl.sample_rate
    systems = ("griffin-lim copy synthesis", "mp3 32 kbit/s", "mp3 64 kbit/s")
    scores: dict[str, dict[str, list[float]]] = {s: {"mcd_db": [], "mcd_world_db": []} for s in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for uid in ids:
            ref, _ = load(by_id[uid].audio, sample_rate=sr)
            mel = log_mel(torch.from_numpy(np.ascontiguousarray(ref, dtype=np.float32)), gl.fbank)
            src = Path(tmp) / "in.wav"
            save(src, ref, sr)
            outs = {systems[0]: gl(mel).float().numpy(), systems[1]: mp3_round_trip(src, sr, 32, Path(tmp)),
                    systems[2]: mp3_round_trip(src, sr, 64, Path(tmp))}
            for name, wav in outs.items():
                scores[name]["mcd_db"].append(mcd_dtw(ref, wav, sr))
                scores[name]["mcd_world_db"].append(mcd_world(ref, wav, sr))
    print(f"{len(ids)} held-out takes of '{args.voice}' ({args.data}), {sr} Hz")
    print("| system | MCD WORLD (dB, standard) | MCD mel-fbank (dB, ours) |")
    print("|---|---|---|")
    for name in systems:
        print(f"| {name} | {np.mean(scores[name]['mcd_world_db']):.2f} | {np.mean(scores[name]['mcd_db']):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
