"""Audio input/output: :func:`load`, :func:`save`, :func:`info`, :func:`resample` and typed errors.

See :mod:`speech.audio.io` for details. Everything that reads or writes audio in the toolkit goes
through here (soundfile, with ffmpeg as a fallback decoder).
"""

from speech.audio.io import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioInfo,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnsupportedAudioError,
    info,
    load,
    resample,
    save,
)

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
