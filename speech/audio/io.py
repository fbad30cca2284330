"""Reading, writing and resampling audio: the one place in the toolkit that touches audio files.

Decoding goes through :mod:`soundfile` (libsndfile: WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF, AU,
NIST SPHERE, ...). When libsndfile cannot open a file (AAC/M4A, WMA, ...) and an ``ffmpeg``
executable is on ``PATH``, the file is decoded by an ``ffmpeg`` subprocess instead. ``torchaudio``'s
file I/O is not used (it no longer exists in torchaudio 2.9+); its DSP functions are.

Every failure to read a file raises a subclass of :class:`AudioError` whose message is a single line
``"<path>: <what went wrong>; expected <what>"``, so that a batch job can log the bad item and carry
on. No ``soundfile``/``LibsndfileError`` escapes from this module.

Waveforms returned by :func:`load` are mono ``float32`` 1-D numpy arrays of shape ``(N,)`` with
values in ``[-1, 1]``.
"""

from __future__ import annotations

import io as _io
import json
import os
import secrets
import shutil
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


def _check_readable(path: PathLike) -> str:
    """Common checks before decoding: exists, is a file, readable, not empty. Returns str path."""
    p = os.fspath(path)
    if not os.path.exists(p):
        raise AudioNotFoundError(p, "no such file; expected an audio file")
    if os.path.isdir(p):
        raise AudioError(p, "is a directory; expected an audio file")
    try:
        with open(p, "rb") as fh:
            head = fh.read(1)
    except OSError as e:
        raise AudioError(p, f"cannot read the file ({e.strerror or e}); expected a readable audio file") from e
    if not head:
        raise EmptyAudioError(p, "file is empty (0 bytes); expected an audio file")
    return p


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
           "-of", "json", p]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    if proc.returncode != 0:
        err = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
        reason = err[-1] if err else f"exit status {proc.returncode}"
        reason = reason.replace(p, "").strip(" :") or reason
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
    except (RuntimeError, sf.SoundFileError) as e:
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
        raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
    return AudioInfo(sample_rate=int(i.samplerate), num_frames=int(i.frames), channels=int(i.channels),
                     duration=int(i.frames) / int(i.samplerate), format=str(i.format))


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
    cmd += ["-i", p]
    if end is not None:
        cmd += ["-t", f"{end - (start or 0.0):.6f}"]
    cmd += ["-vn", "-f", "wav", "-c:a", "pcm_f32le"]
    if mono:
        cmd += ["-ac", "1"]
    cmd += ["-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    err = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    if proc.returncode != 0 or err:
        reason = err[-1] if err else f"exit status {proc.returncode}"
        reason = reason.replace(p, "").strip(" :") or reason
        raise CorruptAudioError(p, f"cannot decode (ffmpeg: {reason}); expected an audio file")
    try:
        data, sr = sf.read(_io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except (RuntimeError, sf.SoundFileError) as e:
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
         end: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as a mono float32 waveform.

    Args:
        path: the file. WAV/FLAC/OGG/MP3/AIFF/... are read with soundfile; other formats with an
            ``ffmpeg`` subprocess when ``ffmpeg`` is on ``PATH``.
        sample_rate: resample to this rate (with :func:`resample`); ``None`` keeps the file's rate.
        start, end: read only the segment ``[start, end)`` in seconds (``end`` past the end of the
            file is clipped). Only that segment is decoded where the format allows seeking.

    Returns:
        ``(wav, sr)``: ``wav`` float32 numpy array of shape ``(N,)`` in ``[-1, 1]`` (channels
        averaged; integer PCM scaled by its full range) and its sample rate ``sr``.

    Raises:
        AudioNotFoundError: the path does not exist.
        EmptyAudioError: the file is 0 bytes, holds zero samples, or the segment holds none.
        CorruptAudioError: anything undecodable (garbage, truncated header, decoder errors, or a
            format soundfile cannot read while ffmpeg is absent).
        AudioError: other read problems (a directory, permission denied).
        ValueError: bad arguments (negative start, ``end <= start``, ``sample_rate <= 0``).
    """
    p = _check_readable(path)
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"{p}: sample_rate={sample_rate}; expected a positive rate or None")
    _check_segment(p, start, end)

    try:
        fh = sf.SoundFile(p)
    except (RuntimeError, sf.SoundFileError) as e:
        if _ffmpeg() is None:
            raise _unreadable(p, e) from None
        data, sr, _ = _ffmpeg_decode(p, start=start, end=end)
        wav = data[:, 0]
    else:
        with fh:
            sr = int(fh.samplerate)
            total = int(fh.frames)
            if total == 0:
                wav, sr = _load_zero_frames(p, start, end)
            else:
                wav = _read_segment(p, fh, total, start, end)
    if wav.shape[0] == 0:
        if start is not None or end is not None:
            raise EmptyAudioError(p, f"segment [{start or 0.0}, {end}) s holds no samples; "
                                     "expected a segment inside the audio")
        raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
    wav = np.ascontiguousarray(wav, dtype=np.float32)
    if sample_rate is not None and sample_rate != sr:
        wav = resample(wav, sr, sample_rate)
        sr = sample_rate
    return wav, sr


def _read_segment(p: str, fh: sf.SoundFile, total: int, start: float | None,
                  end: float | None) -> np.ndarray:
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
    except (RuntimeError, sf.SoundFileError) as e:
        raise CorruptAudioError(p, f"decoding failed ({_sf_message(e)}); "
                                   "expected a complete, undamaged audio file") from None
    if data.shape[1] == 1:
        return data[:, 0]
    return data.mean(axis=1, dtype=np.float32)


def _load_zero_frames(p: str, start: float | None, end: float | None):
    """soundfile says zero frames: empty audio, or a stream it could not measure (truncated Ogg).

    With ffmpeg available the file is decoded by ffmpeg, which either finds samples, finds none
    (EmptyAudioError) or reports damage (CorruptAudioError). Returns ``(wav, sr)``.
    """
    if _ffmpeg() is None:
        raise EmptyAudioError(p, "contains zero samples; expected non-empty audio")
    data, sr, _ = _ffmpeg_decode(p, start=start, end=end)
    return data[:, 0], sr


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
