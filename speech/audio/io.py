"""Audio input/output under its historical name: everything :mod:`speech.audio` exports.

The code lives by role: :mod:`speech.audio.read` (:func:`info`, :func:`load`, :func:`resample`,
:data:`AUDIO_EXTENSIONS`), :mod:`speech.audio.write` (:func:`save`), :mod:`speech.audio.ffmpeg`
(the fallback decoder), :mod:`speech.audio.headers` (WAV/AIFF/AU size checks) and
:mod:`speech.audio.errors` (the one-line :class:`AudioError` family). Prefer
``from speech.audio import ...``; this module keeps ``from speech.audio.io import ...`` working.
"""

from speech.audio.errors import (
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnsupportedAudioError,
)
from speech.audio.read import AUDIO_EXTENSIONS, AudioInfo, info, load, resample
from speech.audio.write import save

__all__ = [
    "AUDIO_EXTENSIONS",
    "AudioError",
    "AudioInfo",
    "AudioNotFoundError",
    "CorruptAudioError",
    "EmptyAudioError",
    "NonFiniteAudioError",
    "UnsupportedAudioError",
    "info",
    "load",
    "resample",
    "save",
]
