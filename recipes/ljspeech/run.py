#!/usr/bin/env python
"""LJSpeech voice recipe: an LJSpeech-1.1 folder (metadata.csv + wavs/) -> FastSpeech2 voice -> evaluation.

    python recipes/ljspeech/run.py --data /path/to/LJSpeech-1.1 trainer=gpu trainer.max_epochs=200   # full corpus, GPU
    python recipes/ljspeech/run.py                    # $SPEECH_DATA/LJSpeech-subset (49 clips: a smoke run)

Holds out a fixed 5% of the prompts as the test set; see speech/recipes/voice.py for the stages.
"""
import sys
from pathlib import Path

from speech.recipes.voice import main

if __name__ == "__main__":
    from speech.cli.errors import guarded_main  # one line per error (SPEECH_DEBUG=1: traceback)

    sys.exit(guarded_main(main, "ljspeech", "LJSpeech-subset", Path(__file__).resolve().parent / "README.md", __doc__))
