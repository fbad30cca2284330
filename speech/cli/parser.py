"""The ``speech`` command line's arguments: one sub-parser per command, each naming the function of
:mod:`speech.cli.asr` or :mod:`speech.cli.tts` that runs it. Usage errors are one line (exit status 2).

Only the standard library is imported here, so ``speech --help`` answers at once.
"""
from __future__ import annotations

import argparse
import math

from speech.cli import asr, errors, tts


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors in the toolkit's one-line form (exit status 2)."""

    def error(self, message: str):
        errors.error(f"{self.prog}: {message} (see {self.prog} --help)")
        raise SystemExit(errors.BAD_INPUT)


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False):
    """An argparse type: a finite int/float within [low, high] (low excluded with ``low_open``)."""
    name = "an integer" if kind is int else "a number"
    bound = (f" > {low:g}" if low_open else f" >= {low:g}") if low is not None else ""
    bound += f" and <= {high:g}" if high is not None else ""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected {name}{bound}") from None
        if not math.isfinite(v) or (low is not None and (v <= low if low_open else v < low)) or \
                (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {name}{bound}")
        return v
    parse.__name__ = name
    return parse


_COUNT = _number(int, 1)             # sizes and counts: 1, 2, ...
_SECONDS = _number(float, 0, low_open=True)
_FINITE = _number(float)

DECODING_HELP = """decoding (config group decoding/, conf/decoding/*.yaml, whose values are the defaults):
  greedy best-path decoding unless told otherwise. Words such as decoding=beam decoding.beam_size=8
  decoding.prune_logp=-8 (among the inputs) override the config like `speech train` overrides do.
  --beam-size, --lm, --lm-weight, --word-bonus and --lexicon are shortcuts for decoding.beam_size=,
  decoding.lm=, ... and select decoding=beam unless a decoding= word is given; what they leave
  unset comes from conf/decoding/beam.yaml (shown by: speech train decoding=beam --print-config)."""


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decoding options", "shortcuts for decoding.KEY=VALUE (see 'decoding' below)")
    g.add_argument("--beam-size", type=_COUNT, help="decoding.beam_size: hypotheses kept per frame")
    g.add_argument("--lm", help="decoding.lm: word n-gram language model in ARPA format (speech lm TEXT OUT.arpa)")
    g.add_argument("--lm-weight", type=_FINITE, help="decoding.lm_weight: weight of the LM's log-probability")
    g.add_argument("--word-bonus", type=_FINITE,
                   help="decoding.word_bonus: score added per word (counters the LM's short bias)")
    g.add_argument("--lexicon", help="decoding.lexicon: word list; only these words may be output")


def add_segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-segment", type=_number(float, 1.0), default=20.0,
                   help="recordings longer than this many seconds are cut into segments of at most this length")
    p.add_argument("--segment", choices=("pause", "window"), default="pause",
                   help="pause: cut long recordings at every pause (energy voice activity); window: fixed "
                        "windows cut at their quietest point")
    p.add_argument("--min-pause", type=_SECONDS, default=0.3, help="shortest pause (seconds) that separates segments")
    p.add_argument("--speech-floor", type=_number(float, -120.0, 0.0, low_open=True), default=-70.0, metavar="DB",
                   help="audio whose loudest 20 ms frame is below this level (dBFS) holds no speech and is not "
                        "decoded (default -70; lower it for very quiet recordings)")
    p.add_argument("--segment-pad", type=_number(float, 0.0), default=0.1,
                   help="seconds of each pause kept around a segment's speech (0 suits models trained on "
                        "clips trimmed to the word, such as FSDD)")


TRAIN_HELP = """Train a model from a composed Hydra config (conf/ in the repository, speech.conf when installed).

examples:
  speech train experiment=fsdd
  speech train experiment=fsdd trainer.max_epochs=5 model.asr.hidden_size=128 output_dir=exp/small
  speech train experiment=fsdd --print-config
  torchrun --nproc_per_node 2 -m speech.cli.main train experiment=fsdd trainer=ddp
Re-running the same command resumes from output_dir/checkpoints/last.pt."""


SYNTHESIZE_HELP = """Synthesize speech from text with a voice package (output_dir/model of a TTS training run).

The text is split into sentences, long sentences are cut at pauses, so any length works.
Characters that cannot be pronounced and words guessed by the letter-to-sound fallback are
reported on stderr; the output path, audio duration and real-time factor go to stdout.

text sources (one of):
  TEXT                  the text itself ('-': read stdin; omitted: stdin when it is not a terminal)
  --text-file FILE      a UTF-8 text file
  --batch FILE          one utterance per line, 'id<TAB>text' or 'id|text' ('#' comments and blank
                        lines ignored): writes -o DIR/<id>.wav; bad lines (no separator, empty or
                        duplicate id, id unusable as a file name, nothing to pronounce) are reported
                        with their line number and the rest is synthesized; exit status 1 if any failed

examples:
  speech synthesize "Hello world. How are you?" -o hello.wav --model exp/kathleen/model
  echo "Read from stdin." | speech synthesize -o out.wav --model exp/kathleen/model --speed 1.2
  speech synthesize --text-file chapter.txt -o chapter.wav --model exp/kathleen/model --plot chapter.png
  speech synthesize --batch prompts.tsv -o wavs/ --model exp/kathleen/model --plot

exit status: 0 ok; 1 some --batch lines failed; 2 bad model, options or text (one-line error)."""

EVALUATE_TTS_HELP = """Objective evaluation of a voice package on held-out prompts of its corpus.

Synthesizes each held-out prompt (the package's test_ids from training, else a 5 % held-out split,
or --ids), and compares it with the real recording: mel-cepstral distortion (MCD, dB, after DTW),
F0 RMSE (Hz and cents), voicing decision error, real-time factor, and the word error rate of an
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

    p = sub.add_parser("prepare", help="import a corpus from its own layout into JSON-lines manifests")
    p.add_argument("corpus", help="fsdd, an4, ljspeech, librispeech, folder or table")
    p.add_argument("src", help="the corpus folder (or the .tsv/.csv file for 'table')")
    p.add_argument("out", help="output folder for <split>.jsonl")
    p.add_argument("--force", action="store_true", help="redo even if the manifests are up to date")
    p.set_defaults(func=asr.cmd_prepare)

    decoding_epilog = f"{DECODING_HELP}\n\n{errors.EXIT_STATUS_HELP}"
    p = sub.add_parser("transcribe", help="transcribe audio files, folders or glob patterns",
                       epilog=decoding_epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="audio files, folders (searched recursively) or glob patterns; and decoding overrides "
                        "(decoding=beam decoding.beam_size=8, see below), also after the options")
    p.add_argument("--model", required=True, help="model package folder (output_dir/model of a training run)")
    p.add_argument("--format", choices=["txt", "json", "srt", "vtt"], default="txt",
                   help="txt: the text (path<TAB>text for several files); json: one JSON object per line "
                        "(with words and their times under --timestamps); srt / vtt: subtitles")
    p.add_argument("--timestamps", action="store_true",
                   help="word start/end times and confidences (from aligning the decoded text)")
    p.add_argument("--output-dir", help="srt/vtt: write one subtitle file per input here instead of stdout")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=_COUNT, default=16, help="files (or segments of a long file) decoded together")
    add_segment_args(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when several files and stderr is a terminal)")
    add_decoding_args(p)
    p.set_defaults(func=asr.cmd_transcribe, late_words="paths")

    p = sub.add_parser("lm", help="train a word n-gram LM (ARPA) from a text file, one sentence per line")
    p.add_argument("text", help="text file (for a |-separated LJSpeech metadata file the last column is used)")
    p.add_argument("out", help="output .arpa file")
    p.add_argument("--order", type=_number(int, 1, 9), default=3)
    p.add_argument("--method", default="kneser-ney", choices=["kneser-ney", "witten-bell"])
    p.add_argument("--no-normalize", action="store_true", help="keep the text as is (default: ASR normalization)")
    p.set_defaults(func=asr.cmd_lm)

    p = sub.add_parser("align", help="word and token time spans of a transcript in a recording (JSON + TextGrid)")
    p.add_argument("audio", help="the recording")
    p.add_argument("text", help="its transcript, or a file holding it")
    p.add_argument("--model", required=True, help="CTC model package")
    p.add_argument("--out", help="output path without extension (default: beside the audio)")
    p.add_argument("--device", default="cpu")
    add_segment_args(p)
    p.set_defaults(func=asr.cmd_align)

    p = sub.add_parser("align-dataset", help="frame labels for CE training: Viterbi-align a manifest with a CTC model")
    p.add_argument("manifest", help="JSON-lines manifest with transcripts")
    p.add_argument("out", help="output JSON lines of run-length encoded frame labels (vocabulary saved beside it)")
    p.add_argument("--model", required=True, help="CTC model package")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_COUNT, default=16)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=asr.cmd_align_dataset)

    p = sub.add_parser("evaluate", help="WER / CER / real-time factor of a model on a manifest",
                       epilog=decoding_epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("manifest", help="JSON-lines manifest with reference texts")
    p.add_argument("overrides", nargs="*", metavar="decoding...=VALUE",
                   help="decoding overrides, e.g. decoding=beam decoding.beam_size=8 (see below), also after "
                        "the options")
    p.add_argument("--model", required=True, help="model package folder")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=_COUNT, default=16)
    p.add_argument("--output", help="write per-utterance hypotheses (JSON lines) here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_decoding_args(p)
    p.set_defaults(func=asr.cmd_evaluate, late_words="overrides")

    p = sub.add_parser("synthesize", help="text -> speech with a voice package (one text, a file, stdin or a batch)",
                       description=SYNTHESIZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", metavar="TEXT",
                   help="text to speak; '-' reads stdin (also when omitted and stdin is not a terminal)")
    p.add_argument("-o", "--output", required=True,
                   help="output audio file (.wav, .flac, ...); with --batch, the output folder")
    p.add_argument("--model", required=True, help="voice package folder (output_dir/model of a TTS training run)")
    p.add_argument("--text-file", metavar="FILE", help="read the text from this UTF-8 file")
    p.add_argument("--batch", metavar="FILE",
                   help="synthesize each 'id<TAB>text' or 'id|text' line to OUTPUT/<id>.wav (-o is a folder)")
    p.add_argument("--vocoder", default="griffin-lim",
                   help="griffin-lim (default) or a trained vocoder package folder (speech train-vocoder)")
    p.add_argument("--gl-iters", type=_number(int, 0), default=32,
                   help="Griffin-Lim iterations: fewer is faster and rougher (default 32)")
    p.add_argument("--speed", type=_FINITE, default=1.0, help="speaking rate: >1 faster, <1 slower (0.25-4)")
    p.add_argument("--pitch-shift", type=_FINITE, default=0.0, metavar="SEMITONES",
                   help="raise (or lower, negative) the predicted pitch by this many semitones")
    p.add_argument("--energy-scale", type=_FINITE, default=1.0, help="multiply the predicted energy (0-4]")
    p.add_argument("--plot", nargs="?", const="", metavar="PATH",
                   help="PNG of the mel spectrogram, phoneme durations and pitch: at PATH (default: OUTPUT "
                        "with .png); with --batch PATH is a folder for <id>.png (default: the -o folder)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.set_defaults(func=tts.cmd_synthesize)

    p = sub.add_parser("evaluate-tts", help="MCD / F0 RMSE / RTF / recognizer WER of a voice on held-out prompts",
                       description=EVALUATE_TTS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="voice package folder")
    p.add_argument("--corpus", help="corpus folder (audio + .txt, or LJSpeech layout); default: the package's "
                                    "training corpus (meta.json)")
    p.add_argument("--out", help="report folder (default: tts_eval beside the package folder)")
    p.add_argument("--ids", help="comma-separated utterance ids (default: the package's held-out test ids)")
    p.add_argument("--vocoder", default="griffin-lim", help="griffin-lim (default) or a vocoder package folder")
    p.add_argument("--limit", type=_COUNT, help="evaluate at most N utterances")
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
    p.add_argument("--threads", type=_number(int, 0), default=0, help="torch threads (0 = default)")
    p.set_defaults(func=tts.cmd_vocode)
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """``build_parser().parse_args``, except that the commands that take decoding overrides
    (``late_words``) also take them after the options (argparse alone stops reading positional
    words at the first option). Raises SystemExit after a one-line usage error."""
    ap = build_parser()
    args, extra = ap.parse_known_args(argv)
    late = getattr(args, "late_words", None)
    if extra and late and not any(w.startswith("-") for w in extra):
        getattr(args, late).extend(extra)
    elif extra:
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
