#!/usr/bin/env python
"""Check forced-alignment word boundaries against the audio energy on LJSpeech clips.

    python recipes/an4/align_check.py --model exp/an4/ctc/model                  # 5 clips of LJSpeech-subset
    python recipes/an4/align_check.py --model PKG --clips LJ001-0002 LJ001-0003 --out exp/align_check

For each clip, ``speech align`` writes JSON + TextGrid; then every boundary between two consecutive
words is checked: it "falls in a silence or a word transition" when the short-time energy at the
boundary (a 30 ms frame) is below the median energy of the frames inside the two words. The script
prints the fraction of boundaries that pass, per clip and overall, next to a baseline that spreads
the same words over the same time span in proportion to their letter counts.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def frame_energy_db(audio: np.ndarray, sr: int, hop: float = 0.01, win: float = 0.03) -> np.ndarray:
    h, w = int(hop * sr), int(win * sr)
    n = max(1, 1 + (len(audio) - w) // h)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(audio, (0, w)), w)[::h][:n]
    return 10 * np.log10((frames ** 2).mean(axis=1) + 1e-10)


def check_clip(words, audio: np.ndarray, sr: int) -> tuple[int, int]:
    """(boundaries passing, boundaries checked) for one clip's word spans."""
    energy = frame_energy_db(audio, sr)
    idx = lambda t: min(len(energy) - 1, max(0, int(round(t / 0.01))))  # noqa: E731
    ok = total = 0
    for a, b in zip(words, words[1:]):
        boundary = (a.end + b.start) / 2
        inside = np.concatenate([energy[idx(a.start):idx(a.end) + 1], energy[idx(b.start):idx(b.end) + 1]])
        total += 1
        ok += int(energy[idx(boundary)] < np.median(inside))
    return ok, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="CTC model package")
    ap.add_argument("--data", type=Path,
                    default=Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")) / "LJSpeech-subset")
    ap.add_argument("--clips", nargs="*", help="clip ids (default: the first five)")
    ap.add_argument("--out", type=Path, default=REPO / "exp" / "align_check")
    args = ap.parse_args(argv)
    import soundfile as sf

    from speech.decoding.align import to_json, to_textgrid
    from speech.pipelines.alignment import align_audio
    from speech.packages.asr import load_asr_package
    from speech.text.normalize import normalize_asr_text

    meta = {row[0]: row[-1] for row in csv.reader(open(args.data / "metadata.csv", encoding="utf-8"),
                                                   delimiter="|", quoting=csv.QUOTE_NONE)}
    clips = args.clips or list(meta)[:5]
    pkg = load_asr_package(args.model)
    vocab = set(pkg.tokenizer.vocab)
    passed = checked = base_ok = 0
    for cid in clips:
        text = normalize_asr_text(meta[cid])
        text = "".join(c for c in text if c == " " or c in vocab)  # the model's alphabet only
        wav = args.data / "wavs" / f"{cid}.wav"
        words, tokens, duration = align_audio(pkg, wav, text)
        to_json(words, tokens, args.out / f"{cid}.json")
        to_textgrid(words, tokens, duration, args.out / f"{cid}.TextGrid")
        audio, sr = sf.read(wav, dtype="float32")
        ok, n = check_clip(words, audio, sr)
        passed, checked = passed + ok, checked + n
        # baseline: the same words spread over the same span in proportion to their letters
        lo, hi = words[0].start, words[-1].end
        sizes = np.array([len(w.label) + 1 for w in words], dtype=float)
        edges = lo + (hi - lo) * np.concatenate([[0], np.cumsum(sizes)]) / sizes.sum()
        from speech.decoding.align import Span

        even = [Span(w.label, a, b, 0.0) for w, a, b in zip(words, edges[:-1], edges[1:])]
        base_ok += check_clip(even, audio, sr)[0]
        print(f"{cid}: {len(words)} words, {ok}/{n} boundaries in low-energy frames -> {args.out / cid}.TextGrid")
    print(f"overall: {passed}/{checked} = {100 * passed / max(checked, 1):.1f}% of word boundaries fall in "
          f"silences or word transitions (boundaries spread evenly by letter count: "
          f"{100 * base_ok / max(checked, 1):.1f}%)")
    return 0


if __name__ == "__main__":
    from speech.cli.errors import guarded_main  # one line per error (SPEECH_DEBUG=1: traceback)

    sys.exit(guarded_main(main))
