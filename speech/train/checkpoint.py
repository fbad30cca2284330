"""Atomic checkpoint files and the random-number-generator state needed for exact resume.

Checkpoints hold only tensors and plain Python containers, so they load with
``torch.load(..., weights_only=True)``.
"""
from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from speech.fileio import atomic_writer


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save(obj)`` into ``path`` through :func:`speech.fileio.atomic_writer` (temporary file,
    fsync, rename, folder fsync): a crash at any point leaves either the previous file or the new one,
    never a partial file. Checkpoints stay torch files (they carry optimizer and RNG state) and are
    read back with ``weights_only=True`` (:func:`load_checkpoint`)."""
    with atomic_writer(path) as f:
        torch.save(obj, f)
    return Path(path)


class CheckpointError(RuntimeError, ValueError):
    """A checkpoint file that cannot be read: truncated, corrupt, or holding more than tensors.

    A ValueError too (bad input, reported in one line by the CLI) and a RuntimeError (what callers caught before)."""


def _why_unreadable(e: BaseException) -> str:
    """torch.load's error -> what is wrong with the file, without torch's advice to unpickle it."""
    text = str(e)
    if "Weights only load failed" in text or "weights_only" in text:
        return ("it holds objects other than tensors and plain containers (not written by this toolkit, or "
                "tampered with); refusing to unpickle it")
    if isinstance(e, EOFError) or "central directory" in text or "failed reading" in text or "PytorchStreamReader" in text:
        return "it is truncated or corrupt (an interrupted copy or write?)"
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"it is not a readable checkpoint ({type(e).__name__}{': ' + first if first else ''})"


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`atomic_save` (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: one line naming the file and what is wrong with it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - report which file is broken, in one line
        raise CheckpointError(f"{path}: cannot read checkpoint: {_why_unreadable(e)}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: cannot read checkpoint: it holds a {type(ckpt).__name__}; expected a dict "
                              "written by the toolkit's Trainer")
    return ckpt


def average_checkpoints(paths: list[str | Path]) -> dict:
    """The element-wise mean of the ``model`` weights of these checkpoints (one run's, same shapes).

    Floating-point tensors are averaged in float64 and cast back to their dtype; integer tensors
    (e.g. counters) are taken from the first checkpoint. Raises CheckpointError (one line) when
    the checkpoints do not hold the same tensors.
    """
    if not paths:
        raise ValueError("average_checkpoints: no checkpoints given")
    first = load_checkpoint(paths[0])["model"]
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.items()}
    for p in paths[1:]:
        state = load_checkpoint(p)["model"]
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise CheckpointError(f"{p}: cannot average with {paths[0]}: the checkpoints hold different tensors "
                                  "(not from the same model)")
        for k, v in state.items():
            if v.is_floating_point():
                sums[k] += v.double()
    return {k: (v / len(paths)).to(first[k].dtype) if first[k].is_floating_point() else v for k, v in sums.items()}


def set_aside(path: str | Path) -> Path:
    """Rename a broken file to ``<name>.corrupt-<YYYYmmdd-HHMMSS>`` beside it (never deleted); returns the new path."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while dest.exists():
        dest = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    os.replace(path, dest)
    return dest


def rng_state() -> dict:
    """Snapshot of every RNG the training loop draws from (python, numpy, torch CPU and CUDA)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state = {
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot from :func:`rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
