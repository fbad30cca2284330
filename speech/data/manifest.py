"""Utterance manifests: JSON lines, one utterance per line.

A line looks like::

    {"id": "an251-fash-b", "audio": "/data/an4/wav/an4_clstk/fash/an251-fash-b.flac",
     "duration": 1.7, "text": "yes", "speaker": "fash"}

Required: ``id`` (unique string), ``audio`` (path; relative paths are relative to the manifest's
folder) and ``duration`` (seconds, > 0). Optional: ``text`` (normalized transcript, default ""),
``speaker``, and ``start`` / ``end`` (seconds) to select a segment of a longer file; then
``duration`` is the segment's length. Unknown fields are ignored when reading, so other tools
may add their own.

Two readers:

- :func:`read_manifest` parses and stops at the first malformed line (``ManifestError``); it does
  not open the audio. Tools that read manifests made by ``speech prepare`` use it.
- :func:`check_manifest` is what training uses on manifests that may be written by hand: it
  normalizes every transcript like ``speech prepare`` does (``"zéro 42"`` -> ``"zero forty two"``),
  and checks every line, collecting one :class:`ManifestIssue` per bad line instead of stopping:
  malformed JSON or fields, repeated ids, text with characters outside the ASR alphabet or with
  nothing speakable, and (from the audio header only, never decoding it) a missing, empty or
  unreadable audio file, a ``duration`` that disagrees with the file, a segment outside the file.
  :func:`issues_error` turns the issues into one error; :func:`write_issues` saves them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from speech.audio import AudioError, info
from speech.fileio import atomic_write_text
from speech.text.normalize import ASR_ALPHABET, normalize_asr_text, unspoken_characters

__all__ = ["DURATION_TOLERANCE", "ManifestCheck", "ManifestError", "ManifestIssue", "Utterance", "check_manifest",
           "issues_error", "read_manifest", "total_duration", "write_issues", "write_manifest"]

DURATION_TOLERANCE = (0.5, 0.25)
"""How far a line's ``duration`` may be from the audio's: (seconds, fraction of the audio's length);
the larger of the two applies. An ``end`` may lie this many seconds past the end of the file."""


class ManifestError(ValueError):
    """A manifest line that cannot be used: ``<manifest path>:<line no>: <what is wrong>; expected ...``.

    Attributes:
        issues: every bad line found, when the error sums up several (see :func:`issues_error`);
            empty for an error about a single line.
    """

    def __init__(self, message: str, issues: Sequence["ManifestIssue"] = ()):
        super().__init__(message)
        self.issues = list(issues)


@dataclass(frozen=True)
class ManifestIssue:
    """One bad manifest line; ``str(issue)`` is ``"<manifest>:<line>: <problem>; expected ..."``."""

    manifest: str
    """The manifest's path, as given to :func:`check_manifest`."""
    line: int
    """1-based line number (blank lines count)."""
    problem: str
    """What is wrong and what was expected, one line, without the location."""
    id: str | None = None
    """The line's utterance id, when it has one."""

    def __str__(self) -> str:
        return f"{self.manifest}:{self.line}: {self.problem}"

    def to_dict(self) -> dict:
        return {"manifest": self.manifest, "line": self.line, "id": self.id, "problem": self.problem}


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
        origin: ``"<manifest>:<line>"`` the utterance was read from (set by the readers, None for
            utterances made in code); not written to manifests and ignored when comparing.
    """

    id: str
    audio: str
    duration: float
    text: str = ""
    speaker: str | None = None
    start: float | None = None
    end: float | None = None
    origin: str | None = field(default=None, compare=False, repr=False)

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


def _lines(path: Path) -> Iterable[tuple[int, str | None]]:
    """(line number, text) of the non-blank lines; text None for a line that is not UTF-8."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                yield lineno, None
                continue
            if line.strip():
                yield lineno, line


def _parse(line: str | None) -> dict | str:
    """A manifest line as a checked record, or the problem with it."""
    if line is None:
        return "not valid UTF-8; expected UTF-8 text"
    try:
        d = json.loads(line)
    except json.JSONDecodeError as e:
        return f"not valid JSON ({e.msg}); expected one JSON object per line"
    if not isinstance(d, dict):
        return (f"found a JSON {type(d).__name__}; "
                f'expected an object like {{"id": ..., "audio": ..., "duration": ...}}')
    problem = _check(d)
    return problem[1] if problem else d


def _read(path: Path, on_issue, normalize: bool) -> list[tuple[int, Utterance, str]]:
    """Parse every line; (line number, utterance, raw text) of the good ones; ``on_issue(lineno, id,
    problem)`` for the rest."""
    folder = path.resolve().parent
    out: list[tuple[int, Utterance, str]] = []
    first_line: dict[str, int] = {}
    for lineno, line in _lines(path):
        d = _parse(line)
        if isinstance(d, str):
            on_issue(lineno, None, d)
            continue
        if d["id"] in first_line:
            on_issue(lineno, d["id"], f"field 'id' {d['id']!r} already used on line {first_line[d['id']]}; "
                                      f"expected unique ids")
            continue
        first_line[d["id"]] = lineno
        utt = _from_dict(d)
        raw = utt.text
        if normalize:
            utt.text = normalize_asr_text(raw)
        if not os.path.isabs(utt.audio):
            utt.audio = os.path.normpath(os.path.join(folder, utt.audio))
        utt.origin = f"{path}:{lineno}"
        out.append((lineno, utt, raw))
    return out


def _no_manifest(path: Path) -> FileNotFoundError:
    return FileNotFoundError(2, f"{path}: no such manifest; expected a JSON-lines manifest file", str(path))


def read_manifest(path: str | os.PathLike, normalize: bool = False) -> list[Utterance]:
    """Read a JSON-lines manifest.

    Blank lines are skipped; relative ``audio`` paths are resolved against the manifest's folder
    (the files themselves are not opened).

    Args:
        path: the file. Its lines are UTF-8 (a byte-order mark is tolerated).
        normalize: pass every ``text`` through :func:`~speech.text.normalize.normalize_asr_text`,
            as ``speech prepare`` does (a no-op on its own manifests); for hand-written ones.

    Returns:
        The utterances in file order, each with ``origin`` set to ``"<path>:<line>"``.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ManifestError: for the first bad line (``<path>:<line>: ...``): not UTF-8, not a JSON
            object, a missing required field (id, audio, duration), a field of the wrong type,
            duration <= 0, start >= end, or an id used before (naming the earlier line).
    """
    path = Path(path)
    if not path.is_file():
        raise _no_manifest(path)

    def stop(lineno: int, uid: str | None, problem: str) -> None:
        raise ManifestError(f"{path}:{lineno}: {problem}")

    return [u for _, u, _ in _read(path, stop, normalize)]


@dataclass
class ManifestCheck:
    """What :func:`check_manifest` found."""

    manifest: str
    """The manifest's path, as given."""
    utterances: list[Utterance]
    """The good lines, normalized, in file order (``origin`` names each one's line)."""
    issues: list[ManifestIssue]
    """One per bad line, in file order."""

    @property
    def lines(self) -> int:
        """Non-blank lines read (good + bad)."""
        return len(self.utterances) + len(self.issues)


def _describe_alphabet(alphabet: Collection[str]) -> str:
    if set(alphabet) == ASR_ALPHABET:
        return "letters a-z, apostrophe and space"
    return "only " + " ".join(repr(c) for c in sorted(alphabet))


def _text_problem(raw: str, text: str, normalize: bool, require_text: bool,
                  alphabet: Collection[str] | None) -> str | None:
    after = " after normalization" if normalize else ""
    if alphabet is not None:
        bad = list(dict.fromkeys((unspoken_characters(raw) if normalize else []) +
                                 [c for c in text if c not in alphabet]))
        if bad:
            shown = " ".join(repr(c) for c in bad[:12]) + (f" (+{len(bad) - 12} more)" if len(bad) > 12 else "")
            return (f"text has characters outside the vocabulary: {shown}; "
                    f"expected {_describe_alphabet(alphabet)}{after}")
    if require_text and not text:
        if not raw.strip():
            return "field 'text' is empty or missing; expected the transcript of the audio"
        return f"text {raw!r} has no words{after}; expected the transcript of the audio"
    return None


def _audio_problem(u: Utterance, tolerance: tuple[float, float]) -> str | None:
    """Missing / unreadable audio, or a duration / segment the header contradicts (header only)."""
    try:
        file_seconds = info(u.audio).duration
    except AudioError as e:
        return f"audio {e}"
    except (OSError, ValueError) as e:  # e.g. a failing ffprobe: still one line
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"audio {u.audio}: cannot read its header ({first}); expected a readable audio file"
    slack, fraction = tolerance
    start = u.start or 0.0
    if start >= file_seconds:
        return (f"field 'start' is {start:g} s but the audio {u.audio} lasts {file_seconds:.3f} s; "
                f"expected a segment inside the audio")
    if u.end is not None and u.end > file_seconds + slack:
        return (f"field 'end' is {u.end:g} s but the audio {u.audio} lasts {file_seconds:.3f} s; "
                f"expected a segment inside the audio")
    seconds = min(u.end if u.end is not None else file_seconds, file_seconds) - start
    if abs(u.duration - seconds) > max(slack, fraction * seconds):
        what = "its segment of" if u.start is not None or u.end is not None else "the audio"
        return (f"field 'duration' is {u.duration:g} s but {what} {u.audio} lasts {seconds:.3f} s; "
                f"expected the audio's length (within {slack:g} s or {fraction:.0%})")
    return None


def check_manifest(path: str | os.PathLike, *, normalize: bool = True, require_text: bool = True,
                   check_audio: bool = True, alphabet: Collection[str] | None = ASR_ALPHABET,
                   tolerance: tuple[float, float] = DURATION_TOLERANCE) -> ManifestCheck:
    """Read a manifest, checking every line and collecting the bad ones instead of stopping.

    A line is bad when it is not UTF-8 or not a JSON object, lacks a required field or has one of
    the wrong type (as :func:`read_manifest`), repeats an id, or when (each check optional):

    - its text, after normalization, holds characters outside ``alphabet``, or lost letters or
      symbols the normalizer cannot say ("ŋ", "☃", see
      :func:`~speech.text.normalize.unspoken_characters`);
    - its text is empty after normalization (``require_text``);
    - its audio is missing, empty or unreadable, its ``duration`` is off from the file's by more
      than ``tolerance``, or its ``start`` / ``end`` lie outside the file (``check_audio``). Only
      the audio header is read (:func:`speech.audio.info`), so thousands of lines check quickly;
      damage further into a file shows up when it is decoded.

    Each bad line gives one :class:`ManifestIssue`, the first problem found on it.

    Args:
        path: the manifest.
        normalize: normalize transcripts like ``speech prepare`` (idempotent on its manifests).
        require_text: an empty transcript is an issue (training); False for unlabeled audio.
        check_audio: read every audio header.
        alphabet: characters allowed in the normalized text; None allows any.
        tolerance: see :data:`DURATION_TOLERANCE`.

    Returns:
        The good utterances and the issues.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise _no_manifest(path)
    issues: list[ManifestIssue] = []
    where = str(path)

    def note(lineno: int, uid: str | None, problem: str) -> None:
        issues.append(ManifestIssue(where, lineno, problem, uid))

    parsed = _read(path, note, normalize)
    problems = [_text_problem(raw, utt.text, normalize, require_text, alphabet) for _, utt, raw in parsed]
    if check_audio:
        todo = [utt for (_, utt, _), p in zip(parsed, problems) if p is None]
        # headers are read in threads: soundfile and ffprobe (for formats only ffmpeg reads) wait on I/O
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            found = iter(list(pool.map(lambda u: _audio_problem(u, tolerance), todo, chunksize=64)))
        problems = [next(found) if p is None else p for p in problems]
    good: list[Utterance] = []
    for (lineno, utt, _), problem in zip(parsed, problems):
        if problem is None:
            good.append(utt)
        else:
            note(lineno, utt.id, problem)
    issues.sort(key=lambda i: i.line)
    return ManifestCheck(where, good, issues)


def issues_error(issues: Sequence[ManifestIssue], limit: int = 10, hint: str = "") -> ManifestError:
    """One error for a list of bad lines.

    The message's first line is the first issue itself (``<manifest>:<line>: ...``), followed, when
    there are more, by how many and ``hint``; the next lines list up to ``limit`` issues, then
    ``... and N more``. A command that prints one line prints the first; the error's ``issues``
    holds them all.
    """
    if not issues:
        raise ValueError("issues_error needs at least one issue")
    head = str(issues[0])
    n = len(issues)
    if n > 1:
        head += f" [1 of {n} bad manifest lines{'; ' + hint if hint else ''}]"
    elif hint:
        head += f" [{hint}]"
    details = [str(i) for i in issues[:limit]]
    if n > limit:
        details.append(f"... and {n - limit} more")
    return ManifestError("\n".join([head] + details), issues)


def write_issues(path: str | os.PathLike, issues: Iterable[ManifestIssue]) -> Path:
    """Write issues as JSON lines (manifest, line, id, problem), atomically."""
    return atomic_write_text(path, "".join(json.dumps(i.to_dict(), ensure_ascii=False) + "\n" for i in issues))


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance]) -> Path:
    """Write utterances as JSON lines, atomically.

    The file goes through :func:`speech.fileio.atomic_write_text` (temporary file in the same
    folder, fsync, rename), so readers never see half a manifest. Parent folders are created.
    Paths are written exactly as given (absolute or relative).

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
