"""``speech``: train, prepare corpora, transcribe, align and synthesize audio.

Examples::

    speech prepare fsdd ../shared/data/fsdd data/fsdd
    speech train experiment=fsdd trainer.max_epochs=10
    speech transcribe recordings/*.wav --model exp/fsdd/model
    speech transcribe meeting.wav --model exp/fsdd/model --format json
    speech evaluate --model exp/fsdd/model data/fsdd/test.jsonl
    speech lm ../shared/data/text/ljspeech_metadata_all.csv exp/lm/ljspeech3.arpa --order 3
    speech evaluate --model exp/fsdd/model data/fsdd/test.jsonl --lm exp/lm/digits.arpa --beam-size 16
    speech evaluate --model exp/fsdd/model data/fsdd/test.jsonl decoding=beam decoding.beam_size=8
    speech align-dataset --model exp/fsdd/model data/fsdd/train.jsonl exp/fsdd/train_align.jsonl
    speech train experiment=fsdd loss=ce data.alignments=exp/fsdd/train_align.jsonl output_dir=exp/fsdd-ce
    speech synthesize "Hello, world." -o hello.wav --model exp/kathleen/model

The arguments are in :mod:`speech.cli.parser`, the commands in :mod:`speech.cli.asr` and
:mod:`speech.cli.tts` (each calls one pipeline and prints), the error boundary in :mod:`speech.cli.errors`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from speech.cli import errors
from speech.cli.parser import parse_args

log = logging.getLogger("speech")


def _setup_logging(verbose: bool = False) -> None:
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else (logging.INFO if rank == 0 else logging.WARNING)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def main(argv: list[str] | None = None) -> int:
    """Run one ``speech`` command; every exception ends here as one line and an exit status
    (:mod:`speech.cli.errors`), with the traceback only under ``--debug`` / ``SPEECH_DEBUG=1``."""
    try:
        args = parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error, already reported in one line (2)
        return e.code if isinstance(e.code, int) else errors.BAD_INPUT
    _setup_logging(args.verbose)
    return errors.run_guarded(_dispatch, args, debug=args.debug)


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "device", None) not in (None, "cpu"):  # a GPU this machine lacks: one line before any loading
        # imports torch: not for --help or a usage error
        from speech.device import resolve_device

        resolve_device(args.device)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
