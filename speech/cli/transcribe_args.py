"""``speech transcribe``'s arguments (standard library only, so ``--help`` answers at once)."""
from __future__ import annotations

import argparse

from speech import __version__
from speech.cli import asr, errors
from speech.cli.args import COUNT, DECODING_HELP, add_decoding_args, add_runtime_args, add_segment_args
from speech.cli.outputs import FORMAT_CHOICES

TRANSCRIBE_HELP = """Transcribe audio with a recognition model: a bundled model's name (speech models lists them)
or a package folder (output_dir/model of a training run). Recognition models are domain models (a
digit recognizer, the AN4 census/alphanumeric recognizer, ...): --model is always given.

examples:
  speech transcribe clip.wav --model digits
  speech transcribe recordings/ --model digits --format all --output-dir out/
  cat clip.wav | speech transcribe - --model digits
  speech transcribe --manifest test.jsonl --model an4 --output-dir hyps/
  speech transcribe talk.flac --model an4 --format srt > talk.srt

inputs: files, folders (searched recursively for audio), glob patterns, and - for audio bytes on
  stdin (WAV, FLAC, OGG, MP3; other formats through ffmpeg when it is installed). Or --manifest
  FILE.jsonl: one JSON object per line with "audio" (a path; relative paths are taken from the
  manifest's folder); out come the same objects with "pred_text" added, as JSON lines on stdout or
  in DIR/<manifest name> with --output-dir. Bad lines (not JSON, no "audio", a missing or unreadable
  file, a "start"/"end" segment, which is not supported) are reported as FILE:LINE on stderr and
  kept in the output with "pred_text": null and "error"; the rest are transcribed.

formats (--format):
  txt   the text (several inputs on stdout: input<TAB>text per line)
  json  one JSON object per input (path, text, duration; words with --timestamps; segments)
  srt   SubRip subtitles, vtt WebVTT subtitles (cues from word times)
  tsv   start<TAB>end<TAB>text per cue in whole milliseconds, after that header line (as whisper)
  all   every format above, one file each (needs --output-dir)
  Without --output-dir the document goes to stdout; several srt, vtt or tsv documents are never
  concatenated there: several inputs need --output-dir. With --output-dir DIR (created) each input
  gets DIR/<name>.<format> for every format asked for, and one line per file written is printed:
  input<TAB>output. <name> is the input's file name without its extension (stdin: 'stdin'); when
  two inputs share it (a/x.wav, b/x.wav), every input's path below the inputs' common folder is
  mirrored under DIR (DIR/a/x.txt, DIR/b/x.txt); inputs that still clash (x.wav, x.flac) keep
  their extension (DIR/x.wav.txt), and -2, -3 are added to anything left.

decoding: without decoding words or options, the model's recommended decoding (a bundled model's
  LM and beam settings), else greedy."""


def add_transcribe(sub) -> None:
    p = sub.add_parser("transcribe", help="transcribe audio files, folders, glob patterns, stdin or a manifest",
                       description=TRANSCRIBE_HELP, epilog=f"{DECODING_HELP}\n\n{errors.EXIT_STATUS_HELP}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="audio files, folders (searched recursively), glob patterns or - (stdin); and decoding "
                        "overrides (decoding=beam decoding.beam_size=8, see below), also after the options")
    p.add_argument("--model", metavar="NAME|PATH",
                   help="a bundled recognizer's name (speech models --task asr) or a model package folder")
    p.add_argument("--format", choices=FORMAT_CHOICES, default=None,
                   help="txt (default), json, srt, vtt, tsv, or all (see 'formats' above)")
    p.add_argument("--output-dir", metavar="DIR",
                   help="write one file per input and format here (created) instead of stdout")
    p.add_argument("--manifest", metavar="FILE.jsonl",
                   help="transcribe the \"audio\" of each JSON line; print the lines with \"pred_text\" added")
    p.add_argument("--timestamps", action="store_true",
                   help="word start/end times and confidences (from aligning the decoded text)")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--batch-size", type=COUNT, default=16, help="files (or segments of a long file) decoded together")
    add_segment_args(p)
    add_runtime_args(p)
    p.add_argument("--vtln", action="store_true",
                   help="the inputs are one speaker's short clips, each one word of a closed vocabulary (the "
                        "decoding's lexicon, e.g. --model digits): estimate one vocal tract length warp from their "
                        "audio (the warp under which the model tells the words apart most clearly) and decode "
                        "every input with it; torch runtime only")
    p.add_argument("--stream", action="store_true",
                   help="streaming recognition of one file or - (stdin: a WAV stream, or headerless 16-bit little-endian "
                        "mono PCM, at the model's sample rate), read in --chunk-ms pieces; --format txt: partial text "
                        "on stderr while audio arrives and the final text on stdout; --format json: JSON lines "
                        "{type: partial|final, text, audio_seconds} (needs a unidirectional model)")
    p.add_argument("--chunk-ms", type=COUNT, default=200, help="with --stream: audio per step, in milliseconds")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when several files and stderr is a terminal)")
    p.add_argument("--version", action="version", version=f"speech {__version__}")
    add_decoding_args(p)
    p.set_defaults(func=asr.cmd_transcribe, late_words="paths")
