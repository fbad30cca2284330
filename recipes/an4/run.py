#!/usr/bin/env python
"""AN4 recipe: CMU AN4 -> char BiLSTM-CTC -> greedy and LM decoding -> CTC-aligned CE model -> results table.

    python recipes/an4/run.py                                    # corpus at $SPEECH_DATA/an4 or ../shared/data/an4
    python recipes/an4/run.py --data /path/to/an4 --exp exp/an4 trainer.max_epochs=20
    python recipes/an4/run.py --skip-ce                          # CTC rows only
    python recipes/an4/run.py --streaming --skip-ce              # unidirectional model for `speech transcribe --stream`

Stages (each skipped when its output exists, so a re-run resumes):
 1. ``speech prepare an4`` -> train.jsonl (948) / test.jsonl (130).
 2. CTC training (``experiment=an4``: SpecAugment, speed perturbation 0.9/1.0/1.1) -> <exp>/ctc/model.
 3. A trigram LM from the TRAINING transcripts only (the test transcripts never train anything).
 4. Test-set WER/CER with greedy decoding and with LM beam search.
 5. Forced alignment of the training set with the CTC model -> frame labels; CE training -> <exp>/ce/model;
    greedy and LM decoding of the test set with it.
 6. The table goes to <exp>/results.md and into recipes/an4/README.md.
 7. With --export-bundled: the CTC model in float16, its LM and the LM decoding settings become the
    bundled model ``an4`` (speech/pretrained/an4, with card.md), after the test set is decoded with it.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS_HELP = ("Get CMU AN4 (the 'an4_sphere' or flac release, CMU Sphinx) and pass the folder holding wav/ and etc/ "
               "with --data.")


def default_data() -> Path:
    return Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")) / "an4"


LM_WEIGHTS = (0.3, 0.5, 0.8, 1.1, 1.5)
WORD_BONUSES = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
"""The grid --tune searches on the dev split."""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data(), help="AN4 folder (holding wav/ and etc/)")
    ap.add_argument("--exp", type=Path, default=None, help="experiment folder (default exp/an4, exp/an4_stream "
                    "with --streaming)")
    ap.add_argument("--streaming", action="store_true",
                    help="train streaming (unidirectional) models, experiment=an4_stream, for "
                         "`speech transcribe --stream`; its results are not written into README.md")
    ap.add_argument("--skip-ce", action="store_true", help="only the CTC model")
    ap.add_argument("--ce-epochs", type=int, default=8, help="epochs of CE training")
    ap.add_argument("--lm-order", type=int, default=3)
    ap.add_argument("--lm-weight", type=float, default=0.8, help="the LM weight of beam search (without --tune)")
    ap.add_argument("--word-bonus", type=float, default=1.5, help="the word bonus of beam search (without --tune)")
    ap.add_argument("--tune", action=argparse.BooleanOptionalAction, default=False,
                    help="choose the LM weight and word bonus on the dev split (the training utterances the "
                         "trainer holds out, which the LM never reads either) instead of the values above. "
                         "Off by default: AN4's dev split is 38 utterances, too few to choose two numbers "
                         "(see README.md)")
    ap.add_argument("--beam-size", type=int, default=16)
    ap.add_argument("--no-readme", action="store_true", help="do not write the results into recipes/an4/README.md")
    ap.add_argument("--export-bundled", action="store_true",
                    help="then write the CTC model with its LM as the bundled 'an4' recognizer (speech/pretrained/an4, "
                         "float16 weights, card.md), measured as trained and as shipped")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for CTC training")
    args = ap.parse_args(argv)
    experiment = "an4_stream" if args.streaming else "an4"
    args.exp = args.exp or REPO / "exp" / experiment
    args.no_readme = args.no_readme or args.streaming
    if args.streaming and args.export_bundled:
        ap.error("--export-bundled writes the bundled 'an4' model from the BiLSTM recipe; drop it with --streaming")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    if not (args.data / "etc" / "an4_train.transcription").is_file():
        print(f"an4 recipe: {args.data}: no etc/an4_train.transcription found. {CORPUS_HELP}", file=sys.stderr)
        return 2

    from speech.config import compose
    from speech.data.prepare import prepare
    from speech.packages.format import weights_path
    from speech.pipelines.alignment import align_manifest
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import Transcriber, decoding_config
    from speech.recipes.common import machine_summary, write_results_block
    from speech.train.asr import train_asr

    exp = args.exp
    # the user's overrides checked first: a bad one is one line before any data work
    base = compose([f"experiment={experiment}", f"data.root={args.data}", f"data.manifest_dir={exp / 'data'}",
                    *args.overrides])
    splits = prepare("an4", args.data, exp / "data")
    test_manifest = base.data.test_manifest  # the prepared test.jsonl unless overridden
    rows, timings = [], {}

    def train(name: str, overrides: list[str]) -> Path:
        out = exp / name
        if weights_path(out / "model").is_file() and (out / "train_summary.json").is_file():
            timings[name] = json.loads((out / "train_summary.json").read_text())["seconds"] / 60
            return out / "model"
        cfg = compose([f"experiment={experiment}", f"data.root={args.data}", f"data.manifest_dir={exp / 'data'}",
                       f"output_dir={out}", "trainer.progress=false", *overrides])
        t0 = time.time()
        _, package = train_asr(cfg)
        timings[name] = (time.time() - t0) / 60
        return package

    lm_path, dev_manifest, lm_train, dev_utts = dev_split_and_lm(exp, splits["train"], float(base.data.dev_fraction),
                                                                 args.lm_order)
    greedy = decoding_config(["decoding=greedy"])

    def score(label: str, package: Path, minutes: float) -> None:
        for decoding, dec_cfg in decodings.items():
            tr = Transcriber(package, batch_size=16, decoding=dec_cfg)
            rep = evaluate_manifest(tr, test_manifest, output=exp / f"hyps_{label}_{decoding.split()[0]}.jsonl",
                                    progress=False)
            rows.append({"model": label, "decoding": decoding, "wer": rep.wer, "cer": rep.cer, "rtf": rep.rtf,
                         "train_minutes": minutes, "utts": rep.utterances})
            logging.info("%s %s: WER %.2f%% CER %.2f%%", label, decoding, 100 * rep.wer, 100 * rep.cer)

    ctc = train("ctc", list(args.overrides))
    if args.tune:
        from speech.recipes.lm_tune import tune_lm_weights

        tuned = tune_lm_weights(ctc, dev_manifest, lm_path, weights=LM_WEIGHTS, bonuses=WORD_BONUSES,
                                beam_size=args.beam_size)
        args.lm_weight, args.word_bonus = tuned.lm_weight, tuned.word_bonus
        (exp / "lm_tune.md").write_text(f"Dev WER ({tuned.utterances} utterances) of LM beam search, "
                                        f"beam {args.beam_size}:\n\n{tuned.table()}\n")
    decodings = {"greedy": greedy,
                 "LM beam": decoding_config(["decoding=beam"], beam_size=args.beam_size, lm_weight=args.lm_weight,
                                            word_bonus=args.word_bonus, lm=str(lm_path))}
    score("CTC", ctc, timings["ctc"])
    if not args.skip_ce:
        align = exp / "ce" / "train_align.jsonl"
        if not align.is_file():
            align_manifest(ctc, splits["train"], align, progress=False)
        ce = train("ce", ["loss=ce", f"data.alignments={align}", "data.speed_perturb=[]",
                          f"trainer.max_epochs={args.ce_epochs}", *args.overrides])
        score("CE (on CTC alignments)", ce, timings["ce"])

    lines = ["| model | decoding | WER | CER | training time | RTF |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['decoding']} | {100 * r['wer']:.2f}% | {100 * r['cer']:.2f}% | "
                     f"{r['train_minutes']:.1f} min | {r['rtf']:.4f} |")
    table = "\n".join(lines)
    (exp / "results.md").write_text(table + "\n")
    (exp / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print(table)
    if not args.no_readme:
        write_results_block(HERE / "README.md", (
            f"{table}\n\nAN4 test set, {rows[0]['utts']} utterances. Produced by `python recipes/an4/run.py` "
            f"({time.strftime('%Y-%m-%d')}, {machine_summary()}); LM: {args.lm_order}-gram Kneser-Ney on the "
            f"{len(lm_train)} training transcripts outside the dev split, beam {args.beam_size}, LM weight "
            f"{args.lm_weight:g}, word bonus {args.word_bonus:g}"
            + (f" (chosen on the {len(dev_utts)} dev utterances: `{exp / 'lm_tune.md'}`)." if args.tune else ".")))
    if args.export_bundled:
        export_an4(ctc, lm_path, decodings, rows, test_manifest, args, exp)
    return 0


def dev_split_and_lm(exp: Path, train_manifest, dev_fraction: float, order: int = 3):
    """The dev split (the training utterances the trainer holds out: same hash) as ``<exp>/data/dev.jsonl``,
    and a Kneser-Ney LM of the other training transcripts, ``<exp>/lm/train_nodev_<order>gram.arpa`` (built
    once). Returns (lm path, dev manifest, LM training utterances, dev utterances)."""
    from speech.data.dataset import split_by_hash
    from speech.data.manifest import read_manifest, write_manifest
    from speech.decoding.lm import build_lm

    lm_train, dev_utts = split_by_hash(read_manifest(train_manifest), dev_fraction)
    dev_manifest = write_manifest(exp / "data" / "dev.jsonl", dev_utts)
    lm_path = exp / "lm" / f"train_nodev_{order}gram.arpa"
    if not lm_path.is_file():
        train_text = exp / "lm" / "train_nodev.txt"
        train_text.parent.mkdir(parents=True, exist_ok=True)
        train_text.write_text("".join(u.text + "\n" for u in lm_train))
        build_lm(train_text, lm_path, order=order, normalize=False)
    return lm_path, dev_manifest, lm_train, dev_utts


def export_an4(ctc: Path, lm_path: Path, decodings: dict, rows: list[dict], test_manifest, args, exp: Path) -> Path:
    """Stage 7: the bundled ``an4`` model (CTC + its trigram LM, beam search by default)."""
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import Transcriber
    from speech.recipes.bundle import Card, augment_summary, export_bundled, half_copy, pct, read_json

    half = half_copy(ctc, exp / "ctc-fp16")
    full = {r["decoding"]: r for r in rows if r["model"] == "CTC"}
    half_rows = {}
    for decoding, dec_cfg in decodings.items():
        half_rows[decoding] = evaluate_manifest(Transcriber(half, batch_size=16, decoding=dec_cfg), test_manifest,
                                                progress=False)
    meta = read_json(ctc / "meta.json")
    augment = augment_summary(ctc)
    lm, greedy = half_rows["LM beam"], half_rows["greedy"]
    n = lm.utterances
    card = Card(
        name="an4", kind="asr", title="CMU AN4 census / alphanumeric recognizer with its LM", task="speech recognition "
        "(BiLSTM-CTC, characters) + 3-gram word LM, prefix beam search",
        domain="US English census answers: spelled letters, digits, names, short commands (16 kHz, close mic)",
        summary="Recognizes what AN4's speakers say to a census form: spelled words (\"r o b e r t\"), numbers "
                "(\"seven two one\"), names and commands (\"enter\", \"rubout\"). Its LM holds only the "
                "vocabulary of AN4's training transcripts; it is not a general English recognizer.",
        data=f"CMU AN4 training set: 948 utterances x 3 speeds (0.9/1.0/1.1), 74 speakers; test: {n} utterances "
             "of 10 other speakers" + (f"; {augment}" if augment else ""),
        licence="AN4 licence (CMU: free for any use, commercial or otherwise)",
        command=" ".join(["python recipes/an4/run.py --skip-ce --export-bundled", *map(shlex.quote, args.overrides)]),
        training=f"{meta['train_seconds'] / 60:.1f} min, {meta['steps']} steps, {meta.get('epochs', '?')} epochs",
        rows=[(f"AN4 test WER ({n} utterances), LM beam {args.beam_size} (the default)",
               pct(full["LM beam"]["wer"]), pct(lm.wer)),
              ("AN4 test CER, LM beam", pct(full["LM beam"]["cer"]), pct(lm.cer)),
              ("AN4 test WER, greedy (decoding=greedy)", pct(full["greedy"]["wer"]), pct(greedy.wer))],
        notes=[f"Decoding by default: beam {args.beam_size}, LM weight {args.lm_weight}, word bonus "
               f"{args.word_bonus:g}, the package's lm.arpa (a Kneser-Ney {args.lm_order}-gram of the training "
               "transcripts; the test transcripts never trained anything). `decoding=greedy` or `--beam-size` etc. "
               "override it."],
        usage="speech transcribe an4_clip.flac --model an4\nspeech transcribe an4_clip.flac --model an4 decoding=greedy")
    decoding = {"decoding": "beam", "beam_size": args.beam_size, "lm": "lm.arpa", "lm_weight": args.lm_weight,
                "word_bonus": args.word_bonus}
    return export_bundled(ctc, card, numbers={"AN4 test WER": pct(lm.wer)},
                          metrics={"wer": lm.wer, "cer": lm.cer, "wer_greedy": greedy.wer, "utterances": n},
                          decoding=decoding, extra_files={"lm.arpa": lm_path})


if __name__ == "__main__":
    # one line per error (SPEECH_DEBUG=1: traceback)
    from speech.cli.errors import guarded_main

    sys.exit(guarded_main(main))
