"""Shared plumbing of the corpus importers: durations, warnings, the re-run stamp.

Every importer ends with :func:`finish`, which writes ``out_dir/<split>.jsonl`` and a stamp
``out_dir/.prepared.json`` recording the corpus, the resolved source, a cheap signature of the
source listing (paths, mtimes and sizes of the listing files / folders, never the audio) and the
utterance count of each manifest. :func:`cached` returns the manifests of a previous run when the
stamp matches and every manifest still exists with its recorded number of lines.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from speech.audio import AudioError, EmptyAudioError, info
from speech.data.manifest import Utterance, write_manifest
from speech.fileio import atomic_write_text

log = logging.getLogger("speech.data.prepare")

STAMP_NAME = ".prepared.json"
_STAMP_VERSION = 1


def audio_duration(path: str | os.PathLike, *, where: str = "") -> float | None:
    """Duration of an audio file in seconds, read from its header with :func:`speech.audio.info`
    (soundfile; ffprobe for the formats only ffmpeg reads).

    Returns None, after logging one warning line naming the file, when the file is missing,
    unreadable or empty; the importers then skip the utterance.
    """
    if not os.path.isfile(path):
        log.warning("skipping %s%s: audio file is missing", path, where)
        return None
    try:
        duration = info(path).duration
    except EmptyAudioError:
        duration = 0.0
    except AudioError as e:
        log.warning("skipping %s%s: unreadable audio (%s)", path, where, e.message)
        return None
    if not duration > 0:
        log.warning("skipping %s%s: audio is empty", path, where)
        return None
    return float(duration)


def listing_signature(paths: Iterable[str | os.PathLike]) -> str:
    """A short hash of (path, mtime, size) of the given listing files / folders.

    Folders count through their own mtime, which changes when entries are added, removed or
    renamed in them (not when a file inside is rewritten in place: use ``force=True`` then).
    """
    h = hashlib.sha1()
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def cached(out_dir: str | os.PathLike, corpus: str, src: Path, signature: str) -> dict[str, Path] | None:
    """Manifests of an earlier run with the same corpus, source and signature, else None."""
    out_dir = Path(out_dir)
    try:
        stamp = json.loads((out_dir / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or (stamp.get("version"), stamp.get("corpus"), stamp.get("src"),
                                       stamp.get("signature")) != (_STAMP_VERSION, corpus, str(src), signature):
        return None
    splits = stamp.get("splits")
    if not isinstance(splits, dict) or not splits:
        return None
    result: dict[str, Path] = {}
    for split, entry in splits.items():
        path = out_dir / f"{split}.jsonl"
        try:
            if _count_lines(path) != entry["count"]:
                return None
        except (OSError, KeyError, TypeError):
            return None
        result[split] = path
    log.info("%s: %s already prepared in %s (force=True redoes it)", corpus, src, out_dir)
    return result


def finish(out_dir: str | os.PathLike, corpus: str, src: Path, signature: str,
           splits: Mapping[str, list[Utterance]]) -> dict[str, Path]:
    """Write one manifest per split and the stamp; returns split -> manifest path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp_path = out_dir / STAMP_NAME
    stamp_path.unlink(missing_ok=True)  # a crash between manifests must not leave a valid stamp
    result: dict[str, Path] = {}
    for split, utts in splits.items():
        if not utts:
            log.warning("%s: split %r of %s has no usable utterances; no manifest written", corpus, split, src)
            continue
        result[split] = write_manifest(out_dir / f"{split}.jsonl", utts)
        log.info("%s: wrote %d utterances to %s", corpus, len(utts), result[split])
    stamp = {"version": _STAMP_VERSION, "corpus": corpus, "src": str(src), "signature": signature,
             "splits": {s: {"count": len(splits[s])} for s in result}}
    atomic_write_text(stamp_path, json.dumps(stamp, indent=1) + "\n")
    return result


def read_text(path: Path) -> str:
    """A transcript file's text: UTF-8 (BOM tolerated), lines joined with spaces."""
    return " ".join(path.read_text(encoding="utf-8-sig", errors="replace").split())
