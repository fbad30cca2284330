#!/usr/bin/env python
"""Streaming recognition: offline vs streaming WER, word latency and real-time factor of a unidirectional model.

For every utterance of a test manifest:

* offline: the Transcriber (the package's recommended decoding, or the decoding given here) on the whole file;
* streaming: speech.pipelines.streaming.TorchStreamRecognizer (or the ONNX one with --onnx EXPORT) fed
  ``--chunk-ms`` chunks of the same audio; its final text is scored beside the offline text;
* latency of each word of the offline text: the word's end time comes from a forced alignment of the
  offline text to the offline log-probs (speech.pipelines.alignment); the time it is shown is when the
  first partial holding it (the same word at the same position) is printed, in a simulated real-time
  stream: chunk k arrives when its last sample has been spoken and is processed once it has arrived and
  the chunk before it is done, so ``shown = max(arrival_k, shown_{k-1}) + compute_k``. Words that no
  partial shows (greedy partials and beam + LM final text can differ) count at the final result.
  Latency = shown - word end (it includes the chunk's own length and the compute time);
* real-time factor of streaming: compute seconds / audio seconds.

    python bench/stream_latency.py exp/fsdd_stream/model exp/fsdd_stream/data/test.jsonl
    python bench/stream_latency.py exp/an4_stream/ctc/model exp/an4_stream/data/test.jsonl \\
        --lm exp/an4_stream/lm/train_3gram.arpa --beam-size 16 --lm-weight 0.8 --word-bonus 1.5
    python bench/stream_latency.py ... --chunk-ms 100 200 --out results.json

Set OMP_NUM_THREADS=1 (and --threads 1) for numbers comparable across machines with other work on them.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from speech.audio import load
from speech.data.manifest import read_manifest
from speech.decoding.metrics import error_stats
from speech.features import log_mel
from speech.pipelines.alignment import align_log_probs
from speech.pipelines.streaming import TorchStreamRecognizer
from speech.pipelines.transcriber import Transcriber, decoding_config
from speech.recipes.common import machine_summary


def word_ends(tr: Transcriber, wav: np.ndarray, text: str) -> list[float]:
    """End time (s) of each word of ``text`` in a forced alignment to the offline log-probs of ``wav``."""
    if not text:
        return []
    with torch.inference_mode():
        f = log_mel(torch.from_numpy(wav), tr.pkg.fbank)[None]
        lp, _ = tr.pkg.model(f, torch.tensor([f.shape[1]]))
    words, _ = align_log_probs(tr.pkg, lp[0], text)
    return [w.end for w in words]


def stream_one(rec, wav: np.ndarray, chunk: int, final_words: list[str]) -> tuple[str, list[float], float]:
    """Feed ``wav`` in chunks -> (final text, time each final word is first shown, compute seconds)."""
    rec.reset()
    sr = rec.sample_rate
    shown: list[float | None] = [None] * len(final_words)
    clock = 0.0
    for start in range(0, len(wav), chunk):
        piece = wav[start:start + chunk]
        t0 = time.perf_counter()
        partial = rec.accept(piece)
        clock = max((start + len(piece)) / sr, clock) + time.perf_counter() - t0
        if partial is not None:
            for i, w in enumerate(partial.split()[: len(final_words)]):
                if shown[i] is None and w == final_words[i]:
                    shown[i] = clock
    t0 = time.perf_counter()
    result = rec.finish()
    clock = max(len(wav) / sr, clock) + time.perf_counter() - t0
    return result.text, [clock if s is None else s for s in shown], result.compute_seconds


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a unidirectional model package")
    ap.add_argument("manifest", help="test manifest (JSON lines with audio and text)")
    ap.add_argument("--chunk-ms", type=int, nargs="+", default=[100, 200])
    ap.add_argument("--onnx", metavar="EXPORT", help="stream with this ONNX export of the model instead of torch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="first N utterances only (0: all)")
    ap.add_argument("--lm", help="decode offline and final text with LM beam search (an ARPA file)")
    ap.add_argument("--beam-size", type=int, default=16)
    ap.add_argument("--lm-weight", type=float, default=0.8)
    ap.add_argument("--word-bonus", type=float, default=1.5)
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    decoding = None
    if args.lm:
        decoding = decoding_config(["decoding=beam"], beam_size=args.beam_size, lm_weight=args.lm_weight,
                                   word_bonus=args.word_bonus, lm=str(Path(args.lm).resolve()))
    tr = Transcriber(args.model, decoding=decoding, batch_size=16)
    if args.onnx:
        from speech.runtime.stream import open_onnx_stream  # only with --onnx: onnxruntime

        rec = open_onnx_stream(args.onnx, threads=args.threads)
    else:
        rec = TorchStreamRecognizer(tr)
    utts = read_manifest(args.manifest, normalize=True)
    if args.limit:
        utts = utts[: args.limit]
    wavs = [load(u.audio, tr.sample_rate)[0] for u in tqdm(utts, desc="loading", leave=False)]
    refs = [u.text for u in utts]
    offline = []
    for u, wav in zip(utts, tqdm(wavs, desc="offline", leave=False)):
        problem = tr.speech_problem(u.audio, wav)
        offline.append("" if problem else tr.transcribe_arrays([wav])[0])
    audio = sum(len(w) for w in wavs) / tr.sample_rate
    off = error_stats(refs, offline)
    report = {"model": str(args.model), "runtime": "onnx" if args.onnx else "torch", "manifest": str(args.manifest),
              "utterances": len(utts), "audio_seconds": round(audio, 2), "decoding": "LM beam" if args.lm else
              "package", "offline_wer": off.rate, "threads": args.threads, "machine": machine_summary(), "chunks": []}
    ends = [word_ends(tr, w, t) for w, t in zip(tqdm(wavs, desc="aligning", leave=False), offline)]
    for chunk_ms in args.chunk_ms:
        chunk = max(1, int(round(chunk_ms * tr.sample_rate / 1000)))
        finals, lat, compute = [], [], 0.0
        for wav, text, e in zip(tqdm(wavs, desc=f"stream {chunk_ms} ms", leave=False), offline, ends):
            final, shown, secs = stream_one(rec, wav, chunk, text.split())
            finals.append(final)
            compute += secs
            lat += [s - end for s, end in zip(shown, e)]
        st = error_stats(refs, finals)
        same = sum(a == b for a, b in zip(finals, offline))
        report["chunks"].append({
            "chunk_ms": chunk_ms, "stream_wer": st.rate, "final_equals_offline": same, "words": len(lat),
            "latency_mean": statistics.fmean(lat) if lat else float("nan"), "latency_median": pct(lat, 50),
            "latency_p90": pct(lat, 90), "rtf": compute / audio})
    lines = [f"{args.model} on {args.manifest}: {len(utts)} utterances, {audio:.0f} s, decoding "
             f"{report['decoding']}, runtime {report['runtime']}, {args.threads} thread(s), {machine_summary()}",
             "| chunk | offline WER | streaming WER | final == offline | word latency mean / median / p90 | "
             "streaming RTF |", "|---|---|---|---|---|---|"]
    for c in report["chunks"]:
        lines.append(f"| {c['chunk_ms']} ms | {100 * off.rate:.2f}% | {100 * c['stream_wer']:.2f}% | "
                     f"{c['final_equals_offline']}/{len(utts)} | {c['latency_mean']:.3f} / {c['latency_median']:.3f} "
                     f"/ {c['latency_p90']:.3f} s ({c['words']} words) | {c['rtf']:.4f} |")
    print("\n".join(lines))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
