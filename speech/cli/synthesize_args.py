"""``speech synthesize``'s arguments (standard library only, so ``--help`` answers at once)."""
from __future__ import annotations

import argparse

from speech.cli import tts
from speech.cli.args import FINITE, number

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



def add_synthesize(sub) -> None:
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
    p.add_argument("--gl-iters", type=number(int, 0), default=32,
                   help="Griffin-Lim iterations: fewer is faster and rougher (default 32)")
    p.add_argument("--speed", type=FINITE, default=1.0, help="speaking rate: >1 faster, <1 slower (0.25-4)")
    p.add_argument("--pitch-shift", type=FINITE, default=0.0, metavar="SEMITONES",
                   help="raise (or lower, negative) the predicted pitch by this many semitones")
    p.add_argument("--energy-scale", type=FINITE, default=1.0, help="multiply the predicted energy (0-4]")
    p.add_argument("--plot", nargs="?", const="", metavar="PATH",
                   help="PNG of the mel spectrogram, phoneme durations and pitch: at PATH (default: OUTPUT "
                        "with .png); with --batch PATH is a folder for <id>.png (default: the -o folder)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.set_defaults(func=tts.cmd_synthesize)
