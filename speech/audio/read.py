"""Reading audio: :func:`info` (the header), :func:`load` (mono float32 samples), :func:`resample`.

Decoding goes through :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, AU,
NIST SPHERE, ...). When libsndfile cannot open a file (AAC/M4A, WMA, ...) and an ``ffmpeg``
executable is on ``PATH``, the file is decoded by an ``ffmpeg`` subprocess instead
(:mod:`speech.audio.ffmpeg`). ``torchaudio``'s file I/O is not used (it no longer exists in
torchaudio 2.9+); its DSP functions are.

Inputs are data from strangers:

* Only regular files are opened. A FIFO, socket or device named as input is refused after an
  ``os.stat`` (opening a FIFO would block forever), and the open itself is non-blocking.
* Headerless audio (``.raw``) is refused with :class:`UnsupportedAudioError`: nothing in the file
  says its rate or sample format.
* Decoded samples must be finite: NaN / infinite samples (float WAV, FLAC, ...) raise
  :class:`NonFiniteAudioError` instead of silently poisoning the features.
* A file whose header promises more audio than the file holds (a cut-off download or copy) is
  still read, with a one-line warning: :attr:`AudioInfo.warnings` from :func:`info` (header
  sizes of WAV, AIFF and AU files, :mod:`speech.audio.headers`) and the ``warnings`` list argument
  of :func:`load` (a decoder that ends early, e.g. MP3). Warnings are plain strings
  ``"<path>: truncated: ..."``, for callers to print or attach to their results; nothing is sent
  to Python's ``warnings`` machinery.

Importing this module does not import torch (manifest tools and corpus importers read headers
without it); :func:`resample` imports torch and torchaudio on its first call.
"""

from __future__ import annotations

import functools
import math
import os
import stat
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from speech.audio.errors import (
    SF_ERRORS,
    AudioError,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    PathLike,
    UnsupportedAudioError,
    sf_message,
)
from speech.audio.ffmpeg import (
    ffmpeg_decode,
    ffmpeg_path,
    ffprobe_info,
    unreadable_error,
)
from speech.audio.headers import SIZED_FORMATS, header_truncation

if TYPE_CHECKING:
    import torch

__all__ = ["AUDIO_EXTENSIONS", "AudioInfo", "info", "is_tensor", "load", "resample"]

#: The file extensions (lower case, with the dot) that :func:`load` reads: soundfile's formats,
#: plus those only the ffmpeg fallback decodes (.m4a .aac .wma). The one list: folder scans in the
#: CLI and the corpus importers (:mod:`speech.data.prepare`) pick up exactly these files.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aac", ".wma", ".sph", ".aiff", ".aif", ".au",
)

# Float samples above this magnitude (60 dB over full scale) are not audio: their power overflows
# float32 in the features. Loud-but-sane float files (peaks of 1.5, 10) still load.
_MAX_ABS_SAMPLE = 1000.0


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says about its audio."""

    sample_rate: int  # samples per second per channel
    num_frames: int  # samples per channel (approximate for files only ffmpeg reads)
    channels: int  # number of channels in the file (``load`` averages them to mono)
    duration: float  # num_frames / sample_rate, in seconds
    format: str  # container, upper case: "WAV", "FLAC", "OGG", "MP3", "M4A", ...
    warnings: tuple[str, ...] = ()
    """One-line problems that do not stop reading, each naming the file, e.g. ``"<path>: truncated:
    the header promises 10.0 s, the file holds 5.0 s; reading the 5.0 s that are there"``.
    ``num_frames`` and ``duration`` are what the file holds."""


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a torch tensor, without importing torch (no torch loaded: no tensors)."""
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


# --------------------------------------------------------------------------------------------
# Checks before decoding
# --------------------------------------------------------------------------------------------

# What os.stat's mode says, for the file types that are not audio files.
_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _kind_error(p: str, mode: int) -> AudioError | None:
    """The error for a path whose ``st_mode`` is not a regular file, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return AudioError(p, "is a directory; expected an audio file")
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    return AudioError(p, f"is {what}, not a regular file; expected an audio file")


def _check_readable(path: PathLike) -> str:
    """Common checks before decoding: exists, is a regular file, readable, not empty.

    Never blocks: the file type comes from ``os.stat`` before anything is opened, and the test
    open is non-blocking (in case the path was swapped for a FIFO in between). Returns str path.
    """
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise AudioNotFoundError(p, "no such file; expected an audio file") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise AudioError(p, f"cannot stat the file ({getattr(e, 'strerror', None) or e}); "
                            "expected a readable audio file") from None
    err = _kind_error(p, st.st_mode)
    if err is not None:
        raise err
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise AudioError(p, f"cannot read the file ({e.strerror or e}); expected a readable audio file") from None
    try:
        err = _kind_error(p, os.fstat(fd).st_mode)
        if err is not None:
            raise err
        head = os.read(fd, 1)
    except OSError as e:
        raise AudioError(p, f"cannot read the file ({e.strerror or e}); expected a readable audio file") from None
    finally:
        os.close(fd)
    if not head:
        raise EmptyAudioError(p, "file is empty (0 bytes); expected an audio file")
    return p


def _headerless(p: str) -> UnsupportedAudioError:
    ext = os.path.splitext(p)[1].lower() or "(no extension)"
    return UnsupportedAudioError(
        p, f"'{ext}' is headerless audio: nothing in the file gives its sample rate, channels or "
           "sample format; expected a file with a header (WAV, FLAC, OGG, MP3, ...), e.g. "
           "converted with `sox -r RATE -e signed -b 16 -c 1 in.raw out.wav`")


def _seconds(x: float) -> str:
    return f"{x:.1f} s" if x >= 1 else f"{x:.3f} s"


def _truncation_warning(p: str, promised: int, held: int, sr: int, what: str = "the file holds") -> str:
    return (f"{p}: truncated: the header promises {_seconds(promised / sr)}, {what} "
            f"{_seconds(held / sr)}; reading the {_seconds(held / sr)} that are there")


def _header_warnings(p: str, sr: int) -> tuple[str, ...]:
    """The truncation warning for :attr:`AudioInfo.warnings`, if any."""
    cut = header_truncation(p)
    return (_truncation_warning(p, cut[0], cut[1], sr),) if cut else ()


def _no_samples(p: str, sr: int) -> EmptyAudioError:
    """Zero samples; says so when the header promised some (a file cut off right after it)."""
    cut = header_truncation(p) if sr > 0 else None
    if cut:
        return EmptyAudioError(p, f"contains zero samples: truncated right after its header, which "
                                  f"promises {_seconds(cut[0] / sr)}; expected a complete audio file")
    return EmptyAudioError(p, "contains zero samples; expected non-empty audio")


# --------------------------------------------------------------------------------------------
# Info
# --------------------------------------------------------------------------------------------


def info(path: PathLike) -> AudioInfo:
    """Read the header of an audio file.

    Uses soundfile; for files soundfile cannot open, ``ffprobe`` (or, lacking it, a full decode with
    ``ffmpeg``) when available.

    Only the header is checked (damage later in the stream shows up in :func:`load`). Raises
    :class:`AudioNotFoundError`, :class:`EmptyAudioError` (0 bytes or zero samples) and
    :class:`CorruptAudioError` (undecodable header) like :func:`load`. ``num_frames`` of files read
    through ffprobe comes from the container's duration and may differ slightly from what
    :func:`load` decodes (codec padding).
    """
    p = _check_readable(path)
    try:
        i = sf.info(p)
    except TypeError:  # soundfile took the extension for RAW, which needs a rate from the caller
        raise _headerless(p) from None
    except SF_ERRORS as e:
        if ffmpeg_path() is None:
            raise unreadable_error(p, e) from None
        probed = ffprobe_info(p)
        if probed is not None:
            sr, n, ch, fmt = probed
            got = AudioInfo(sample_rate=sr, num_frames=n, channels=ch, duration=n / sr, format=fmt)
        else:  # no ffprobe or no duration in the container: decode to count samples
            wav, sr, ch = ffmpeg_decode(p, mono=False)
            got = AudioInfo(sample_rate=sr, num_frames=wav.shape[0], channels=ch,
                            duration=wav.shape[0] / sr,
                            format=os.path.splitext(p)[1].lstrip(".").upper() or "UNKNOWN")
        if got.num_frames == 0:
            raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
        return got
    if i.frames == 0:
        # libsndfile reports 0 frames both for genuinely empty audio and for some truncated
        # streams (e.g. Ogg): let ffmpeg tell them apart when it is available.
        if ffmpeg_path() is not None:
            wav, sr, ch = ffmpeg_decode(p, mono=False)
            if wav.shape[0] > 0:
                return AudioInfo(sr, wav.shape[0], ch, wav.shape[0] / sr, str(i.format))
        raise _no_samples(p, int(i.samplerate))
    if int(i.samplerate) <= 0 or int(i.channels) <= 0:
        raise CorruptAudioError(p, f"header says {i.samplerate} Hz, {i.channels} channels; "
                                   "expected a positive sample rate and channel count")
    return AudioInfo(sample_rate=int(i.samplerate), num_frames=int(i.frames), channels=int(i.channels),
                     duration=int(i.frames) / int(i.samplerate), format=str(i.format),
                     warnings=_header_warnings(p, int(i.samplerate)) if i.format in SIZED_FORMATS else ())


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


def _seconds_to_frame(t: float, sr: int) -> int:
    return int(round(t * sr))


def _check_segment(p: str, start: float | None, end: float | None) -> None:
    if start is not None and start < 0:
        raise ValueError(f"{p}: start={start} s is negative; expected start >= 0")
    if end is not None and end <= (start or 0.0):
        raise ValueError(f"{p}: end={end} s is not after start={start or 0.0} s; expected end > start")


def load(path: PathLike, sample_rate: int | None = None, *, start: float | None = None,
         end: float | None = None, warnings: list[str] | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as a mono float32 waveform.

    Args:
        path: the file. WAV/FLAC/OGG/MP3/AIFF/... are read with soundfile; other formats with an
            ``ffmpeg`` subprocess when ``ffmpeg`` is on ``PATH``.
        sample_rate: resample to this rate (with :func:`resample`); ``None`` keeps the file's rate.
        start, end: read only the segment ``[start, end)`` in seconds (``end`` past the end of the
            file is clipped). Only that segment is decoded where the format allows seeking.
        warnings: when given, one-line problems that did not stop the read are appended to it
            (a decoder that ran out of data before the length its header gives, e.g. a cut-off
            MP3). Header-size truncation of WAV / AIFF / AU is reported by :func:`info`.

    Returns:
        ``(wav, sr)``: ``wav`` float32 numpy array of shape ``(N,)`` in ``[-1, 1]`` (channels
        averaged; integer PCM scaled by its full range), all finite, and its sample rate ``sr``.

    Raises:
        AudioNotFoundError: the path does not exist.
        EmptyAudioError: the file is 0 bytes, holds zero samples, or the segment holds none.
        UnsupportedAudioError: headerless audio (``.raw``).
        NonFiniteAudioError: decoded samples that are NaN or infinite (or above 1000 in magnitude).
        CorruptAudioError: anything else undecodable (garbage, truncated header, decoder errors,
            or a format soundfile cannot read while ffmpeg is absent).
        AudioError: other read problems (a directory, FIFO, device, permission denied).
        ValueError: bad arguments (negative start, ``end <= start``, ``sample_rate <= 0``).
    """
    p = _check_readable(path)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"{p}: sample_rate={sample_rate}; expected a positive rate or None")
    _check_segment(p, start, end)

    try:
        fh = sf.SoundFile(p)
    except TypeError:  # soundfile took the extension for RAW, which needs a rate from the caller
        raise _headerless(p) from None
    except SF_ERRORS as e:
        if ffmpeg_path() is None:
            raise unreadable_error(p, e) from None
        data, sr, _ = ffmpeg_decode(p, start=start, end=end)
        wav = data[:, 0]
    else:
        with fh:
            sr = int(fh.samplerate)
            total = int(fh.frames)
            if sr <= 0:
                raise CorruptAudioError(p, f"header says {sr} Hz; expected a positive sample rate")
            if total == 0:
                wav, sr = _load_zero_frames(p, start, end, sr)
            else:
                wav = _read_segment(p, fh, total, start, end, warnings)
    if wav.shape[0] == 0:
        if start is not None or end is not None:
            raise EmptyAudioError(p, f"segment [{start or 0.0}, {end}) s holds no samples; "
                                     "expected a segment inside the audio")
        raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    _check_finite(p, wav)  # before resampling: finite samples in, finite samples out
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return wav, sr


def _check_finite(p: str, wav: np.ndarray) -> None:
    """NaN / infinite samples (float files) would turn every feature into NaN downstream."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0  # one pass: NaN and inf show up in the peak
    if not np.isfinite(peak):
        n = int(wav.size - np.count_nonzero(np.isfinite(wav)))
        raise NonFiniteAudioError(p, f"{n} sample{'s are' if n != 1 else ' is'} NaN or infinite; "
                                     "expected finite audio")
    if peak > _MAX_ABS_SAMPLE:
        raise NonFiniteAudioError(p, f"samples reach {peak:.3g}; expected audio within [-1, 1] "
                                     f"(float samples beyond {_MAX_ABS_SAMPLE:g} are not audio)")


def _read_segment(p: str, fh: sf.SoundFile, total: int, start: float | None,
                  end: float | None, warnings: list[str] | None = None) -> np.ndarray:
    sr = int(fh.samplerate)
    first = _seconds_to_frame(start, sr) if start is not None else 0
    last = min(_seconds_to_frame(end, sr), total) if end is not None else total
    if first >= total or last <= first:
        return np.zeros(0, dtype=np.float32)
    try:
        if first > 0:
            if fh.seekable():
                fh.seek(first)
            else:  # read and drop
                fh.read(first, dtype="float32", always_2d=True)
        data = fh.read(last - first, dtype="float32", always_2d=True)
    except (*SF_ERRORS, TypeError) as e:
        raise CorruptAudioError(p, f"decoding failed ({sf_message(e)}); "
                                   "expected a complete, undamaged audio file") from None
    short = (last - first) - data.shape[0]
    # A few frames' slack: some decoders' headers (MP3 without an exact frame count) only estimate.
    if warnings is not None and short > max(0.01 * total, 0.01 * sr):
        if data.shape[0]:
            warnings.append(_truncation_warning(p, total, first + data.shape[0], sr, "the decoder found"))
        else:
            warnings.append(f"{p}: truncated: the header promises {_seconds(total / sr)}, the audio "
                            f"ends before {_seconds(first / sr)}; reading what is there")
    if data.shape[1] == 1:
        return data[:, 0]
    return data.mean(axis=1, dtype=np.float32)


def _load_zero_frames(p: str, start: float | None, end: float | None, sf_rate: int):
    """soundfile says zero frames: empty audio, or a stream it could not measure (truncated Ogg).

    With ffmpeg available the file is decoded by ffmpeg, which either finds samples, finds none
    (EmptyAudioError) or reports damage (CorruptAudioError). Returns ``(wav, sr)``.
    """
    if ffmpeg_path() is None:
        raise _no_samples(p, sf_rate)
    data, sr, _ = ffmpeg_decode(p, start=start, end=end)
    if data.shape[0] == 0 and start is None and end is None:
        raise _no_samples(p, sf_rate)
    return data[:, 0], sr


# --------------------------------------------------------------------------------------------
# Resample
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _sinc_kernel(orig: int, new: int, lowpass_width: int = 6, rolloff: float = 0.99) -> tuple[np.ndarray, int]:
    """Polyphase windowed-sinc kernel (new, 2 * width + orig) for rates already divided by their gcd:
    a Hann-windowed sinc low-passed at ``rolloff`` times the lower Nyquist rate (the design torchaudio's
    ``resample`` uses by default, which a test compares against)."""
    base = min(orig, new) * rolloff
    width = math.ceil(lowpass_width * orig / base)
    idx = np.arange(-width, width + orig, dtype=np.float64)[None, :] / orig
    t = (np.arange(0, -new, -1, dtype=np.float64)[:, None] / new + idx) * base
    t = np.clip(t, -lowpass_width, lowpass_width)
    window = np.cos(t * math.pi / lowpass_width / 2) ** 2
    t = t * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = np.where(t == 0, 1.0, np.sin(t) / t)
    kernel = (kernel * window * (base / orig)).astype(np.float32)
    kernel.setflags(write=False)
    return kernel, width


def _resample_np(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    kernel, width = _sinc_kernel(orig, new)
    lead = x.shape[:-1]
    rows = x.reshape(-1, x.shape[-1]).astype(np.float32, copy=False)
    n = rows.shape[-1]
    padded = np.pad(rows, ((0, 0), (width, width + orig)))
    steps = n // orig + 1
    k = kernel.shape[1]
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(padded.shape[0], steps, k),
        strides=(padded.strides[0], padded.strides[1] * orig, padded.strides[1]), writeable=False)
    out = (frames @ kernel.T).reshape(padded.shape[0], -1)  # (rows, steps * new)
    target = math.ceil(new * n / orig)
    return np.ascontiguousarray(out[:, :target]).reshape(*lead, target)


def resample(wav, orig_sr: int, new_sr: int):
    """Resample the last axis from ``orig_sr`` to ``new_sr`` (band-limited windowed sinc, in numpy;
    the same filter as torchaudio's default ``resample``, so torch is not needed to read audio).

    Args:
        wav: waveform of shape ``(..., N)``, numpy array or tensor (any device).
        orig_sr, new_sr: positive integer rates.

    Returns:
        The same type, shape ``(..., ceil(N * new_sr / orig_sr))``. Floating inputs keep their
        dtype (float16/bfloat16 are computed in float32); integer inputs come back as float32
        (values unscaled). When the rates are equal the input itself is returned.
    """
    orig_sr, new_sr = int(orig_sr), int(new_sr)
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got orig_sr={orig_sr}, new_sr={new_sr}")
    if orig_sr == new_sr:
        return wav
    if is_tensor(wav):
        t = wav.detach()
        out_dtype = t.dtype if t.is_floating_point() else None
        y = t.float().new_tensor(_resample_np(t.float().cpu().numpy(), orig_sr, new_sr))  # float32, same device
        return y.to(out_dtype) if out_dtype is not None else y
    arr = np.asarray(wav)
    out_dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float32
    return _resample_np(arr, orig_sr, new_sr).astype(out_dtype, copy=False)
