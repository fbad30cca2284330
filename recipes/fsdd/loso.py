#!/usr/bin/env python
"""FSDD leave-one-speaker-out: train on five speakers (all their recordings), test on the sixth, each in turn.

    python recipes/fsdd/loso.py                              # corpus from $SPEECH_DATA/fsdd or ../shared/data/fsdd
    python recipes/fsdd/loso.py --exp exp/fsdd-loso trainer.max_epochs=15

Measures how well the digit recognizer generalizes to an unseen voice (the official split shares
speakers between training and test). Writes <exp>/loso.md and the table into recipes/fsdd/README.md.

With the lexicon it also decodes after vocal tract length normalization (``--vtln``, on by default): one
warp factor for the held-out voice, estimated from its test clips' audio alone
(:func:`speech.pipelines.vtln.estimate_warp`), never from their transcripts.
``--no-train`` scores the fold models an earlier run left under <exp>/<speaker>/model again.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import CORPUS_HELP, REPO, add_an4_arguments, default_data, extra_voices, resolve_voice_defaults  # noqa: E402


def loso_table(rows: list[dict], lexicon: bool, vtln: bool) -> str:
    """The markdown table of the folds' ``rows`` with a mean row."""
    def mean(key: str) -> str:
        return f"**{100 * sum(r[key] for r in rows) / len(rows):.2f}%**"

    head = "| held-out speaker | test utts | WER greedy | CER greedy |" + (" WER lexicon beam |" if lexicon else "") \
        + (" warp (VTLN) | WER lexicon beam after VTLN |" if vtln else "") + " training time |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in rows:
        lines.append(f"| {r['speaker']} | {r['utts']} | {100 * r['wer']:.2f}% | {100 * r['cer']:.2f}% |"
                     + (f" {100 * r['wer_lexicon']:.2f}% |" if lexicon else "")
                     + (f" {r['warp']:.2f} | {100 * r['wer_lexicon_vtln']:.2f}% |" if vtln else "")
                     + (f" {r['minutes']:.1f} min |" if r["minutes"] == r["minutes"] else " (not recorded) |"))
    lines.append(f"| **mean** | | {mean('wer')} | |" + (f" {mean('wer_lexicon')} |" if lexicon else "")
                 + (f" | {mean('wer_lexicon_vtln')} |" if vtln else "") + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data(), help="FSDD folder (holding recordings/)")
    ap.add_argument("--exp", type=Path, default=REPO / "exp" / "fsdd-loso")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--speakers", nargs="+", help="hold out only these speakers (default: each in turn)")
    ap.add_argument("--lexicon", action=argparse.BooleanOptionalAction, default=True,
                    help="also decode with the training words as a lexicon (a closed 10-word task)")
    ap.add_argument("--vtln", action=argparse.BooleanOptionalAction, default=True,
                    help="with the lexicon, also decode after per-speaker vocal tract length normalization "
                         "(a warp estimated from the held-out voice's audio, no transcripts)")
    ap.add_argument("--no-train", action="store_true",
                    help="score the fold models of an earlier run (<exp>/<speaker>/model) instead of training")
    add_an4_arguments(ap)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for training")
    args = ap.parse_args(argv)
    resolve_voice_defaults(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not (args.data / "recordings").is_dir():
        print(f"fsdd loso: {args.data}: no recordings/ found. {CORPUS_HELP}", file=sys.stderr)
        return 2

    from speech.audio import load
    from speech.config import compose
    from speech.data.manifest import read_manifest, write_manifest
    from speech.data.prepare import prepare
    from speech.decoding.beam import read_lexicon_words
    from speech.packages.asr import load_asr_package
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import Transcriber, decoding_config
    from speech.pipelines.vtln import estimate_warp
    from speech.recipes.common import machine_summary, write_results_block
    from speech.train.asr import train_asr

    splits = prepare("fsdd", args.data, args.exp / "data")
    utts = read_manifest(splits["train"]) + read_manifest(splits["test"])
    # other voices, never the held-out one (--no-train: the fold models have their training manifests)
    extra = [] if args.no_train else sum(extra_voices(args, args.exp), [])
    speakers = sorted({u.speaker for u in utts})
    if args.speakers:
        unknown = set(args.speakers) - set(speakers)
        if unknown:
            print(f"fsdd loso: --speakers: unknown {sorted(unknown)}; the corpus has {speakers}", file=sys.stderr)
            return 2
        speakers = [s for s in speakers if s in args.speakers]
    earlier = {}  # an earlier run's training times, for --no-train
    if args.no_train and (args.exp / "loso.json").is_file():
        earlier = {r["speaker"]: r for r in json.loads((args.exp / "loso.json").read_text())}
    rows = []
    for spk in speakers:
        d = args.exp / spk
        if args.no_train and not (d / "model" / "meta.json").is_file():
            print(f"fsdd loso: --no-train: {d / 'model'}: no fold model there; run without --no-train first",
                  file=sys.stderr)
            return 2
        test_m = write_manifest(d / "test.jsonl", [u for u in utts if u.speaker == spk])
        if args.no_train:
            package = d / "model"
            minutes = earlier.get(spk, {}).get("minutes", float("nan"))
        else:
            train_m = write_manifest(d / "train.jsonl", [u for u in utts if u.speaker != spk] + extra)
            cfg = compose(["experiment=fsdd", f"data.train_manifest={train_m}", f"data.test_manifest={test_m}",
                           f"output_dir={d}", "trainer.progress=false", *args.overrides])
            t0 = time.time()
            _, package = train_asr(cfg)
            minutes = (time.time() - t0) / 60
        pkg = load_asr_package(package)  # once, for every decoding below
        rep = evaluate_manifest(Transcriber(pkg, decoding=decoding_config(["decoding=greedy"])), test_m,
                                output=d / "test_hyps.jsonl", progress=False)
        row = {"speaker": spk, "utts": rep.utterances, "wer": rep.wer, "cer": rep.cer, "minutes": minutes}
        if args.lexicon:  # the training transcripts' words as a lexicon: output is always a digit word
            lex = d / "lexicon.txt"
            lex.write_text("\n".join(sorted({w for u in utts if u.speaker != spk for w in u.text.split()})) + "\n")
            # FSDD's ten words only: the task's vocabulary (AN4's "oh" is not one of them)
            beam = decoding_config(["decoding=beam", "decoding.beam_size=8"], lexicon=str(lex))
            row["wer_lexicon"] = evaluate_manifest(Transcriber(pkg, decoding=beam), test_m, progress=False,
                                                   output=d / "test_hyps_lexicon.jsonl").wer
            if args.vtln:  # one warp for the held-out voice, from its clips' audio alone
                wavs = [load(u.audio, pkg.sample_rate)[0] for u in read_manifest(test_m)]
                est = estimate_warp(pkg, wavs, read_lexicon_words(lex))
                row["warp"], row["warp_margins"] = est.warp, {str(a): round(m, 3) for a, m in est.scores.items()}
                tr = Transcriber(pkg, decoding=beam, warp=est.warp)
                row["wer_lexicon_vtln"] = evaluate_manifest(tr, test_m, progress=False,
                                                            output=d / "test_hyps_lexicon_vtln.jsonl").wer
        rows.append(row)
        logging.info("held-out %s: WER %.2f%% (lexicon %.2f%%, after VTLN %.2f%% at warp %s)", spk, 100 * rep.wer,
                     100 * row.get("wer_lexicon", -0.01), 100 * row.get("wer_lexicon_vtln", -0.01), row.get("warp"))
    table = loso_table(rows, lexicon=args.lexicon, vtln=args.lexicon and args.vtln)
    (args.exp / "loso.md").write_text(table + "\n")
    (args.exp / "loso.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table)
    if not args.no_readme:
        flags = (["--no-train"] if args.no_train else []) + (["--no-vtln"] if not args.vtln else []) \
            + (["--no-an4"] if args.no_an4 else []) \
            + (["--no-an4-words"] if not (args.an4_words or args.no_an4) else []) \
            + (["--no-flite"] if not args.flite else []) + (["--espeak"] if args.espeak else []) \
            + ([f"--an4-utterances {args.an4_utterances}"] if args.an4_utterances != "digits" else [])
        cmd = " ".join(["python recipes/fsdd/loso.py", *flags, *(["--"] if args.overrides else []), *args.overrides])
        write_results_block(HERE / "README.md", f"{table}\n\nProduced by `{cmd}` "
                            f"({time.strftime('%Y-%m-%d')}, {machine_summary()}).", marker="loso")
    return 0


if __name__ == "__main__":
    # one line per error (SPEECH_DEBUG=1: traceback)
    from speech.cli.errors import guarded_main

    sys.exit(guarded_main(main))
