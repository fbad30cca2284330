"""``speech synthesize``'s arguments (standard library only, so ``--help`` answers at once)."""
from __future__ import annotations

import argparse

from speech.cli import tts
from speech.cli.args import FINITE, add_runtime_args, number

SYNTHESIZE_HELP = """Synthesize speech from text. Without --model the bundled default voice speaks (kathleen);
--model takes a bundled voice's name (--list-voices) or a voice package folder (output_dir/model of a
TTS training run).

The text is split into sentences, long sentences are cut at pauses, so any length works.
Characters that cannot be pronounced and words guessed by the letter-to-sound fallback are
reported on stderr; the output path, audio duration and real-time factor go to stdout (to stderr
with -o -).

examples:
  speech synthesize "Hello." -o hello.wav
  speech synthesize "Hello world. How are you?"          # writes hello_world.wav here
  speech synthesize "Hello." -o - | aplay                # WAV on stdout
  echo "Read from stdin." | speech synthesize -o out.wav --speed 1.2
  speech synthesize --text-file chapter.txt -o chapter.wav --sentence-silence 0.4 --plot
  speech synthesize "Hello, world!" --phonemes           # HH AH0 L OW1 , W ER1 L D .
  speech synthesize --batch prompts.jsonl -o wavs/
  speech synthesize "Hello." -o hello.wav --model exp/kathleen/model   # a voice you trained
  speech synthesize "Hello." --model exp/many/model --speaker 2          # a multi-speaker voice
  speech synthesize --list-voices
  speech export kathleen --format onnx -o kathleen-onnx                 # then, without torch:
  speech synthesize "Hello." -o hello.wav --runtime onnx --model kathleen-onnx --threads 1

text sources (one of):
  TEXT                  the text itself ('-': read stdin; omitted: stdin when it is not a terminal)
  --text-file FILE      a UTF-8 text file
  --batch FILE          one utterance per line, written to the -o folder (default: here); bad lines
                        are reported as FILE:LINE on stderr and the rest is synthesized (exit status 1
                        if any failed). Two kinds, told apart by a .jsonl/.json suffix or a first line
                        starting with '{':
    TSV                 'id<TAB>text' or 'id|text' ('#' comments and blank lines ignored) -> <id>.wav;
                        bad: no separator, empty or duplicate id, id unusable as a file name, nothing
                        to pronounce
    JSON lines          {"text": "Hello.", "speaker": 0, "output": "hello.wav", "id": "h1"}: only
                        "text" is required; "speaker" (default --speaker), "output" (relative to the
                        -o folder unless absolute; default <id>.wav, else <line number>.wav);
                        piper's "speaker_id" and "output_file" are read too; bad: not a JSON object,
                        no text, a speaker the voice lacks, an output without an audio extension or
                        that cannot be written, two lines writing one file

output (-o):
  omitted               <first words>.wav here: the first sentence's first words in lower-case
                        ASCII ("Hello, world!" -> hello_world.wav; speech.wav when none); an
                        existing file is never replaced (hello_world-2.wav, -3, ...)
  FILE                  replaced if it exists; the format comes from the extension (.wav, .flac,
                        .ogg, .mp3, ...)
  -                     one WAV file (16-bit PCM) on stdout and nothing else (status to stderr)
  with --batch          the output folder (created; default: here)

--phonemes prints, instead of audio, what the voice's front end gives the model (normalization,
then dictionary or letter-to-sound): one line per sentence, ARPAbet phonemes separated by spaces
(vowels with their stress digit 0/1/2 when the voice uses stress), '|' between words, pauses as
',' (short), ';' (mid) and '.' (long). Like espeak-ng -x; no file is written.

--runtime onnx runs an ONNX export of a voice (speech export VOICE --format onnx -o DIR) with
onnxruntime and numpy, without torch (pip install 'speech[runtime]'): --model names the export
folder (required: no voice is exported on the fly), --vocoder is griffin-lim or an exported
vocoder folder, everything else (batches, -o -, --plot, the controls) works as with torch. A torch
package given with --runtime onnx, or an export without it, is refused with the command that fits.

errors are one line each: an unknown voice name lists the bundled ones, a --speaker the voice lacks
gives its range, an output that cannot be written is named; in a --batch only that line fails."""


def add_synthesize(sub) -> None:
    p = sub.add_parser("synthesize", help="text -> speech with the default voice or --model (one text, a file, "
                                          "stdin or a batch)",
                       description=SYNTHESIZE_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="?", metavar="TEXT",
                   help="text to speak; '-' reads stdin (also when omitted and stdin is not a terminal)")
    p.add_argument("-o", "--output", metavar="FILE|-|DIR",
                   help="output audio file (default: <first words>.wav here, never replacing a file); '-' "
                        "writes WAV to stdout; with --batch, the output folder (default: here)")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="a bundled voice's name (--list-voices) or a voice package folder (default: the bundled "
                        "default voice); with --runtime onnx, an ONNX export folder (required)")
    p.add_argument("--speaker", type=number(int, 0), metavar="ID",
                   help="speaker id of a multi-speaker voice (default 0; --list-voices shows how many)")
    p.add_argument("--text-file", metavar="FILE", help="read the text from this UTF-8 file")
    p.add_argument("--batch", metavar="FILE",
                   help="synthesize each line of a TSV ('id<TAB>text') or JSON-lines ({\"text\": ...}) file into "
                        "the -o folder")
    p.add_argument("--phonemes", action="store_true",
                   help="print the phonemes the voice would speak, one line per sentence, instead of audio")
    p.add_argument("--list-voices", action="store_true",
                   help="list the bundled voices (name, speakers, size, domain, measured numbers) and exit")
    p.add_argument("--sentence-silence", type=number(float, 0.0), default=0.0, metavar="SECONDS",
                   help="silence added after each sentence but the last (default 0; the voice's own pause "
                        "after a sentence's final punctuation is kept)")
    p.add_argument("--vocoder", default="griffin-lim",
                   help="griffin-lim (default) or a trained vocoder package folder (speech train-vocoder); with "
                        "--runtime onnx, an exported vocoder folder")
    p.add_argument("--gl-iters", type=number(int, 0), default=32,
                   help="Griffin-Lim iterations: fewer is faster and rougher (default 32)")
    p.add_argument("--speed", type=FINITE, default=1.0, help="speaking rate: >1 faster, <1 slower (0.25-4)")
    p.add_argument("--pitch-shift", type=FINITE, default=0.0, metavar="SEMITONES",
                   help="raise (or lower, negative) the predicted pitch by this many semitones")
    p.add_argument("--energy-scale", type=FINITE, default=1.0, help="multiply the predicted energy (0-4]")
    p.add_argument("--plot", nargs="?", const="", metavar="PATH",
                   help="PNG of the mel spectrogram, phoneme durations and pitch: at PATH (default: the audio "
                        "file with .png); with --batch PATH is a folder for <name>.png (default: the -o folder)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (torch runtime only)")
    add_runtime_args(p)
    p.set_defaults(func=tts.cmd_synthesize)
