#!/usr/bin/env python
"""WER / CER speed: speech.decoding.metrics (rapidfuzz) vs the pure-Python alignment it replaced.

The reference is the implementation speech.decoding.metrics had before rapidfuzz (a row-by-row
Levenshtein table in Python, kept here verbatim as ``old_align_errors``). Both score the same
(reference, hypothesis) pairs: sentences of the LJSpeech text (normalized with normalize_asr_text)
and, as hypotheses, the same sentences with seeded random word edits (substitutions by other corpus
words, deletions, insertions). The script prints the corpus times of each, the ratio (old / new,
> 1 means the new one is faster), whether the corpus totals (errors and reference length) are
identical, and in how many pairs the S / D / I split differs (the new one follows jiwer); then the
same for one long pair of ~3,000 words. Times are the best of several runs, wall and CPU (process) seconds.

    python bench/metrics.py                          # 3,000 utterances, $SPEECH_DATA or ../shared/data
    python bench/metrics.py --pairs 500 --long-words 1000 --long-cer
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Sequence

import rapidfuzz

from speech.decoding.metrics import ErrorStats, error_stats
from speech.recipes.common import cpu_model
from speech.text.normalize import normalize_asr_text

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def old_align_errors(ref: Sequence, hyp: Sequence) -> tuple[int, int, int]:
    """The pure-Python alignment speech.decoding.metrics used before rapidfuzz (the reference)."""
    n, m = len(ref), len(hyp)
    # Each cell holds (edits, subs, dels, ins); one row at a time keeps memory O(m).
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        r = ref[i - 1]
        for j in range(1, m + 1):
            d = prev[j - 1]
            if r == hyp[j - 1]:
                best = d
            else:
                best = (d[0] + 1, d[1] + 1, d[2], d[3])
            up = prev[j]
            if up[0] + 1 < best[0]:
                best = (up[0] + 1, up[1], up[2] + 1, up[3])
            left = cur[j - 1]
            if left[0] + 1 < best[0]:
                best = (left[0] + 1, left[1], left[2], left[3] + 1)
            cur.append(best)
        prev = cur
    _, s, d, ins = prev[m]
    return s, d, ins


def old_error_stats(refs: list[str], hyps: list[str], unit: str) -> ErrorStats:
    """The old ``error_stats`` loop around :func:`old_align_errors`."""
    stats = ErrorStats()
    for r, h in zip(refs, hyps):
        a, b = (r.split(), h.split()) if unit == "word" else (list(" ".join(r.split())), list(" ".join(h.split())))
        s, d, i = old_align_errors(a, b)
        stats.substitutions += s
        stats.deletions += d
        stats.insertions += i
        stats.reference_length += len(a)
    return stats


def read_sentences(csv: Path) -> list[str]:
    """Normalized sentences of an LJSpeech ``metadata.csv`` (id|text|normalized text)."""
    out = []
    for n, line in enumerate(csv.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split("|")
        if len(parts) < 2:
            raise SystemExit(f"{csv}:{n}: expected 'id|text|normalized text'")
        text = normalize_asr_text(parts[-1])
        if text:
            out.append(text)
    return out


def corrupt(words: list[str], vocab: list[str], rng: random.Random, rate: float) -> list[str]:
    """The words with about ``rate`` of them edited: a third substituted, deleted, or followed by an insertion."""
    out: list[str] = []
    for w in words:
        if rng.random() >= rate:
            out.append(w)
            continue
        op = rng.randrange(3)
        if op == 0:
            out.append(rng.choice(vocab))
        elif op == 2:
            out += [w, rng.choice(vocab)]
    return out


def timed(fn, repeats: int, budget_s: float = float("inf")) -> tuple[float, float, int, object]:
    """Best wall and CPU (process) seconds of up to ``repeats`` runs (fewer once ``budget_s`` of wall
    time is spent), the number of runs, and the last result. The best run is the one least disturbed
    by other processes on a shared machine (they only ever add time); the CPU time is the steadier of
    the two. The garbage collector is off during each run, as in :mod:`timeit`."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        result = None
        gc.collect()
        gc.disable()  # as timeit does: a collection triggered by earlier garbage is not this run's cost
        try:
            t0, c0 = time.perf_counter(), time.process_time()
            result = fn()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        finally:
            gc.enable()
        if sum(walls) > budget_s:
            break
    return min(walls), min(cpus), len(walls), result


def split_differences(refs: list[str], hyps: list[str], unit: str) -> int:
    """Pairs whose (S, D, I) differ between the old and the new alignment (same total)."""
    diff = 0
    for r, h in zip(refs, hyps):
        new = error_stats([r], [h], unit)
        old = old_error_stats([r], [h], unit)
        diff += (new.substitutions, new.deletions, new.insertions) != (old.substitutions, old.deletions,
                                                                        old.insertions)
    return diff


def compare(label: str, refs: list[str], hyps: list[str], unit: str, repeats: int, splits: bool) -> None:
    t_old, c_old, n_old, old = timed(lambda: old_error_stats(refs, hyps, unit), repeats, budget_s=3.0)
    t_new, c_new, _, new = timed(lambda: error_stats(refs, hyps, unit), repeats)
    same = (old.errors, old.reference_length) == (new.errors, new.reference_length)
    rate = "WER" if unit == "word" else "CER"
    print(f"{label:<18} {rate}  old {t_old:8.4f} s ({n_old} run{'s' if n_old > 1 else ''})  new {t_new:8.5f} s  "
          f"old/new {t_old / t_new:7.1f}x wall, {c_old / max(c_new, 1e-9):7.1f}x CPU  {rate} {new.rate:.4%}  "
          f"totals identical: {same} (errors {old.errors} vs {new.errors}, "
          f"reference {old.reference_length} vs {new.reference_length})")
    if splits:
        print(f"{'':<18}      S/D/I split differs from the old one in {split_differences(refs, hyps, unit)} "
              f"of {len(refs)} pairs (old S/D/I {old.substitutions}/{old.deletions}/{old.insertions}, "
              f"new {new.substitutions}/{new.deletions}/{new.insertions})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("SPEECH_DATA", DEFAULT_DATA)),
                    help="the shared data folder (holds text/ljspeech_metadata_all.csv)")
    ap.add_argument("--pairs", type=int, default=3000, help="utterance pairs")
    ap.add_argument("--edit-rate", type=float, default=0.15, help="fraction of words edited in a hypothesis")
    ap.add_argument("--long-words", type=int, default=3000, help="words of the one long pair (0: skip)")
    ap.add_argument("--long-cer", action="store_true", help="also the CER of the long pair (old: minutes)")
    ap.add_argument("--repeats", type=int, default=7, help="runs of each implementation (the best counts)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    csv = args.data / "text" / "ljspeech_metadata_all.csv"
    if not csv.is_file():
        raise SystemExit(f"{csv}: not found; expected the shared data folder (--data or $SPEECH_DATA)")

    sentences = read_sentences(csv)
    rng = random.Random(args.seed)
    vocab = sorted({w for s in sentences for w in s.split()})
    refs = rng.sample(sentences, min(args.pairs, len(sentences)))
    hyps = [" ".join(corrupt(r.split(), vocab, rng, args.edit_rate)) for r in refs]
    n_words, n_chars = sum(len(r.split()) for r in refs), sum(len(r) for r in refs)

    print(f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); Python {platform.python_version()}, "
          f"rapidfuzz {rapidfuzz.__version__}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{len(refs)} utterance pairs from {csv.name}: {n_words} reference words, {n_chars} characters, "
          f"edit rate {args.edit_rate}, seed {args.seed}; times are the best of {args.repeats} runs (the old "
          f"one: as many as fit in 3 s)")
    compare(f"{len(refs)} utterances", refs, hyps, "char", args.repeats, splits=True)
    compare(f"{len(refs)} utterances", refs, hyps, "word", args.repeats, splits=True)

    if args.long_words:
        words: list[str] = []
        for s in sentences:
            words += s.split()
            if len(words) >= args.long_words:
                break
        long_ref = " ".join(words[: args.long_words])
        long_hyp = " ".join(corrupt(long_ref.split(), vocab, rng, args.edit_rate))
        label = f"1 x {len(long_ref.split())} words"
        compare(label, [long_ref], [long_hyp], "word", args.repeats, splits=False)
        if args.long_cer:
            compare(label, [long_ref], [long_hyp], "char", 1, splits=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
