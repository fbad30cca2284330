"""Helpers shared by the package tests: a pickle payload, the one-line check, the version-1 layout."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file


class Evil:
    """Unpickling this would run a command (it touches ``path``)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def one_line(err: BaseException) -> str:
    """The error's message, asserted to be one non-empty line with no traceback or torch advice."""
    msg = str(err)
    assert "\n" not in msg and msg.strip(), repr(msg)
    assert "weights_only" not in msg and "Traceback" not in msg, msg
    return msg


def clone(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def legacy(pkg: Path) -> Path:
    """Turn a package into the layout of format version 1, written the way the toolkit wrote it:
    ``torch.save`` of the state dict (tensors detached, on the CPU) to ``model.pt``, no
    ``model.safetensors``; meta.json says format_version 1."""
    state = load_file(pkg / "model.safetensors")
    (pkg / "model.safetensors").unlink()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, pkg / "model.pt")
    meta = json.loads((pkg / "meta.json").read_text())
    (pkg / "meta.json").write_text(json.dumps({**meta, "format_version": 1}, indent=2) + "\n")
    return pkg
