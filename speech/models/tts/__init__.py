"""TTS acoustic models: FastSpeech2-style phonemes -> log-mel (``fastspeech2``) and its loss."""
from speech.models.tts.fastspeech2 import (
    FastSpeech2,
    FastSpeech2Config,
    FastSpeech2Output,
    fastspeech2,
    length_regulate,
    semitones_to_normalized,
)

__all__ = [
    "FastSpeech2", "FastSpeech2Config", "FastSpeech2Output",
    "fastspeech2", "length_regulate", "semitones_to_normalized",
]
