"""Audio input/output: :func:`load`, :func:`save`, :func:`info`, :func:`resample` and typed errors.

Everything that reads or writes audio in the toolkit goes through here (soundfile, with ffmpeg as
a fallback decoder). By role:

- :mod:`speech.audio.read` — :func:`info`, :func:`load`, :func:`resample` and
  :data:`AUDIO_EXTENSIONS`, the one list of the file extensions the toolkit reads;
- :mod:`speech.audio.write` — :func:`save`, through :func:`speech.fileio.atomic_writer`;
- :mod:`speech.audio.ffmpeg` — decoding and probing what libsndfile cannot open;
- :mod:`speech.audio.headers` — WAV / AIFF / AU header sizes (truncation warnings);
- :mod:`speech.audio.errors` — :class:`AudioError` and its subclasses, one line each.

``import speech.audio`` does not import torch; :func:`resample` loads it when first called.
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
