#!/usr/bin/env python
"""Decoding-only variants of a finished AN4 run: the best checkpoint against the mean of the best
ones and the last (``trainer.average_best``), each with greedy decoding, LM beam search at fixed
settings and LM beam search with the weight and bonus chosen on the dev split.

    python recipes/an4/decode_variants.py                 # the run in exp/an4 (recipes/an4/run.py)
    python recipes/an4/decode_variants.py --exp exp/an4 --average 3

Nothing is retrained. The LM is the recipe's own (``<exp>/lm/train_nodev_3gram.arpa``: the training
transcripts outside the dev split), built here when the run predates it. Prints one table row per
model and the dev grid of each; writes ``<exp>/decode_variants.json``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import LM_WEIGHTS, REPO, WORD_BONUSES, dev_split_and_lm  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exp", type=Path, default=REPO / "exp" / "an4", help="a finished recipes/an4/run.py folder")
    ap.add_argument("--average", type=int, default=3, help="how many best checkpoints to average with the last")
    ap.add_argument("--dev-fraction", type=float, default=0.05, help="the trainer's data.dev_fraction")
    ap.add_argument("--beam-size", type=int, default=16)
    args = ap.parse_args(argv)
    ckpts = args.exp / "ctc" / "checkpoints"
    if not (args.exp / "ctc" / "model").is_dir() or not ckpts.is_dir():
        print(f"decode_variants: {args.exp}: no ctc/model and ctc/checkpoints; run recipes/an4/run.py first",
              file=sys.stderr)
        return 2

    from safetensors.torch import save_file

    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import decoding_config
    from speech.recipes.lm_tune import tune_lm_weights
    from speech.train.checkpoint import average_checkpoints, load_checkpoint

    # the trainer's own ranking of its kept checkpoints (dev metric, best first), as trainer.average_best uses it
    ranked = [ckpts / name for _, _, name in load_checkpoint(ckpts / "last.pt").get("best", [])]
    sources = list(dict.fromkeys([p for p in ranked[: args.average] if p.is_file()] + [ckpts / "last.pt"]))
    avg_dir = args.exp / "decode_variants" / "model-avg"
    if avg_dir.exists():
        shutil.rmtree(avg_dir)
    shutil.copytree(args.exp / "ctc" / "model", avg_dir)
    save_file({k: v.contiguous() for k, v in average_checkpoints(sources).items()}, str(avg_dir / "model.safetensors"))
    lm, dev_manifest, _, _ = dev_split_and_lm(args.exp, args.exp / "data" / "train.jsonl", args.dev_fraction)
    test = args.exp / "data" / "test.jsonl"
    rows = {}
    for name, pkg in (("best checkpoint", args.exp / "ctc" / "model"),
                      (f"mean of {len(sources) - 1} best and the last", avg_dir)):
        t0 = time.time()
        tuned = tune_lm_weights(pkg, dev_manifest, lm, LM_WEIGHTS, WORD_BONUSES, beam_size=args.beam_size)

        def beam(w, b):
            return decoding_config(["decoding=beam"], beam_size=args.beam_size, lm_weight=w, word_bonus=b, lm=str(lm))

        greedy = evaluate_manifest(pkg, test, progress=False, decoding=decoding_config(["decoding=greedy"]))
        fixed = evaluate_manifest(pkg, test, progress=False, decoding=beam(0.8, 1.5))
        chosen = evaluate_manifest(pkg, test, progress=False, decoding=beam(tuned.lm_weight, tuned.word_bonus))
        rows[name] = {"greedy": greedy.wer, "beam_0.8_1.5": fixed.wer, "beam_dev": chosen.wer, "cer_dev": chosen.cer,
                      "lm_weight": tuned.lm_weight, "word_bonus": tuned.word_bonus, "dev_wer": tuned.wer,
                      "dev_utterances": tuned.utterances, "minutes": round((time.time() - t0) / 60, 2)}
        print(f"\n{name} ({', '.join(p.name for p in sources) if pkg == avg_dir else 'ctc/model'}):\n{tuned.table()}")
    print("\n| weights | greedy WER | LM beam, weight 0.8 / bonus 1.5 | LM beam, chosen on dev | chosen (dev WER) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {100 * r['greedy']:.2f}% | {100 * r['beam_0.8_1.5']:.2f}% | {100 * r['beam_dev']:.2f}% "
              f"| {r['lm_weight']:g} / {r['word_bonus']:g} ({100 * r['dev_wer']:.2f}%) |")
    (args.exp / "decode_variants.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    from speech.cli.errors import guarded_main

    sys.exit(guarded_main(main))
