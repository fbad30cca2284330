"""Writing audio: :func:`save`, through the toolkit's one atomic writer (:func:`speech.fileio.atomic_writer`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from speech.audio.errors import AudioError, PathLike, sf_message
from speech.audio.read import is_tensor
from speech.fileio import atomic_writer

if TYPE_CHECKING:
    import torch

__all__ = ["WRITE_FORMATS", "save"]

#: Writing: extension -> (soundfile format, default subtype or None for libsndfile's default).
WRITE_FORMATS: dict[str, tuple[str, str | None]] = {
    ".wav": ("WAV", None),
    ".flac": ("FLAC", None),
    ".ogg": ("OGG", "VORBIS"),
    ".oga": ("OGG", "VORBIS"),
    ".opus": ("OGG", "OPUS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aiff": ("AIFF", None),
    ".aif": ("AIFF", None),
    ".au": ("AU", None),
    ".sph": ("NIST", None),
}


def save(path: PathLike, wav: np.ndarray | torch.Tensor, sample_rate: int, subtype: str | None = None) -> None:
    """Write a waveform atomically.

    Args:
        path: destination; the container comes from the extension (``.wav .flac .ogg .oga .opus
            .mp3 .aiff .aif .au .sph``). Parent directories are created.
        wav: float waveform in ``[-1, 1]``, shape ``(N,)`` (mono) or ``(C, N)`` channels-first (the
            torch convention; ``C <= 64``). Numpy or tensor (any device). Values are clipped to
            ``[-1, 1]`` before writing integer PCM.
        sample_rate: samples per second.
        subtype: soundfile subtype such as ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``; ``None`` uses the
            format's default (PCM_16 for WAV/FLAC, Vorbis for .ogg, Opus for .opus).

    The data is encoded into :func:`speech.fileio.atomic_writer`'s temporary file beside the
    destination, which replaces ``path`` only when the encoding succeeded: readers never see a
    partial file and a failed write leaves nothing behind.

    Raises:
        ValueError: an unknown extension, a subtype the format lacks, a bad rate or shape.
        AudioError: the encoder failed (e.g. the disk filled up); ``path`` is left as it was.
        OSError: the destination folder cannot be created or written.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in WRITE_FORMATS:
        raise ValueError(f"{p}: cannot write '{ext or '(no extension)'}'; "
                         f"expected one of {', '.join(sorted(WRITE_FORMATS))}")
    fmt, default_subtype = WRITE_FORMATS[ext]
    subtype = subtype or default_subtype
    if subtype is not None and not sf.check_format(fmt, subtype):
        raise ValueError(f"{p}: subtype {subtype!r} is not valid for {fmt}; expected one of "
                         f"{', '.join(sf.available_subtypes(fmt))}")
    if int(sample_rate) <= 0:
        raise ValueError(f"{p}: sample_rate={sample_rate}; expected a positive rate")

    arr = wav.detach().float().cpu().numpy() if is_tensor(wav) else np.asarray(wav)
    if arr.ndim == 1:
        data = arr
    elif arr.ndim == 2 and arr.shape[0] <= 64:
        data = arr.T  # (C, N) -> soundfile's (N, C)
    else:
        raise ValueError(f"{p}: waveform shape {tuple(arr.shape)}; expected (N,) or (C, N) with C <= 64")
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = np.ascontiguousarray(data, dtype=np.float32 if data.dtype != np.float64 else np.float64)
    effective_subtype = subtype or sf.default_subtype(fmt)
    if effective_subtype and not effective_subtype.startswith(("FLOAT", "DOUBLE")):
        data = np.clip(data, -1.0, 1.0)

    try:
        with atomic_writer(p) as fh:
            sf.write(fh, data, int(sample_rate), subtype=subtype, format=fmt)
    except (RuntimeError, sf.SoundFileError) as e:
        raise AudioError(p, f"cannot write ({sf_message(e)}); expected a writable {fmt} destination") from None
