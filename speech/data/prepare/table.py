"""Importer for a generic table of utterances (``.tsv`` / ``.csv`` with a header row).

Columns (names case-insensitive; the first present alias wins):

==========  =====================================================  =========
role        accepted names                                         required
==========  =====================================================  =========
audio path  path, audio, audio_path, audio_filepath, file, wav     yes
text        text, transcript, sentence, transcription              yes
id          id, utt_id                                             no: stem [#]
speaker     speaker, speaker_id                                    no
duration    duration, duration_s                                   no: measured
start, end  start, end (seconds within the file)                   no
split       split                                                  no: "all"
==========  =====================================================  =========

[#] Without an id column: the file stem; the path relative to the table (no extension) where
different files share a stem; with ``-<start in ms, 8 digits>`` appended where one file holds
several segments.

Relative paths are resolved against the table's folder. The delimiter follows the extension
(tab for ``.tsv``, where quotes are ordinary characters; comma for ``.csv``), with
``csv.Sniffer`` as fallback for other extensions or when that gives a single column. A given
duration is trusted (the file is only checked to exist); otherwise it is read from the audio
header (``end - start`` for segments). Without a ``split`` column everything goes to "all";
with one, there is one manifest per value. Bad rows are skipped with a warning naming
``file:line``.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from speech.data.manifest import ManifestError, Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log
from speech.text.normalize import normalize_asr_text

__all__ = ["prepare_table"]

_ALIASES = {
    "path": ("path", "audio", "audio_path", "audio_filepath", "file", "wav"),
    "text": ("text", "transcript", "sentence", "transcription"),
    "id": ("id", "utt_id"),
    "speaker": ("speaker", "speaker_id"),
    "duration": ("duration", "duration_s"),
    "start": ("start",),
    "end": ("end",),
    "split": ("split",),
}
_REQUIRED = ("path", "text")


def _read_rows(src: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and (line number, fields) rows of the table."""
    text = src.read_text(encoding="utf-8-sig")
    ext = src.suffix.lower()
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if ext == ".tsv" or (ext != ".csv" and "\t" in first):
        dialect: dict = {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    else:
        dialect = {"delimiter": ","}
    if len(next(csv.reader([first], **dialect), [])) < 2:
        try:
            sniffed = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters="\t,;|")
            dialect = {"delimiter": sniffed.delimiter}
        except csv.Error:
            pass
    reader = csv.reader(lines, **dialect)
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for fields in reader:
        lineno = reader.line_num
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
        else:
            rows.append((lineno, fields))
    return header or [], rows


def _float(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    x = float(value)  # ValueError for junk, reported by the caller
    if not math.isfinite(x):
        raise ValueError(value)
    return x


def prepare_table(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``all.jsonl`` (or one manifest per ``split`` value) from a TSV / CSV table.

    Args:
        src: the table file.
        out_dir: where the manifests and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifests are up to date.

    Returns:
        split name -> manifest path.

    Raises:
        FileNotFoundError: when ``src`` is not a file.
        ManifestError: ``<table>:1: ...`` when the header lacks the audio path or text column.
    """
    src = Path(src).resolve()
    if not src.is_file():
        raise FileNotFoundError(
            f"table not found at {src}: expected a .tsv or .csv file with a header row naming an audio "
            f"path column ({', '.join(_ALIASES['path'])}) and a text column ({', '.join(_ALIASES['text'])})"
        )
    sig = listing_signature([src])
    if not force and (done := cached(out_dir, "table", src, sig)) is not None:
        return done
    header, rows = _read_rows(src)
    col: dict[str, int] = {}
    for role, names in _ALIASES.items():
        for name in names:
            if name in header:
                col[role] = header.index(name)
                break
    for role in _REQUIRED:
        if role not in col:
            raise ManifestError(
                f"{src}:1: header has no {role} column; expected one of {', '.join(_ALIASES[role])} "
                f"(found: {', '.join(header) or 'nothing'})"
            )
    base = src.parent

    def get(fields: list[str], role: str) -> str:
        i = col.get(role)
        return fields[i].strip() if i is not None and i < len(fields) else ""

    found: list[tuple[str, Utterance, Path]] = []  # (split, utterance, path as resolved)
    for lineno, fields in rows:
        where = f"{src}:{lineno}"
        if len(fields) > len(header) or len(fields) <= max(col["path"], col["text"]):
            log.warning("skipping %s: %d fields; expected %d (%s)", where, len(fields), len(header), ", ".join(header))
            continue
        rel = get(fields, "path")
        if not rel:
            log.warning("skipping %s: empty audio path", where)
            continue
        path = Path(os.path.expanduser(rel))
        path = Path(os.path.normpath(path if path.is_absolute() else base / path))
        try:
            duration, start, end = (_float(get(fields, k)) for k in ("duration", "start", "end"))
        except ValueError:
            log.warning("skipping %s: duration/start/end must be numbers of seconds, got %r", where,
                        [get(fields, k) for k in ("duration", "start", "end")])
            continue
        if (start is not None and start < 0) or (start is not None and end is not None and start >= end):
            log.warning("skipping %s: segment start=%s end=%s; expected 0 <= start < end", where, start, end)
            continue
        if duration is not None and duration > 0:
            if not path.is_file():
                log.warning("skipping %s (%s): audio file is missing", path, where)
                continue
        else:
            if duration is not None:
                log.warning("%s: duration %s is not > 0; measuring the audio instead", where, duration)
            file_duration = audio_duration(path, where=f" ({where})")
            if file_duration is None:
                continue
            duration = (end if end is not None else file_duration) - (start or 0.0)
            if duration <= 0:
                log.warning("skipping %s: segment start=%s end=%s lies outside the %.3f s audio", where,
                            start, end, file_duration)
                continue
        utt = Utterance(id=get(fields, "id"), audio=str(path), duration=duration,
                        text=normalize_asr_text(get(fields, "text")), speaker=get(fields, "speaker") or None,
                        start=start, end=end)
        found.append((get(fields, "split") or "all", utt, path))

    # ids for rows without one: the file stem; the path relative to the table where different
    # files share a stem; plus "-<start in ms>" where one file holds several segments
    files_by_stem: dict[str, set[Path]] = {}
    rows_by_file: dict[Path, int] = {}
    for _, utt, path in found:
        if not utt.id:
            files_by_stem.setdefault(path.stem, set()).add(path)
            rows_by_file[path] = rows_by_file.get(path, 0) + 1
    splits: dict[str, list[Utterance]] = {}
    seen: set[str] = set()
    for split, utt, path in found:
        if not utt.id:
            unique_stem = len(files_by_stem[path.stem]) == 1
            utt.id = path.stem if unique_stem else Path(os.path.relpath(path, base)).with_suffix("").as_posix()
            if rows_by_file[path] > 1:
                utt.id += f"-{round((utt.start or 0.0) * 1000):08d}"
        if utt.id in seen:
            log.warning("skipping %s: id %r repeats in %s", utt.audio, utt.id, src)
            continue
        seen.add(utt.id)
        splits.setdefault(split, []).append(utt)
    if not splits:
        splits = {"all": []}
    return finish(out_dir, "table", src, sig, splits)
