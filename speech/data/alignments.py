"""Frame-level labels from forced alignment, stored beside a manifest as JSON lines.

One line per utterance: ``{"id": ..., "frames": T, "rle": [[symbol, count], ...]}`` (run-length
encoded: consecutive frames mostly repeat a symbol). Labels are at the acoustic model's output
frame rate, blank included.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from speech.data.manifest import ManifestError
from speech.fileio import atomic_write_text


def rle_encode(labels: np.ndarray) -> list[list[int]]:
    """[a, a, b, b, b] -> [[a, 2], [b, 3]]."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return []
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    counts = np.diff(np.concatenate([starts, [labels.size]]))
    return [[int(labels[s]), int(c)] for s, c in zip(starts, counts)]


def rle_decode(rle: list[list[int]]) -> np.ndarray:
    if not rle:
        return np.zeros(0, dtype=np.int64)
    sym, cnt = zip(*rle)
    return np.repeat(np.asarray(sym, dtype=np.int64), np.asarray(cnt, dtype=np.int64))


def alignment_tokenizer_path(path: str | Path) -> Path:
    """The vocabulary the labels of an alignment file refer to, saved beside it."""
    path = Path(path)
    return path.with_name(path.name + ".tokenizer.json")


def write_alignments(path: str | Path, items: Iterable[tuple[str, np.ndarray]]) -> Path:
    """Write (utterance id, frame labels) pairs atomically."""
    return atomic_write_text(path, "".join(
        json.dumps({"id": uid, "frames": int(len(labels)), "rle": rle_encode(labels)}) + "\n" for uid, labels in items))


def read_alignments(path: str | Path) -> dict[str, np.ndarray]:
    """Read a file written by :func:`write_alignments`; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: alignment file not found; make it with `speech align-dataset`")
    out: dict[str, np.ndarray] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                labels = rle_decode(row["rle"])
                uid = str(row["id"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise ManifestError(f"{path}:{n}: bad alignment line ({type(e).__name__}: {e}); "
                                    'expected {"id": ..., "frames": T, "rle": [[symbol, count], ...]}') from None
            if len(labels) != int(row.get("frames", len(labels))):
                raise ManifestError(f"{path}:{n}: rle covers {len(labels)} frames but 'frames' says {row['frames']}")
            out[uid] = labels
    return out
