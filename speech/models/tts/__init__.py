"""TTS acoustic models: FastSpeech2-style phonemes -> log-mel (``fastspeech2``) and its loss."""
from speech.models.tts.fastspeech2 import (
    FastSpeech2,
    FastSpeech2Config,
    FastSpeech2Output,
    fastspeech2,
    length_regulate,
    semitones_to_normalized,
)
from speech.models.tts.losses import FastSpeech2Loss, FastSpeech2LossConfig

__all__ = [
    "FastSpeech2", "FastSpeech2Config", "FastSpeech2Loss", "FastSpeech2LossConfig", "FastSpeech2Output",
    "fastspeech2", "length_regulate", "semitones_to_normalized",
]
