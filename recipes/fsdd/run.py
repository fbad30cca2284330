#!/usr/bin/env python
"""FSDD recipe: Free Spoken Digit Dataset -> BiLSTM-CTC model package -> test-set results.

One command from the corpus in its own layout to a results table::

    python recipes/fsdd/run.py                                  # corpus at $SPEECH_DATA/fsdd or ../shared/data/fsdd
    python recipes/fsdd/run.py --data /path/to/free-spoken-digit-dataset --exp exp/fsdd
    python recipes/fsdd/run.py trainer.max_epochs=10 model.asr.hidden_size=128   # Hydra overrides
    torchrun --nproc_per_node 4 recipes/fsdd/run.py trainer=ddp                  # data-parallel
    python recipes/fsdd/run.py --streaming        # unidirectional model for `speech transcribe --stream`

Stages: (1) ``speech prepare fsdd`` -> manifests (official split: index 0-4 = test);
(2) ``speech train experiment=fsdd`` -> checkpoints and the model package ``<exp>/model``;
(3) greedy decoding of the 300 test utterances -> WER / CER / real-time factor;
(4) the results table is written to ``<exp>/results.md`` and into this recipe's README.md;
(5) with ``--export-bundled``: the package in float16 becomes the bundled model ``digits``
(``speech/pretrained/digits``, with card.md), after the test set is decoded with it as well.
Re-running resumes training from the last checkpoint and skips finished stages.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORPUS_HELP = ("Get the Free Spoken Digit Dataset (CC-BY-SA 4.0) from its GitHub repository "
               "(Jakobovski/free-spoken-digit-dataset) and pass the folder holding recordings/ with --data.")


DIGIT_WORDS = frozenset({"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"})
"""Words of AN4 transcripts that may train the digit recognizer ("oh" is AN4's zero)."""
FSDD_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def default_data() -> Path:
    return Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")) / "fsdd"


def default_an4() -> Path:
    return Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")) / "an4"


def add_an4_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--an4", type=Path, default=default_an4(),
                    help="CMU AN4 folder (wav/ and etc/): its training utterances made only of digit words (74 "
                         "speakers) train beside FSDD's voices, resampled to 8 kHz")
    ap.add_argument("--no-an4", action="store_true", help="train on FSDD's own speakers only")
    ap.add_argument("--an4-utterances", choices=("digits", "any-digit"), default="digits",
                    help="digits: AN4 utterances made only of digit words; any-digit: every one holding a digit "
                         "word (also spelled letters and other words, so more of each voice)")
    ap.add_argument("--an4-words", action=argparse.BooleanOptionalAction, default=None,
                    help="also every digit word of AN4's training set cut out as a clip of its own (forced alignment "
                         "with the bundled 'an4' model; written once under <exp>/an4_words). Default: on, off with "
                         "--no-an4 or --streaming")
    ap.add_argument("--flite", action=argparse.BooleanOptionalAction, default=None,
                    help="also train on the ten digit words read by CMU Flite's voices (5 voices x 3 pitches x 3 "
                         "rates = 450 clips, written once under <exp>/flite; needs the flite program). Default: on, "
                         "off with --streaming")
    ap.add_argument("--espeak", action=argparse.BooleanOptionalAction, default=False,
                    help="also train on the ten digit words read by eSpeak NG (7 English accents x 6 voice variants x "
                         "3 rates = 1,260 clips, written once under <exp>/espeak; needs the espeak-ng program)")


def resolve_voice_defaults(args, streaming: bool = False) -> None:
    """``--an4-words`` / ``--flite`` left unsaid: on for the BiLSTM recipe (they are what its voices never heard
    were measured with, recipes/fsdd/README.md), off for the streaming one (measured without them) and, for
    the AN4 words, with --no-an4."""
    if args.an4_words is None:
        args.an4_words = not (streaming or args.no_an4)
    if args.flite is None:
        args.flite = not streaming


def extra_voices(args, exp: Path) -> tuple[list, list, list, list]:
    """The training utterances beside FSDD's: (AN4's digit strings, [] with --no-an4; AN4's digit words cut
    out one by one, [] without --an4-words; the digit words read by Flite's voices, [] without --flite; the
    digit words read by eSpeak NG, [] without --espeak)."""
    from speech.recipes.synthetic_voices import espeak_word_utterances, flite_word_utterances

    if args.an4_words and args.no_an4:
        raise ValueError("--an4-words cuts AN4's digit words out of AN4: drop --no-an4 (or --an4-words)")
    an4 = an4_digit_utterances(args, exp / "an4_data")
    words = an4_word_clips(args, exp) if args.an4_words else []
    flite = flite_word_utterances(FSDD_WORDS, exp / "flite", sample_rate=8000) if args.flite else []
    espeak = espeak_word_utterances(FSDD_WORDS, exp / "espeak", sample_rate=8000) if args.espeak else []
    return an4, words, flite, espeak


def an4_word_clips(args, exp: Path) -> list:
    """Every FSDD digit word said in AN4's training set (1,650 of them, 74 speakers), cut out of its
    utterance by forced alignment with the bundled ``an4`` recognizer and written at 8 kHz under
    ``<exp>/an4_words`` (read back on later runs)."""
    from speech.data.manifest import read_manifest
    from speech.packages.registry import resolve_model
    from speech.recipes.word_clips import word_clips

    train = exp / "an4_data" / "train.jsonl"  # written by an4_digit_utterances
    return word_clips(resolve_model("an4"), read_manifest(train), FSDD_WORDS, exp / "an4_words", sample_rate=8000)


def an4_digit_utterances(args, out_dir: Path) -> list:
    """AN4's training utterances whose words are all digit words ("one five oh four"), or [] with --no-an4.

    AN4's 74 training speakers say digit strings on close-talking mics at 16 kHz; FSDD has six voices.
    Raises FileNotFoundError (one line) when the corpus is missing and --no-an4 was not given.
    """
    if args.no_an4:
        return []
    if not (args.an4 / "etc" / "an4_train.transcription").is_file():
        raise FileNotFoundError(f"--an4 {args.an4}: no etc/an4_train.transcription; pass the CMU AN4 folder with "
                                "--an4, or train on FSDD's speakers alone with --no-an4")
    from speech.data.manifest import read_manifest
    from speech.data.prepare import prepare

    splits = prepare("an4", args.an4, out_dir)
    utts = [u for u in read_manifest(splits["train"]) if set(u.text.split()) & DIGIT_WORDS]
    if args.an4_utterances == "digits":
        utts = [u for u in utts if set(u.text.split()) <= DIGIT_WORDS]
    return utts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=default_data(), help="FSDD folder (holding recordings/)")
    ap.add_argument("--exp", type=Path, default=None, help="experiment folder (default exp/fsdd, exp/fsdd_stream "
                    "with --streaming)")
    ap.add_argument("--streaming", action="store_true",
                    help="train the streaming (unidirectional) model, experiment=fsdd_stream, for "
                         "`speech transcribe --stream`; its results are not written into README.md")
    ap.add_argument("--no-readme", action="store_true", help="do not write the results into recipes/fsdd/README.md")
    ap.add_argument("--export-bundled", action="store_true",
                    help="then write the model as the bundled 'digits' recognizer (speech/pretrained/digits, "
                         "float16 weights, card.md), measured as trained and as shipped")
    add_an4_arguments(ap)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides for training")
    args = ap.parse_args(argv)
    experiment = "fsdd_stream" if args.streaming else "fsdd"
    resolve_voice_defaults(args, streaming=args.streaming)
    args.exp = args.exp or REPO / "exp" / experiment
    args.no_readme = args.no_readme or args.streaming
    if args.streaming and args.export_bundled:
        ap.error("--export-bundled writes the bundled 'digits' model from the BiLSTM recipe; drop it with --streaming")
    logging.basicConfig(level=logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")

    if not (args.data / "recordings").is_dir() and not any(args.data.glob("*_*_*.wav")):
        print(f"fsdd recipe: {args.data}: no FSDD recordings found. {CORPUS_HELP}", file=sys.stderr)
        return 2

    from speech.config import compose
    from speech.data.prepare import prepare
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.recipes.common import machine_summary, write_results_block
    from speech.train import distributed
    from speech.train.asr import train_asr

    rank0 = int(os.environ.get("RANK", "0")) == 0
    manifests_dir = args.exp / "data"
    # the config first: a bad override is one line before any data work
    cfg = compose([f"experiment={experiment}", f"data.root={args.data}", f"data.manifest_dir={manifests_dir}",
                   f"output_dir={args.exp}", *args.overrides])
    # 1. manifests (re-runnable: skipped when up to date); rank 0 writes, the others wait. The training
    # manifest is FSDD's training split plus AN4's digit strings (unless --no-an4), its cut-out digit words
    # (--an4-words) and Flite's (--flite)
    an4, words, flite, espeak = extra_voices(args, args.exp) if rank0 else ([], [], [], [])
    extra = an4 + words + flite + espeak
    if rank0:
        splits = prepare("fsdd", args.data, manifests_dir)
        if extra:
            from speech.data.manifest import read_manifest, write_manifest

            write_manifest(manifests_dir / "train_extra.jsonl", read_manifest(splits["train"]) + extra)
    if not args.no_an4 or args.flite or args.espeak:  # (--an4-words needs AN4)
        cfg.data.train_manifest = str(manifests_dir / "train_extra.jsonl")
    # 2. training (resumes from <exp>/checkpoints/last.pt when present)
    t0 = time.time()
    result, package = train_asr(cfg)
    train_minutes = (time.time() - t0) / 60
    if not rank0:
        distributed.cleanup()
        return 0
    distributed.cleanup()
    # 3. evaluation on the official test split (data.test_manifest: the prepared test.jsonl unless overridden)
    report = evaluate_manifest(package, cfg.data.test_manifest, output=args.exp / "test_hyps.jsonl",
                               batch_size=32, progress=True)
    summary = report.summary()
    summary.update({"train_minutes": round(train_minutes, 2), "steps": result.steps,
                    "epochs": result.epochs_completed, "package": str(package)})
    (args.exp / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    table = "\n".join([
        "| test set | utts | WER | CER | errors (S/D/I) | training time | steps | transcription RTF | machine |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| FSDD official test (index 0-4) | {report.utterances} | {100 * report.wer:.2f}% | {100 * report.cer:.2f}% "
        f"| {summary['substitutions']}/{summary['deletions']}/{summary['insertions']} | {train_minutes:.1f} min "
        f"| {result.steps} | {report.rtf:.4f} | {machine_summary()} |",
    ])
    (args.exp / "results.md").write_text(table + "\n")
    print(table)
    if not args.no_readme:
        write_results_block(HERE / "README.md", (
            f"{table}\n\nProduced by `python recipes/fsdd/run.py` ({time.strftime('%Y-%m-%d')}); RTF = model "
            "compute time (features + network + decoding) / audio duration, batch of 32 files."))
    if args.export_bundled:
        export_digits(package, cfg.data.test_manifest, report, args.exp, n_an4=len(an4), n_words=len(words),
                      n_flite=len(flite))
    return 0


LEXICON_BEAM = 8  # the bundled model's default decoding: prefix beam search over the ten digit words


def export_digits(package: Path, test_manifest: str, report, exp: Path, n_an4: int = 0, n_words: int = 0,
                  n_flite: int = 0) -> Path:
    """Stage 5: the bundled ``digits`` model, decoding by default with the ten digit words as its lexicon
    (a closed-vocabulary task: whatever it hears, it answers with a digit word), the test set decoded again
    by the float16 copy, greedy and with the lexicon."""
    from speech.pipelines.evaluate_asr import evaluate_manifest
    from speech.pipelines.transcriber import Transcriber, decoding_config
    from speech.recipes.bundle import Card, augment_summary, export_bundled, half_copy, pct, read_json

    augment = augment_summary(package)
    lexicon = exp / "lexicon.txt"
    lexicon.write_text("\n".join(FSDD_WORDS) + "\n")
    beam = decoding_config(["decoding=beam", f"decoding.beam_size={LEXICON_BEAM}"], lexicon=str(lexicon))
    lex32 = evaluate_manifest(Transcriber(package, batch_size=32, decoding=beam), test_manifest, progress=False)
    half = half_copy(package, exp / "model-fp16")
    greedy16 = evaluate_manifest(half, test_manifest, batch_size=32, progress=False)
    lex16 = evaluate_manifest(Transcriber(half, batch_size=32, decoding=beam), test_manifest, progress=False)
    meta = read_json(package / "meta.json")
    card = Card(
        name="digits", kind="asr", title="spoken digit recognizer", task="speech recognition (BiLSTM-CTC, characters), "
        "prefix beam search over a ten-word lexicon",
        domain="isolated English digits, zero to nine, one per clip",
        summary="Reads one spoken digit per recording (\"zero\" ... \"nine\"), trained on the Free Spoken Digit "
                "Dataset (8 kHz; other rates are resampled), 74 more speakers of CMU AN4 and CMU Flite's voices. "
                "It knows no other words: its decoding answers with digit words only, and for general speech it "
                "is the wrong model.",
        data=f"Free Spoken Digit Dataset, official split: training clips index 5-49 of 6 speakers, plus "
             f"{n_an4} CMU AN4 training utterances made of digit words (74 more speakers, resampled to 8 kHz), "
             + (f"{n_words} digit words cut out of AN4's training utterances by forced alignment with the bundled "
                "'an4' model, " if n_words else "")
             + (f"{n_flite} clips of CMU Flite's voices reading the digit words (3 pitches x 3 rates each), "
                if n_flite else "")
             + f"{meta.get('train_utterances', '?')} training items after the 5% dev hold-out (each clip as recorded "
             "and again requantized to 8 bits); test = FSDD index 0-4 (300 clips). Each clip is scaled to -20 dB RMS "
             "before its features (level-independent)" + (f"; {augment}" if augment else ""),
        licence="CC BY-SA 4.0 (Free Spoken Digit Dataset, Jakobovski et al.); CMU AN4: free for any use (CMU)"
                + ("; CMU Flite's voices: BSD-style (CMU)" if n_flite else ""),
        command="python recipes/fsdd/run.py --export-bundled" + ("" if n_words else " --no-an4-words")
                + ("" if n_flite else " --no-flite"),
        training=f"{meta['train_seconds'] / 60:.1f} min, {meta['steps']} steps, {meta.get('epochs', '?')} epochs",
        rows=[(f"FSDD test WER ({lex16.utterances} clips), ten-word lexicon, beam {LEXICON_BEAM} (the default)",
               pct(lex32.wer), pct(lex16.wer)),
              ("FSDD test CER, lexicon", pct(lex32.cer), pct(lex16.cer)),
              ("FSDD test WER, greedy (decoding=greedy)", pct(report.wer), pct(greedy16.wer))],
        notes=["The official test split holds the six voices the model trained on. Voices it never heard: "
               "recipes/fsdd/README.md, \"Leave one speaker out\" (the same recipe, each FSDD voice held out in turn).",
               "Clips are trimmed to the word; for long recordings of several digits use "
               "`--segment-pad 0` (see the README's long-audio section)."],
        usage="speech transcribe 7_theo_0.wav --model digits\n"
              "speech transcribe recordings/ --model digits --format json\n"
              "speech transcribe 7_theo_0.wav --model digits decoding=greedy   # the letters as heard")
    decoding = {"decoding": "beam", "beam_size": LEXICON_BEAM, "lexicon": "lexicon.txt"}
    return export_bundled(package, card, numbers={"FSDD test WER": pct(lex16.wer)},
                          metrics={"wer": lex16.wer, "cer": lex16.cer, "wer_greedy": greedy16.wer,
                                   "utterances": lex16.utterances},
                          decoding=decoding, extra_files={"lexicon.txt": lexicon})


if __name__ == "__main__":
    # one line per error (SPEECH_DEBUG=1: traceback)
    from speech.cli.errors import guarded_main

    sys.exit(guarded_main(main))
