"""The audio errors: one class per way a file fails to read or write, each message a single line.

Every failure to read a file raises a subclass of :class:`AudioError` whose message is
``"<path>: <what went wrong>; expected <what>"``, so that a batch job can log the bad item and
carry on. No ``soundfile``/``LibsndfileError`` escapes from :mod:`speech.audio`: the readers catch
:data:`SF_ERRORS` and word them with :func:`sf_message`.
"""

from __future__ import annotations

import os
from typing import Union

import soundfile as sf

__all__ = [
    "AudioError",
    "AudioNotFoundError",
    "CorruptAudioError",
    "EmptyAudioError",
    "NonFiniteAudioError",
    "PathLike",
    "SF_ERRORS",
    "UnsupportedAudioError",
    "sf_message",
]

PathLike = Union[str, "os.PathLike[str]"]


class AudioError(Exception):
    """Base class of every audio read/write failure.

    ``str(err)`` is one line: ``"<path>: <problem>; expected <what>"``.

    Attributes:
        path: the file concerned, as given by the caller (``os.fspath``).
        message: the problem, without the path.
    """

    path: str

    def __init__(self, path: PathLike, message: str):
        self.path = os.fspath(path) if not isinstance(path, str) else path
        self.message = " ".join(str(message).split())  # always a single line
        super().__init__(f"{self.path}: {self.message}")

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __reduce__(self):  # pickles across worker processes despite the 2-argument __init__
        return (type(self), (self.path, self.message))


class AudioNotFoundError(AudioError, FileNotFoundError):
    """The path does not exist (also a :class:`FileNotFoundError`)."""

    def __init__(self, path: PathLike, message: str):
        super().__init__(path, message)
        self.filename = self.path


class EmptyAudioError(AudioError):
    """The file is 0 bytes long, or has a valid header but zero samples (or the requested segment
    holds no samples)."""


class CorruptAudioError(AudioError):
    """The file cannot be decoded: truncated, garbage, or a format no available decoder reads."""


class UnsupportedAudioError(CorruptAudioError):
    """The file is of a kind the toolkit does not read, e.g. headerless ``.raw`` samples."""


class NonFiniteAudioError(CorruptAudioError):
    """The decoded samples include NaN or infinite values (or absurdly large float samples)."""


# soundfile's exceptions for files it cannot open or decode. (TypeError, raised for RAW files that
# need a rate from the caller, is caught on its own by the readers.)
SF_ERRORS = (RuntimeError, sf.SoundFileError, ValueError, OverflowError)


def sf_message(e: Exception) -> str:
    """soundfile's reason without the file name: ``"Error opening 'x': Format not recognised."``
    -> ``"Format not recognised"``."""
    msg = str(e)
    if "': " in msg:
        msg = msg.split("': ", 1)[1]
    return msg.strip().rstrip(".") or type(e).__name__
