#!/usr/bin/env python
"""Intelligibility of a voice through torch, ONNX fp32 and ONNX int8: PocketSphinx WER on the voice's
held-out prompts (``meta.json`` ``test_ids``), the same recognizer and scoring as ``speech evaluate-tts``.

Issue 15's target: the int8 export within 3 WER points of the torch voice.

    python bench/voice_parity.py                      # the bundled kathleen voice, 70 prompts (~5 min)
    python bench/voice_parity.py --limit 20
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from speech.audio import load
from speech.data.prepare.tts_corpus import read_tts_corpus
from speech.export.api import export_model
from speech.packages.registry import resolve_model
from speech.pipelines.evaluate_tts import PocketSphinxRecognizer, recognizer_wer
from speech.pipelines.synthesizer import Synthesizer
from speech.recipes.common import cpu_model
from speech.runtime.tts import OnnxSynthesizer

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="kathleen", help="a voice package or bundled name with test_ids in meta.json")
    ap.add_argument("--corpus", default=os.path.join(os.environ.get("SPEECH_DATA", str(REPO.parent / "shared" / "data")),
                                                     "kathleen"))
    ap.add_argument("--limit", type=int, default=0, help="first N held-out prompts (0: all)")
    args = ap.parse_args()
    folder = resolve_model(args.voice, "voice")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    utts = {u.id: u for u in read_tts_corpus(args.corpus, "auto")}
    ids = [i for i in meta.get("test_ids", []) if i in utts][: args.limit or None]
    if not ids:
        raise SystemExit(f"{folder}/meta.json: no held-out test_ids found in {args.corpus}")
    texts = [utts[i].text for i in ids]
    rec = PocketSphinxRecognizer()
    real = recognizer_wer(texts, [rec.transcribe(*load(utts[i].audio)) for i in ids])
    print(f"# voice parity: {args.voice}, {len(ids)} held-out prompts; {cpu_model()}, {os.cpu_count()} cores")
    print("\n| engine | PocketSphinx WER | points vs torch |\n|---|---|---|")
    print(f"| real recordings | {100 * real:.1f}% | |")
    with tempfile.TemporaryDirectory(prefix="speech-voice-parity-") as work:
        engines = {"torch": Synthesizer(folder)}
        for prec in ("fp32", "int8"):
            out = export_model(folder, Path(work) / prec, int8=prec == "int8", measure=False).path
            engines[f"onnx-{prec}"] = OnnxSynthesizer(out, threads=1)
        base = None
        for name, synth in engines.items():
            hyps = []
            for text in texts:
                r = synth.synthesize(text)
                hyps.append(rec.transcribe(r.wav, r.sample_rate))
            wer = recognizer_wer(texts, hyps)
            base = wer if base is None else base
            print(f"| {name} | {100 * wer:.1f}% | {100 * (wer - base):+.1f} |", flush=True)


if __name__ == "__main__":
    main()
