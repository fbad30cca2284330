#!/usr/bin/env python
"""Kathleen voice recipe: ../shared/data/kathleen (audio/<id>.flac + .txt) -> FastSpeech2 voice -> evaluation.

    python recipes/kathleen/run.py                                   # corpus at $SPEECH_DATA/kathleen
    python recipes/kathleen/run.py --data /path/to/kathleen --exp exp/kathleen
    python recipes/kathleen/run.py trainer=gpu trainer.max_epochs=400   # the same recipe on a GPU

Holds out a fixed 5% of the prompts (all takes of a prompt on one side) as the test set; see
speech/recipes/voice.py for the stages. Re-running resumes training and reuses cached targets.
"""
import sys
from pathlib import Path

from speech.recipes.voice import main

if __name__ == "__main__":
    from speech.cli.errors import guarded_main  # one line per error (SPEECH_DEBUG=1: traceback)

    sys.exit(guarded_main(main, "kathleen", "kathleen", Path(__file__).resolve().parent / "README.md", __doc__))
