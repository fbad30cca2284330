"""The ffmpeg fallback: decoding and probing the files libsndfile cannot open (AAC/M4A, WMA, ...).

Used by :mod:`speech.audio.read` only when ``soundfile`` fails and an ``ffmpeg`` executable is on
``PATH`` (looked up on every call, so PATH changes take effect). Files are always named to ffmpeg
as ``file:`` URLs, and any message ffmpeg prints at ``-v error`` counts as a decoding failure, so
a damaged stream is reported (one-line :class:`~speech.audio.errors.CorruptAudioError`) rather
than silently cut short.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess

import numpy as np
import soundfile as sf

from speech.audio.errors import SF_ERRORS, CorruptAudioError, sf_message

__all__ = ["FFMPEG_ONLY_EXTENSIONS", "ffmpeg_decode", "ffmpeg_path", "ffprobe_info", "unreadable_error"]

#: Extensions whose files libsndfile never reads: the error says to install ffmpeg.
FFMPEG_ONLY_EXTENSIONS = (".m4a", ".aac", ".wma", ".mp4", ".webm", ".amr", ".ac3", ".wv", ".ape")


def ffmpeg_path() -> str | None:
    """The ``ffmpeg`` executable on ``PATH``, or None (looked up on every call: tests hide it)."""
    return shutil.which("ffmpeg")


def _url(p: str) -> str:
    """The ``file:`` URL of a local path for ffmpeg/ffprobe: a name such as ``-`` (stdin),
    ``http:x`` or ``concat:a|b`` must never be read as anything but the local file."""
    return "file:" + os.path.abspath(p)


def _reason(p: str, line: str) -> str:
    """ffmpeg's last error line without the file's name in it."""
    for name in (_url(p), os.path.abspath(p), p):
        line = line.replace(name, "")
    return line.strip(" :") or "no reason given"


def _last_error(p: str, proc: subprocess.CompletedProcess) -> str | None:
    """The reason of a failed ffmpeg/ffprobe run (its last non-empty stderr line), or None."""
    err = [line for line in proc.stderr.decode(errors="replace").splitlines() if line.strip()]
    if err:
        return _reason(p, err[-1])
    return None if proc.returncode == 0 else f"exit status {proc.returncode}"


def unreadable_error(p: str, sf_error: Exception) -> CorruptAudioError:
    """The error for a file that soundfile cannot open and ffmpeg is not available to try."""
    ext = os.path.splitext(p)[1].lower()
    detail = sf_message(sf_error)
    if ext in FFMPEG_ONLY_EXTENSIONS:
        return CorruptAudioError(
            p, f"cannot decode '{ext}' without ffmpeg (soundfile: {detail}); "
               "expected ffmpeg on PATH to read this format (install ffmpeg)")
    return CorruptAudioError(
        p, f"cannot decode ({detail}); expected an audio file soundfile can read "
           "(for other formats install ffmpeg)")


def ffprobe_info(p: str) -> tuple[int, int, int, str] | None:
    """``(sample_rate, num_frames, channels, FORMAT)`` from the container, via ``ffprobe``.

    ``num_frames`` comes from the container's duration (approximate). Returns None when ffprobe is
    absent or gives no usable duration; raises :class:`CorruptAudioError` when ffprobe fails or
    finds no audio stream.
    """
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        return None
    cmd = [ffprobe, "-v", "error", "-select_streams", "a:0",
           "-show_entries", "stream=sample_rate,channels,duration:format=format_name,duration",
           "-of", "json", _url(p)]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    if proc.returncode != 0:
        raise CorruptAudioError(p, f"cannot decode (ffprobe: {_last_error(p, proc)}); expected an audio file")
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
    return sr, int(round(dur * sr)), ch, fmt_name.upper()


def ffmpeg_decode(p: str, *, mono: bool = True, start: float | None = None,
                  end: float | None = None) -> tuple[np.ndarray, int, int]:
    """Decode with an ffmpeg subprocess at the file's own rate (ffmpeg must be on ``PATH``).

    Args:
        p: the file.
        mono: down-mix to one channel.
        start, end: decode only ``[start, end)`` seconds (input seek; sample-accurate for audio).

    Returns:
        ``(wav, sample_rate, channels)`` with ``wav`` float32 of shape ``(N, C)`` (``C == 1`` when
        ``mono``). Output goes through a WAV pipe (``pcm_f32le``) so the native rate comes back
        with the samples.
    """
    exe = ffmpeg_path()
    assert exe is not None
    cmd = [exe, "-nostdin", "-v", "error"]
    if start:
        cmd += ["-ss", f"{start:.6f}"]  # input seek: fast, sample-accurate for audio
    cmd += ["-i", _url(p)]
    if end is not None:
        cmd += ["-t", f"{end - (start or 0.0):.6f}"]
    cmd += ["-vn", "-f", "wav", "-c:a", "pcm_f32le"]
    if mono:
        cmd += ["-ac", "1"]
    cmd += ["-"]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True)
    reason = _last_error(p, proc)
    if reason is not None:
        raise CorruptAudioError(p, f"cannot decode (ffmpeg: {reason}); expected an audio file")
    try:
        data, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
    except (*SF_ERRORS, TypeError) as e:
        raise CorruptAudioError(p, f"cannot decode (ffmpeg produced no audio: {sf_message(e)}); "
                                   "expected an audio file") from None
    return data, int(sr), int(data.shape[1])
