"""The ``speech`` command line's arguments: one sub-parser per command, each naming the function of
:mod:`speech.cli.asr` or :mod:`speech.cli.tts` that runs it. Usage errors are one line (exit status 2).

Only the standard library is imported here, so ``speech --help`` answers at once.
"""
from __future__ import annotations

import argparse

from speech import __version__
from speech.cli import asr, errors, models, tts
from speech.cli.args import (
    COUNT,
    DECODING_HELP,
    add_decoding_args,
    add_segment_args,
    number,
)
from speech.cli.export import add_export
from speech.cli.serve import add_serve
from speech.cli.synthesize_args import add_synthesize
from speech.cli.transcribe_args import add_transcribe


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in the toolkit's one-line form (exit status 2)."""

    def error(self, message: str):
        errors.error(f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(errors.BAD_INPUT)


TRAIN_HELP = """Train a model from a composed Hydra config (conf/ in the repository, speech.conf when installed).

examples:
  speech train experiment=fsdd
  speech train experiment=fsdd trainer.max_epochs=5 model.asr.hidden_size=128 output_dir=exp/small
  speech train experiment=fsdd --print-config
  torchrun --nproc_per_node 2 -m speech.cli.main train experiment=fsdd trainer=ddp
Re-running the same command resumes from output_dir/checkpoints/last.pt."""


EVALUATE_TTS_HELP = """Objective evaluation of a voice package on held-out prompts of its corpus.

Synthesizes each held-out prompt (the package's test_ids from training, else a 5 % held-out split,
or --ids), and compares it with the real recording: mel-cepstral distortion after DTW in two kinds
(the standard one on WORLD/SPTK mel-cepstra, and the toolkit's on mel-filterbank cepstra), F0 RMSE
(Hz and cents), voicing decision error, real-time factor, and the word error rate of an
independent recognizer (PocketSphinx, the 'eval' extra) on the real and the synthesized audio.
Writes OUT/tts_eval.json, OUT/tts_eval.tsv and OUT/wavs/<id>.wav.

examples:
  speech evaluate-tts --model exp/kathleen/model
  speech evaluate-tts --model exp/kathleen/model --corpus ../shared/data/kathleen --limit 20 --no-asr
  speech evaluate-tts --model exp/kathleen/model --copy-synthesis --vocoder exp/kathleen/vocoder/model"""


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="speech", description="Speech recognition and synthesis toolkit.",
                 epilog=errors.EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    ap.add_argument("--debug", action="store_true", help="show the traceback of an error (also SPEECH_DEBUG=1)")
    ap.add_argument("--version", action="version", version=f"speech {__version__}")
    # the same two switches after the command name (speech transcribe ... --debug); SUPPRESS keeps a
    # switch given before the command from being reset by the subcommand's default
    common = _Parser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error (also SPEECH_DEBUG=1)")
    sub = ap.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser

    def add_parser(name, **kw):
        kw.setdefault("parents", [common])
        if "epilog" not in kw and kw.get("formatter_class") is argparse.RawDescriptionHelpFormatter:
            kw["epilog"] = errors.EXIT_STATUS_HELP
        return _add_parser(name, **kw)

    sub.add_parser = add_parser  # type: ignore[method-assign]

    p = sub.add_parser("train", help="train a model (Hydra overrides: experiment=fsdd trainer.max_epochs=5 ...)",
                       description=TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=fsdd model.asr.hidden_size=256")
    p.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    p.add_argument("--skip-bad", action="store_true",
                   help="train on without manifest lines that fail their checks, listing them in "
                        "output_dir/skipped.jsonl (same as data.skip_bad=true)")
    p.set_defaults(func=asr.cmd_train)

    p = sub.add_parser("models", help="list the bundled models: name, task, domain, size and measured numbers",
                       description=models.MODELS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["asr", "tts", "g2p"], help="only recognizers, voices or the G2P model")
    p.add_argument("--json", action="store_true", help="one JSON object per model")
    p.set_defaults(func=models.cmd_models)

    p = sub.add_parser("prepare", help="import a corpus from its own layout into JSON-lines manifests")
    p.add_argument("corpus", help="fsdd, an4, ljspeech, librispeech, folder or table")
    p.add_argument("src", help="the corpus folder (or the .tsv/.csv file for 'table')")
    p.add_argument("out", help="output folder for <split>.jsonl")
    p.add_argument("--force", action="store_true", help="redo even if the manifests are up to date")
    p.set_defaults(func=asr.cmd_prepare)

    add_transcribe(sub)

    decoding_epilog = f"{DECODING_HELP}\n\n{errors.EXIT_STATUS_HELP}"
    p = sub.add_parser("lm", help="train a word n-gram LM (ARPA) from a text file, one sentence per line")
    p.add_argument("text", help="text file (for a |-separated LJSpeech metadata file the last column is used)")
    p.add_argument("out", help="output .arpa file")
    p.add_argument("--order", type=number(int, 1, 9), default=3)
    p.add_argument("--method", default="kneser-ney", choices=["kneser-ney", "witten-bell"])
    p.add_argument("--no-normalize", action="store_true", help="keep the text as is (default: ASR normalization)")
    p.set_defaults(func=asr.cmd_lm)

    p = sub.add_parser("align", help="word and token time spans of a transcript in a recording (JSON + TextGrid)")
    p.add_argument("audio", help="the recording")
    p.add_argument("text", help="its transcript, or a file holding it")
    p.add_argument("--model", required=True, help="CTC model: a package folder or a bundled name (speech models)")
    p.add_argument("--out", help="output path without extension (default: beside the audio)")
    p.add_argument("--device", default="cpu")
    add_segment_args(p)
    p.set_defaults(func=asr.cmd_align)

    p = sub.add_parser("align-dataset", help="frame labels for CE training: Viterbi-align a manifest with a CTC model")
    p.add_argument("manifest", help="JSON-lines manifest with transcripts")
    p.add_argument("out", help="output JSON lines of run-length encoded frame labels (vocabulary saved beside it)")
    p.add_argument("--model", required=True, help="CTC model: a package folder or a bundled name (speech models)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=COUNT, default=16)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=asr.cmd_align_dataset)

    p = sub.add_parser("evaluate", help="WER / CER / real-time factor of a model on a manifest",
                       epilog=decoding_epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="JSON-lines manifest with reference texts")
    p.add_argument("overrides", nargs="*", metavar="decoding...=VALUE",
                   help="decoding overrides, e.g. decoding=beam decoding.beam_size=8 (see below), also after "
                        "the options")
    p.add_argument("--model", required=True, help="a model package folder or a bundled name (speech models)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=COUNT, default=16)
    p.add_argument("--output", help="write per-utterance hypotheses (JSON lines) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_decoding_args(p)
    p.set_defaults(func=asr.cmd_evaluate, late_words="overrides")

    add_synthesize(sub)
    add_export(sub)
    add_serve(sub)

    p = sub.add_parser("evaluate-tts", help="MCD / F0 RMSE / RTF / recognizer WER of a voice on held-out prompts",
                       description=EVALUATE_TTS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a voice package folder or a bundled name (speech models)")
    p.add_argument("--corpus", help="corpus folder (audio + .txt, or LJSpeech layout); default: the package's "
                                    "training corpus (meta.json)")
    p.add_argument("--out", help="report folder (default: tts_eval beside the package folder)")
    p.add_argument("--ids", help="comma-separated utterance ids (default: the package's held-out test ids)")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim (default) or a vocoder package folder")
    p.add_argument("--limit", type=COUNT, help="evaluate at most N utterances")
    p.add_argument("--no-asr", action="store_true", help="skip the recognizer WER (PocketSphinx)")
    p.add_argument("--copy-synthesis", action="store_true",
                   help="judge the vocoder alone: the held-out recordings' own mels -> --vocoder -> audio")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=tts.cmd_evaluate_tts)

    p = sub.add_parser("train-vocoder", help="train a HiFi-GAN vocoder (Hydra overrides: experiment=kathleen ...)",
                       description="Train a HiFi-GAN vocoder on the synthesis corpus of the composed config "
                                   "(groups vocoder/, tts/, features/, trainer/). Examples:\n"
                                   "  speech train-vocoder experiment=kathleen vocoder.preset=v3\n"
                                   "  speech train-vocoder experiment=kathleen vocoder.mels=teacher_forced "
                                   "vocoder.acoustic_model=exp/kathleen/model vocoder.init_from=exp/kathleen/vocoder/model",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.add_argument("--print-config", action="store_true", help="print the composed config and exit")
    p.set_defaults(func=tts.cmd_train_vocoder)

    p = sub.add_parser("vocode", help="copy synthesis: audio (or a .npy log-mel) -> mel -> audio with a vocoder")
    p.add_argument("input", help="audio file, or a .npy (T, n_mels) log-mel")
    p.add_argument("-o", "--output", required=True, help="output wav")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim or a vocoder package folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=number(int, 0), default=0, help="torch threads (0 = default)")
    p.set_defaults(func=tts.cmd_vocode)
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``build_parser().parse_args``, except that the commands that take decoding overrides
    (``late_words``) also take them after the options (argparse alone stops reading positional
    words at the first option). Raises SystemExit after a one-line usage error."""
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    late = getattr(args, "late_words", None)
    if extra and late and not any(w.startswith("-") and w != "-" for w in extra):  # "-" is stdin
        getattr(args, late).extend(extra)
    elif extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
