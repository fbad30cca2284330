"""Corpus importers: raw corpus on disk -> JSON-lines manifests (one per split).

Each importer is ``prepare_<corpus>(src, out_dir, *, force=False) -> {split: out_dir/<split>.jsonl}``:

- re-runnable: a stamp ``out_dir/.prepared.json`` records the source, a signature of its listing
  and the manifest sizes; a second call with nothing changed returns the manifests without
  touching the audio (``force=True`` redoes the work);
- audio paths are written absolute; durations come from the audio headers (:func:`speech.audio.info`);
- text goes through :func:`speech.text.normalize_asr_text`;
- a missing or unreadable audio file is logged (one warning line naming it, logger
  ``speech.data.prepare``) and skipped; the rest is still imported;
- a missing corpus raises ``FileNotFoundError`` saying which layout was expected.

Example::

    from speech.data.prepare import prepare
    manifests = prepare("an4", "../shared/data/an4", "exp/an4/data")   # {"train": ..., "test": ...}
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from speech.data.prepare.an4 import prepare_an4
from speech.data.prepare.folder import prepare_folder
from speech.data.prepare.fsdd import prepare_fsdd
from speech.data.prepare.librispeech import prepare_librispeech
from speech.data.prepare.ljspeech import prepare_ljspeech
from speech.data.prepare.table import prepare_table

__all__ = ["PREPARERS", "prepare", "prepare_an4", "prepare_folder", "prepare_fsdd", "prepare_librispeech",
           "prepare_ljspeech", "prepare_table"]

PREPARERS: dict[str, Callable[..., dict[str, Path]]] = {
    "fsdd": prepare_fsdd,
    "an4": prepare_an4,
    "ljspeech": prepare_ljspeech,
    "librispeech": prepare_librispeech,
    "folder": prepare_folder,
    "table": prepare_table,
}
"""Importer by corpus name."""


def prepare(corpus: str, src: str | os.PathLike, out_dir: str | os.PathLike, force: bool = False) -> dict[str, Path]:
    """Run the importer named ``corpus`` (a key of :data:`PREPARERS`).

    Returns:
        split name -> written manifest path.

    Raises:
        ValueError: for an unknown corpus name, listing the known ones.
    """
    try:
        fn = PREPARERS[corpus]
    except KeyError:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of: {', '.join(sorted(PREPARERS))}") from None
    return fn(src, out_dir, force=force)
