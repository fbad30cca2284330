"""Audio in and out of the API: an upload checked and decoded (any format soundfile or ffmpeg reads),
and synthesized audio encoded as the client asked (wav, mp3, flac or raw 16-bit PCM).

An upload is written to a temporary folder of the server's own, under a name of the server's choosing
(only a safe suffix of the client's file name is kept, as a hint for the decoder); no request ever
names a path that the server reads or writes.
"""
from __future__ import annotations

import io
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from speech.audio import AudioError, info, load
from speech.serve.errors import ApiError, bad_request, too_large

AUDIO_FORMATS = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "pcm": "audio/pcm"}
"""``response_format`` of a speech request -> its media type. ``pcm``: raw signed 16-bit little-endian
mono samples at the voice's sample rate (the ``X-Sample-Rate`` header)."""
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


def client_name(filename: str | None) -> str:
    """The upload's name as messages show it: the client's base name, tamed (no folders, no control
    characters, at most 80 characters), or ``upload``."""
    base = re.split(r"[\\/]", filename or "")[-1]
    name = _NAME.sub("_", base).strip()[:80]
    return name or "upload"


@dataclass
class Upload:
    """A decoded upload: ``wav`` at the model's rate, or, for audio longer than one segment, the
    ``path`` of its temporary copy (read a window at a time by the transcriber)."""

    name: str
    duration: float
    wav: np.ndarray | None = None
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)
    _folder: Path | None = None

    def cleanup(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


def read_upload(data: bytes, filename: str | None, sample_rate: int, max_seconds: float,
                segment_seconds: float) -> Upload:
    """Bytes of an uploaded file -> :class:`Upload` (call :meth:`Upload.cleanup` when done).

    Raises:
        ApiError: 400 for an empty, corrupt or unsupported file (the decoder's reason, naming the
            file); 413 when the audio is longer than ``max_seconds``.
    """
    name = client_name(filename)
    if not data:
        raise bad_request(f"file {name!r}: the upload is empty (0 bytes); expected an audio file", param="file")
    folder = Path(tempfile.mkdtemp(prefix="speech-serve-"))
    suffix = _SUFFIX.search(name)
    path = folder / ("upload" + (suffix.group(0).lower() if suffix else ""))
    keep = False
    try:
        path.write_bytes(data)
        head = info(path)
        if head.duration > max_seconds:
            raise too_large(f"file {name!r}: {head.duration:.1f} s of audio is longer than this server accepts "
                            f"({max_seconds:g} s); cut it into shorter files", param="file")
        if head.duration > segment_seconds:  # long: the transcriber reads it a window at a time (and reports
            keep = True                      # the file's warnings itself)
            return Upload(name, head.duration, path=path, _folder=folder)
        warnings = list(head.warnings)
        wav, sr = load(path, sample_rate, warnings=warnings)
        return Upload(name, len(wav) / sr, wav=wav, warnings=[as_client_file(w, path, name) for w in warnings])
    except AudioError as e:
        raise bad_request(f"file {name!r}: {e.message}", param="file", code="unreadable_audio") from None
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


def as_client_file(message: str, path: Path, name: str) -> str:
    """A message about the temporary copy, told about the client's file instead."""
    return message.replace(str(path), name)


def encode_audio(wav: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """Float mono samples -> the bytes of ``fmt`` (:data:`AUDIO_FORMATS`), 16-bit where it applies."""
    wav = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0)
    if fmt == "pcm":
        return (wav * 32767.0).round().astype("<i2").tobytes()
    buf = io.BytesIO()
    if fmt == "wav":
        sf.write(buf, wav, sample_rate, format="WAV", subtype="PCM_16")
    elif fmt == "flac":
        sf.write(buf, wav, sample_rate, format="FLAC", subtype="PCM_16")
    elif fmt == "mp3":
        sf.write(buf, wav, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    else:
        raise ApiError(400, f"response_format {fmt!r}: expected one of {', '.join(AUDIO_FORMATS)}",
                       param="response_format")
    return buf.getvalue()
