"""Utterance manifests: JSON lines, one utterance per line.

A line looks like::

    {"id": "an251-fash-b", "audio": "/data/an4/wav/an4_clstk/fash/an251-fash-b.flac",
     "duration": 1.7, "text": "yes", "speaker": "fash"}

Required: ``id`` (unique string), ``audio`` (path; relative paths are relative to the manifest's
folder) and ``duration`` (seconds, > 0). Optional: ``text`` (normalized transcript, default ""),
``speaker``, and ``start`` / ``end`` (seconds) to select a segment of a longer file; then
``duration`` is the segment's length. Unknown fields are ignored when reading, so other tools
may add their own.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from speech.fileio import atomic_write_text

__all__ = ["ManifestError", "Utterance", "read_manifest", "write_manifest", "total_duration"]


class ManifestError(ValueError):
    """A manifest line that cannot be used: ``<manifest path>:<line no>: <what is wrong>; expected ...``."""


@dataclass
class Utterance:
    """One utterance: an audio file (or a segment of one) and its transcript.

    Attributes:
        id: unique id within the manifest (e.g. the file stem).
        audio: path of the audio file; absolute, or relative to the manifest's folder
            (:func:`read_manifest` resolves relative paths to absolute ones).
        duration: length in seconds of the audio this utterance covers (> 0); for a segment,
            ``end - start``.
        text: normalized transcript ("" when unknown).
        speaker: speaker id, or None when unknown.
        start: segment start within the audio file in seconds, or None for the whole file.
        end: segment end within the audio file in seconds, or None for "to the end of the file".
    """

    id: str
    audio: str
    duration: float
    text: str = ""
    speaker: str | None = None
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict:
        """The manifest line as a dict, in field order, without the fields that are None."""
        d = {"id": self.id, "audio": self.audio, "duration": self.duration, "text": self.text,
             "speaker": self.speaker, "start": self.start, "end": self.end}
        return {k: v for k, v in d.items() if v is not None}


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check(d: dict) -> tuple[str, str] | None:
    """Validate a manifest record; returns (field, problem + expectation) or None when fine."""
    for key in ("id", "audio"):
        if key not in d:
            return key, f"missing field {key!r}; expected a non-empty string"
        if not isinstance(d[key], str) or not d[key]:
            return key, f"field {key!r} is {d[key]!r}; expected a non-empty string"
    if "duration" not in d:
        return "duration", "missing field 'duration'; expected a number of seconds > 0"
    if not _is_number(d["duration"]) or d["duration"] <= 0:
        return "duration", f"field 'duration' is {d['duration']!r}; expected a number of seconds > 0"
    if "text" in d and not isinstance(d["text"], str):
        return "text", f"field 'text' is {d['text']!r}; expected a string"
    if d.get("speaker") is not None and not isinstance(d["speaker"], str):
        return "speaker", f"field 'speaker' is {d['speaker']!r}; expected a string or null"
    for key in ("start", "end"):
        v = d.get(key)
        if v is not None and (not _is_number(v) or v < 0):
            return key, f"field {key!r} is {v!r}; expected a number of seconds >= 0 or null"
    if d.get("start") is not None and d.get("end") is not None and d["start"] >= d["end"]:
        return "start", f"field 'start' ({d['start']!r}) is not before 'end' ({d['end']!r}); expected start < end"
    return None


def _from_dict(d: dict) -> Utterance:
    return Utterance(
        id=d["id"], audio=d["audio"], duration=float(d["duration"]), text=d.get("text", ""),
        speaker=d.get("speaker"),
        start=None if d.get("start") is None else float(d["start"]),
        end=None if d.get("end") is None else float(d["end"]),
    )


def read_manifest(path: str | os.PathLike) -> list[Utterance]:
    """Read a JSON-lines manifest.

    Blank lines are skipped; relative ``audio`` paths are resolved against the manifest's folder
    (the files themselves are not opened).

    Args:
        path: the manifest file.

    Returns:
        The utterances in file order.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ManifestError: for the first bad line (``<path>:<line>: ...``): not a JSON object, a
            missing required field (id, audio, duration), a field of the wrong type,
            duration <= 0, start >= end, or an id used before (naming the earlier line).
    """
    path = Path(path)
    folder = path.resolve().parent
    utts: list[Utterance] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({e.msg}); "
                                    f"expected one JSON object per line") from None
            if not isinstance(d, dict):
                raise ManifestError(f"{path}:{lineno}: found a JSON {type(d).__name__}; "
                                    f'expected an object like {{"id": ..., "audio": ..., "duration": ...}}')
            problem = _check(d)
            if problem:
                raise ManifestError(f"{path}:{lineno}: {problem[1]}")
            if d["id"] in first_line:
                raise ManifestError(f"{path}:{lineno}: field 'id' {d['id']!r} already used on line "
                                    f"{first_line[d['id']]}; expected unique ids")
            first_line[d["id"]] = lineno
            utt = _from_dict(d)
            if not os.path.isabs(utt.audio):
                utt.audio = os.path.normpath(os.path.join(folder, utt.audio))
            utts.append(utt)
    return utts


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance]) -> Path:
    """Write utterances as JSON lines, atomically.

    The file is written to a temporary file in the same folder and moved into place with
    ``os.replace``, so readers never see half a manifest. Parent folders are created. Paths are
    written exactly as given (absolute or relative).

    Args:
        path: the manifest to (over)write.
        utts: the utterances, written in order.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: naming the utterance when one would not read back (see :func:`read_manifest`)
            or its id repeats; nothing is written then.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    seen: set[str] = set()
    for n, utt in enumerate(utts, 1):
        d = utt.to_dict()
        problem = _check(d)
        if problem:
            raise ValueError(f"utterance {n} ({d.get('id')!r}) for {path}: {problem[1]}")
        if d["id"] in seen:
            raise ValueError(f"utterance {n} for {path}: id {d['id']!r} repeats; expected unique ids")
        seen.add(d["id"])
        lines.append(json.dumps(d, ensure_ascii=False) + "\n")
    return atomic_write_text(path, "".join(lines))


def total_duration(utts: Iterable[Utterance]) -> float:
    """Sum of ``duration`` over the utterances, in seconds."""
    return float(sum(u.duration for u in utts))
