"""Turning a trained package into a bundled one: weights in half precision, a card, a name.

:func:`bundle_package` copies a package folder (any kind: recognizer, voice, vocoder, the G2P
model) into the folder of bundled models (:func:`speech.pretrained.pretrained_dir`, or another
root) under a name, with

* the weight matrices stored as float16 (:func:`half_state`: floating tensors of at least
  :data:`HALF_MIN_NUMEL` elements; biases, norms and normalization statistics stay float32). The
  loaders cast them back to the model's float32 parameters, so only storage is halved;
* a ``bundled`` section in ``meta.json`` (name, task, domain, summary, headline numbers; what
  :mod:`speech.packages.registry` lists) and, for a recognizer, its recommended ``decoding``;
* extra files (an n-gram LM) and ``card.md``.

The new folder is assembled beside its destination and renamed into place, so a failed export
never leaves half a model where a working one was.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

import torch

from speech.fileio import atomic_write_text
from speech.packages.format import (
    LEGACY_WEIGHTS_FILE,
    WEIGHTS_FILE,
    PackageError,
    weights_path,
)
from speech.packages.weights import read_weights, write_weights
from speech.pretrained import pretrained_dir

HALF_MIN_NUMEL = 1024
"""Floating tensors with at least this many elements are stored as float16 in a bundled model."""

_MODEL_FILES = (WEIGHTS_FILE, LEGACY_WEIGHTS_FILE, "meta.json", "card.md")


def half_state(state: dict[str, torch.Tensor], min_numel: int = HALF_MIN_NUMEL) -> dict[str, torch.Tensor]:
    """``state`` with every float32/float64 tensor of at least ``min_numel`` elements as float16.

    Raises:
        ValueError: a tensor would overflow float16 (a value beyond +-65504) - not halved silently.
    """
    out = {}
    for name, t in state.items():
        if t.is_floating_point() and t.dtype != torch.float16 and t.numel() >= min_numel:
            big = float(t.detach().abs().max()) if t.numel() else 0.0
            if big > torch.finfo(torch.float16).max:
                raise ValueError(f"{name}: values up to {big:g} do not fit in float16")
            t = t.to(torch.float16)
        out[name] = t
    return out


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in state.values())


def bundle_package(src: str | Path, name: str, *, task: str, domain: str, summary: str, numbers: dict,
                   card: str | Callable[[Path], str], metrics: dict | None = None, half: bool = True,
                   decoding: dict | None = None,
                   extra_files: dict[str, str | Path] | None = None, root: str | Path | None = None) -> Path:
    """Copy the package folder ``src`` to ``<root>/<name>`` as a bundled model; returns the new folder.

    Args:
        task: "asr", "tts", "g2p" or "vocoder" (what ``speech models`` shows).
        numbers: headline measured numbers, label -> text (``{"test WER": "0.33%"}``).
        metrics: the same measurements as plain numbers (``{"wer": 0.0033}``), what tests compare against.
        card: the text of ``card.md`` (data, command, time, machine, numbers, licence), or a function
            of the assembled folder (everything but the card in it) returning that text.
        half: store the weight matrices as float16 (:func:`half_state`).
        decoding: a recognizer's recommended decoding, e.g. ``{"decoding": "beam", "beam_size": 16,
            "lm": "lm.arpa", "lm_weight": 0.8}``; file names in it refer to files of the package.
        extra_files: package file name -> source path (e.g. ``{"lm.arpa": "exp/an4/lm/train_nodev_3gram.arpa"}``).
        root: the folder of bundled models (default :func:`speech.pretrained.pretrained_dir`).
    """
    src = Path(src)
    if not (src / "meta.json").is_file():
        raise PackageError(f"{src}: not a model package (no meta.json)")
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{name!r}: a bundled model's name is a plain folder name")
    root = Path(root) if root is not None else pretrained_dir()
    dest = root / name
    tmp = root / f".{name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for f in sorted(src.iterdir()):
            if f.is_file() and f.name not in _MODEL_FILES:
                shutil.copy2(f, tmp / f.name)
        for fname, path in (extra_files or {}).items():
            if "/" in fname or fname.startswith("."):
                raise ValueError(f"{fname!r}: an extra file's name is a plain file name")
            shutil.copy2(path, tmp / fname)
        state = read_weights(weights_path(src))
        write_weights(tmp / WEIGHTS_FILE, half_state(state) if half else state)
        meta = json.loads((src / "meta.json").read_text(encoding="utf-8"))
        meta["format_version"] = max(int(meta.get("format_version", 1)), 2)
        meta["bundled"] = {"name": name, "task": task, "domain": domain, "summary": summary,
                           "numbers": dict(numbers), "metrics": dict(metrics or {}),
                           "precision": "float16" if half else "float32"}
        if decoding is not None:
            for key in ("lm", "lexicon"):
                if decoding.get(key) and not (tmp / str(decoding[key])).is_file():
                    raise ValueError(f"decoding.{key}: {decoding[key]!r} is not a file of the package")
            meta["decoding"] = dict(decoding)
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
        text = card(tmp) if callable(card) else card
        atomic_write_text(tmp / "card.md", text.rstrip() + "\n")
        old = root / f".{name}.old-{os.getpid()}"
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest
