"""Reading, writing and resampling audio: the one place in the toolkit that touches audio files.

Decoding goes through :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, AU,
NIST SPHERE, ...). When libsndfile cannot open a file (AAC/M4A, WMA, ...) and an ``ffmpeg``
executable is on ``PATH``, the file is decoded by an ``ffmpeg`` subprocess instead. ``torchaudio``'s
file I/O is not used (it no longer exists in torchaudio 2.9+); its DSP functions are.

Every failure to read a file raises a subclass of :class:`AudioError` whose message is a single line
``"<path>: <what went wrong>; expected <what>"``, so that a batch job can log the bad item and carry
on. No ``soundfile``/``LibsndfileError`` escapes from this module.

Inputs are data from strangers:

* Only regular files are opened. A FIFO, socket or device named as input is refused after an
  ``os.stat`` (opening a FIFO would block forever), and the open itself is non-blocking.
* Headerless audio (``.raw``) is refused with :class:`UnsupportedAudioError`: nothing in the file
  says its rate or sample format.
* Decoded samples must be finite: NaN / infinite samples (float WAV, FLAC, ...) raise
  :class:`NonFiniteAudioError` instead of silently poisoning the features.
* A file whose header promises more audio than the file holds (a cut-off download or copy) is
  still read, with a one-line warning: :attr:`AudioInfo.warnings` from :func:`info` (header
  sizes of WAV, AIFF and AU files) and the ``warnings`` list argument of :func:`load` (a decoder
  that ends early, e.g. MP3). Warnings are plain strings ``"<path>: truncated: ..."``, for callers
  to print or attach to their results; nothing is sent to Python's ``warnings`` machinery.

Waveforms returned by :func:`load` are mono ``float32`` 1-D numpy arrays of shape ``(N,)`` with
values in ``[-1, 1]``.
"""

from __future__ import annotations

import io as _io
import json
import os
import secrets
import shutil
import stat
import struct
import subprocess
from dataclasses import dataclass
from typing import Union

import numpy as np
import soundfile as sf
import torch

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

PathLike = Union[str, "os.PathLike[str]"]

#: File extensions (lower case, with the dot) that folder scans treat as audio.
AUDIO_EXTENSIONS: tuple[str, ...] = (
    ".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aac", ".wma", ".sph", ".aiff", ".aif", ".au",
)

# Extensions whose files libsndfile never reads: the error says to install ffmpeg.
_FFMPEG_ONLY_EXTENSIONS = (".m4a", ".aac", ".wma", ".mp4", ".webm", ".amr", ".ac3", ".wv", ".ape")

# Writing: extension -> (soundfile format, default subtype or None for libsndfile's default).
_WRITE_FORMATS: dict[str, tuple[str, str | None]] = {
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


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


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


# Float samples above this magnitude (60 dB over full scale) are not audio: their power overflows
# float32 in the features. Loud-but-sane float files (peaks of 1.5, 10) still load.
_MAX_ABS_SAMPLE = 1000.0


# --------------------------------------------------------------------------------------------
# Info
# --------------------------------------------------------------------------------------------


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


# soundfile's exceptions for files it cannot open or decode. (TypeError, raised for RAW files that
# need a rate from the caller, is caught on its own: see _headerless.)
_SF_ERRORS = (RuntimeError, sf.SoundFileError, ValueError, OverflowError)


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


# Data sizes that streaming writers put in a header when the length is not known yet.
def _unknown_size(n: int) -> bool:
    return n == 0 or n >= 0x7FFF0000


def _header_truncation(p: str) -> tuple[int, int] | None:
    """``(frames the header promises, whole frames the file holds)`` when a WAV / AIFF / AU
    header declares more sample data than the file holds, else None.

    Only the first 64 KiB are parsed (the headers' chunk lists); any parse failure means "nothing
    to say": decoding problems are libsndfile's to report.
    """
    try:
        size = os.path.getsize(p)
        with open(p, "rb") as fh:
            head = fh.read(65536)
        got = _declared_data(head)
    except (OSError, struct.error, ValueError):
        return None
    if got is None:
        return None
    data_offset, data_bytes, frame_bytes = got
    if frame_bytes <= 0 or _unknown_size(data_bytes) or data_offset + data_bytes <= size:
        return None
    promised, held = data_bytes // frame_bytes, max(0, size - data_offset) // frame_bytes
    return (promised, held) if promised > held else None


# soundfile's names of the containers whose header sizes _declared_data parses (others are not re-read)
_SIZED_FORMATS = ("WAV", "WAVEX", "AIFF", "AU")


def _header_warnings(p: str, sr: int) -> tuple[str, ...]:
    """The truncation warning for :attr:`AudioInfo.warnings`, if any."""
    cut = _header_truncation(p)
    return (_truncation_warning(p, cut[0], cut[1], sr),) if cut else ()


def _declared_data(head: bytes) -> tuple[int, int, int] | None:
    """(offset of the sample data, bytes the header says it holds, bytes per frame) from a WAV,
    AIFF or AU header, or None for other formats / compressed data."""
    if head[:4] in (b"RIFF", b"RIFX") and head[8:12] == b"WAVE":
        end = "<" if head[:4] == b"RIFF" else ">"
        pos, frame_bytes = 12, 0
        for _ in range(256):
            if pos + 8 > len(head):
                return None
            cid, csize = head[pos:pos + 4], struct.unpack(end + "I", head[pos + 4:pos + 8])[0]
            if cid == b"fmt ":
                frame_bytes = struct.unpack(end + "H", head[pos + 20:pos + 22])[0]  # block align
            elif cid == b"data":
                return pos + 8, csize, frame_bytes
            pos += 8 + csize + (csize & 1)
        return None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        pos, frame_bytes = 12, 0
        for _ in range(256):
            if pos + 8 > len(head):
                return None
            cid, csize = head[pos:pos + 4], struct.unpack(">I", head[pos + 4:pos + 8])[0]
            if cid == b"COMM":
                channels, _, bits = struct.unpack(">hIh", head[pos + 8:pos + 16])
                if head[8:12] == b"AIFC" and head[pos + 26:pos + 30] not in (b"NONE", b"sowt"):
                    return None  # compressed: bytes per frame vary
                frame_bytes = channels * ((bits + 7) // 8)
            elif cid == b"SSND":
                offset = struct.unpack(">I", head[pos + 8:pos + 12])[0]
                return pos + 16 + offset, csize - 8 - offset, frame_bytes
            pos += 8 + csize + (csize & 1)
        return None
    if head[:4] == b".snd":
        offset, nbytes, enc, _, channels = struct.unpack(">IIIII", head[4:24])
        width = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}.get(enc)
        if width is None or nbytes == 0xFFFFFFFF:
            return None
        return offset, nbytes, width * channels
    return None


def _ffmpeg_url(p: str) -> str:
    """The ``file:`` URL of a local path for ffmpeg/ffprobe: a name such as ``-`` (stdin),
    ``http:x`` or ``concat:a|b`` must never be read as anything but the local file."""
    return "file:" + os.path.abspath(p)


def _ffmpeg_reason(p: str, line: str) -> str:
    """ffmpeg's last error line without the file's name in it."""
    for name in (_ffmpeg_url(p), os.path.abspath(p), p):
        line = line.replace(name, "")
    return line.strip(" :") or "no reason given"


def _ffmpeg() -> str | None:
    # Looked up on every call so that PATH changes (and tests hiding ffmpeg) take effect.
    return shutil.which("ffmpeg")


def _unreadable(p: str, sf_error: Exception) -> CorruptAudioError:
    """The error for a file that soundfile cannot open and ffmpeg is not available to try."""
    ext = os.path.splitext(p)[1].lower()
    detail = _sf_message(sf_error)
    if ext in _FFMPEG_ONLY_EXTENSIONS:
        return CorruptAudioError(
            p, f"cannot decode '{ext}' without ffmpeg (soundfile: {detail}); "
               "expected ffmpeg on PATH to read this format (install ffmpeg)")
    return CorruptAudioError(
        p, f"cannot decode ({detail}); expected an audio file soundfile can read "
           "(for other formats install ffmpeg)")


def _sf_message(e: Exception) -> str:
    msg = str(e)
    # soundfile: "Error opening 'path': Format not recognised." -> keep only the reason.
    if "': " in msg:
        msg = msg.split("': ", 1)[1]
    return msg.strip().rstrip(".") or type(e).__name__


def _ffprobe_info(p: str) -> AudioInfo | None:
    """Container-level info from ffprobe, or None when ffprobe is absent or gives no duration."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    cmd = [ffprobe, "-v", "error", "-select_streams", "a:0",
           "-show_entries", "stream=sample_rate,channels,duration:format=format_name,duration",
           "-of", "json", _ffmpeg_url(p)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    if proc.returncode != 0:
        err = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
        reason = _ffmpeg_reason(p, err[-1]) if err else f"exit status {proc.returncode}"
        raise CorruptAudioError(p, f"cannot decode (ffprobe: {reason}); expected an audio file")
    try:
        data = json.loads(proc.stdout.decode(errors="replace") or "{}")
    except json.JSONDecodeError:
        return None
    streams = data.get("streams") or []
    if not streams:
        raise CorruptAudioError(p, "no audio stream found; expected an audio file")
    st, fmt = streams[0], data.get("format") or {}
    try:
        sr = int(st["sample_rate"])
        ch = int(st.get("channels") or 1)
        dur = st.get("duration")
        dur = float(dur if dur not in (None, "N/A") else fmt.get("duration"))
    except (KeyError, TypeError, ValueError):
        return None
    names = [n for n in str(fmt.get("format_name", "")).split(",") if n]
    ext = os.path.splitext(p)[1].lower().lstrip(".")
    fmt_name = ext if ext in names else (names[0] if names else ext)
    n = int(round(dur * sr))
    return AudioInfo(sample_rate=sr, num_frames=n, channels=ch, duration=n / sr, format=fmt_name.upper())


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
    except _SF_ERRORS as e:
        if _ffmpeg() is None:
            raise _unreadable(p, e) from None
        got = _ffprobe_info(p)
        if got is None:  # no ffprobe or no duration in the container: decode to count samples
            wav, sr, ch = _ffmpeg_decode(p, mono=False)
            got = AudioInfo(sample_rate=sr, num_frames=wav.shape[0], channels=ch,
                            duration=wav.shape[0] / sr,
                            format=os.path.splitext(p)[1].lstrip(".").upper() or "UNKNOWN")
        if got.num_frames == 0:
            raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
        return got
    if i.frames == 0:
        # libsndfile reports 0 frames both for genuinely empty audio and for some truncated
        # streams (e.g. Ogg): let ffmpeg tell them apart when it is available.
        if _ffmpeg() is not None:
            wav, sr, ch = _ffmpeg_decode(p, mono=False)
            if wav.shape[0] > 0:
                return AudioInfo(sr, wav.shape[0], ch, wav.shape[0] / sr, str(i.format))
        raise _no_samples(p, int(i.samplerate))
    if int(i.samplerate) <= 0 or int(i.channels) <= 0:
        raise CorruptAudioError(p, f"header says {i.samplerate} Hz, {i.channels} channels; "
                                   "expected a positive sample rate and channel count")
    return AudioInfo(sample_rate=int(i.samplerate), num_frames=int(i.frames), channels=int(i.channels),
                     duration=int(i.frames) / int(i.samplerate), format=str(i.format),
                     warnings=_header_warnings(p, int(i.samplerate)) if i.format in _SIZED_FORMATS else ())


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------


def _ffmpeg_decode(p: str, *, mono: bool = True, start: float | None = None,
                   end: float | None = None) -> tuple[np.ndarray, int, int]:
    """Decode with an ffmpeg subprocess at the file's own rate.

    Returns ``(wav, sample_rate, channels)`` with ``wav`` float32 of shape ``(N, C)`` (``C == 1``
    when ``mono``). Output goes through a WAV pipe (``pcm_f32le``) so the native rate comes back
    with the samples. Any message from ffmpeg at ``-v error`` counts as a decoding failure, so a
    damaged stream is reported rather than silently cut short.
    """
    exe = _ffmpeg()
    assert exe is not None
    cmd = [exe, "-nostdin", "-v", "error"]
    if start:
        cmd += ["-ss", f"{start:.6f}"]  # input seek: fast, sample-accurate for audio
    cmd += ["-i", _ffmpeg_url(p)]
    if end is not None:
        cmd += ["-t", f"{end - (start or 0.0):.6f}"]
    cmd += ["-vn", "-f", "wav", "-c:a", "pcm_f32le"]
    if mono:
        cmd += ["-ac", "1"]
    cmd += ["-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    err = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    if proc.returncode != 0 or err:
        reason = _ffmpeg_reason(p, err[-1]) if err else f"exit status {proc.returncode}"
        raise CorruptAudioError(p, f"cannot decode (ffmpeg: {reason}); expected an audio file")
    try:
        data, sr = sf.read(_io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except (*_SF_ERRORS, TypeError) as e:
        raise CorruptAudioError(p, f"cannot decode (ffmpeg produced no audio: {_sf_message(e)}); "
                                   "expected an audio file") from None
    return data, int(sr), int(data.shape[1])


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
    except _SF_ERRORS as e:
        if _ffmpeg() is None:
            raise _unreadable(p, e) from None
        data, sr, _ = _ffmpeg_decode(p, start=start, end=end)
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
    except (*_SF_ERRORS, TypeError) as e:
        raise CorruptAudioError(p, f"decoding failed ({_sf_message(e)}); "
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
    if _ffmpeg() is None:
        raise _no_samples(p, sf_rate)
    data, sr, _ = _ffmpeg_decode(p, start=start, end=end)
    if data.shape[0] == 0 and start is None and end is None:
        raise _no_samples(p, sf_rate)
    return data[:, 0], sr


def _no_samples(p: str, sr: int) -> EmptyAudioError:
    """Zero samples; says so when the header promised some (a file cut off right after it)."""
    cut = _header_truncation(p) if sr > 0 else None
    if cut:
        return EmptyAudioError(p, f"contains zero samples: truncated right after its header, which "
                                  f"promises {_seconds(cut[0] / sr)}; expected a complete audio file")
    return EmptyAudioError(p, "contains zero samples; expected non-empty audio")


# --------------------------------------------------------------------------------------------
# Resample
# --------------------------------------------------------------------------------------------


def resample(wav: np.ndarray | torch.Tensor, orig_sr: int, new_sr: int) -> np.ndarray | torch.Tensor:
    """Resample the last axis from ``orig_sr`` to ``new_sr`` (band-limited sinc, torchaudio).

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
    import torchaudio.functional as AF  # local: keeps `import speech.audio` light

    is_numpy = isinstance(wav, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(wav)) if is_numpy else wav
    out_dtype = t.dtype if t.is_floating_point() else torch.float32
    work = t if t.dtype in (torch.float32, torch.float64) else t.to(torch.float32)
    y = AF.resample(work, orig_sr, new_sr).to(out_dtype)
    return y.numpy() if is_numpy else y


# --------------------------------------------------------------------------------------------
# Save
# --------------------------------------------------------------------------------------------


def save(path: PathLike, wav: np.ndarray | torch.Tensor, sample_rate: int, subtype: str | None = None) -> None:
    """Write a waveform atomically.

    Args:
        path: destination; the container comes from the extension (``.wav .flac .ogg .opus .mp3
            .aiff .aif .au .sph``). Parent directories are created.
        wav: float waveform in ``[-1, 1]``, shape ``(N,)`` (mono) or ``(C, N)`` channels-first (the
            torch convention; ``C <= 64``). Numpy or tensor (any device). Values are clipped to
            ``[-1, 1]`` before writing integer PCM.
        sample_rate: samples per second.
        subtype: soundfile subtype such as ``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"``; ``None`` uses the
            format's default (PCM_16 for WAV/FLAC, Vorbis for .ogg, Opus for .opus).

    The data is written to a temporary file in the destination's directory and moved into place with
    ``os.replace``, so readers never see a partial file and a failed write leaves nothing behind.
    """
    p = os.fspath(path)
    ext = os.path.splitext(p)[1].lower()
    if ext not in _WRITE_FORMATS:
        raise ValueError(f"{p}: cannot write '{ext or '(no extension)'}'; "
                         f"expected one of {', '.join(sorted(_WRITE_FORMATS))}")
    fmt, default_subtype = _WRITE_FORMATS[ext]
    subtype = subtype or default_subtype
    if subtype is not None and not sf.check_format(fmt, subtype):
        raise ValueError(f"{p}: subtype {subtype!r} is not valid for {fmt}; expected one of "
                         f"{', '.join(sf.available_subtypes(fmt))}")
    if int(sample_rate) <= 0:
        raise ValueError(f"{p}: sample_rate={sample_rate}; expected a positive rate")

    if isinstance(wav, torch.Tensor):
        arr = wav.detach().to("cpu", torch.float32).numpy()
    else:
        arr = np.asarray(wav)
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

    parent = os.path.dirname(p) or "."
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(p)}.{secrets.token_hex(6)}.tmp")
    try:
        # 'xb' creates the file exclusively with the usual umask-derived permissions.
        with open(tmp, "xb") as fh:
            sf.write(fh, data, int(sample_rate), subtype=subtype, format=fmt)
        os.replace(tmp, p)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, (RuntimeError, sf.SoundFileError)) and not isinstance(e, AudioError):
            raise AudioError(p, f"cannot write ({_sf_message(e)}); expected a writable "
                                f"{fmt} destination") from None
        raise
