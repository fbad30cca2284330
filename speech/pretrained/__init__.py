"""The models that ship inside the toolkit: one model-package folder per name, installed with it.

This package holds data only (``<name>/`` folders, each a model package with a ``card.md``); the
code that lists and resolves them is :mod:`speech.packages.registry` (and, for the G2P fallback that
the text layer uses, :mod:`speech.text.g2p`). Every folder here was written by a recipe's
``--export-bundled`` stage (``python recipes/<corpus>/run.py --export-bundled``), never by hand.

``$SPEECH_PRETRAINED_DIR`` points the toolkit at another folder of the same shape (tests use it to
stand in a small set of models; a deployment can ship its own).
"""
from __future__ import annotations

import os
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
"""Where the bundled models are installed (package data of ``speech``)."""


def pretrained_dir() -> Path:
    """The folder of bundled models: ``$SPEECH_PRETRAINED_DIR`` when set, else :data:`PRETRAINED_DIR`."""
    env = os.environ.get("SPEECH_PRETRAINED_DIR")
    return Path(env) if env else PRETRAINED_DIR


def pretrained_path(name: str) -> Path | None:
    """The folder of the bundled model ``name``, or None when there is no such model.

    A name is a plain folder name (letters, digits, ``-``, ``_``, ``.``); anything that could
    step outside the folder (``..``, a path separator) is no name."""
    if not name or name.startswith(".") or any(c in name for c in "/\\\0") or name != name.strip():
        return None
    p = pretrained_dir() / name
    return p if (p / "meta.json").is_file() else None
