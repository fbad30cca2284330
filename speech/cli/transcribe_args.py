"""``speech transcribe``'s arguments (standard library only, so ``--help`` answers at once)."""
from __future__ import annotations

import argparse

from speech.cli import asr, errors
from speech.cli.args import COUNT, DECODING_HELP, add_decoding_args, add_segment_args


def add_transcribe(sub) -> None:
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
    p.add_argument("--batch-size", type=COUNT, default=16, help="files (or segments of a long file) decoded together")
    add_segment_args(p)
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when several files and stderr is a terminal)")
    add_decoding_args(p)
    p.set_defaults(func=asr.cmd_transcribe, late_words="paths")
