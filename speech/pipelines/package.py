"""Self-contained model packages: a folder with everything needed to run a trained model.

Layout of an ASR package::

    config.yaml      the resolved training config (model, features, loss, decoding, ...)
    tokenizer.json   the vocabulary
    model.pt         weights (a state_dict of tensors only; CMVN statistics are buffers in it)
    meta.json        format version, training summary (steps, dev metrics), toolkit version

Loading never unpickles objects (``torch.load(weights_only=True)``) and only instantiates
``_target_`` classes from this toolkit, so a package from elsewhere cannot run code.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from speech.config import instantiate
from speech.features import FbankConfig
from speech.text.tokenizer import CharTokenizer
from speech.fileio import atomic_write_text

FORMAT = "speech-asr-package"
FORMAT_VERSION = 1


class PackageError(ValueError):
    """A model package that is missing, incomplete or malformed (message names the file)."""


def _check_targets(node, where: str) -> None:
    """Only toolkit classes may be instantiated from a package's config."""
    if isinstance(node, dict):
        t = node.get("_target_")
        if t is not None and not str(t).startswith("speech."):
            raise PackageError(f"{where}: refusing to instantiate {t!r}; packages may only name speech.* classes")
        for v in node.values():
            _check_targets(v, where)
    elif isinstance(node, list):
        for v in node:
            _check_targets(v, where)


def open_package(path: str | Path, kind: str, files: tuple[str, ...], wrong_task: str | None = None
                 ) -> tuple[Path, DictConfig, dict]:
    """Check a package folder and read its ``config.yaml`` (only ``speech.*`` targets allowed) and
    ``meta.json``; every error is a one-line :class:`PackageError` naming the file.

    Args:
        kind: what the caller loads, for messages ("model", "voice", "vocoder").
        files: files the folder must hold (``config.yaml`` first).
        wrong_task: a ``meta.json`` task that is refused with a message saying what the folder is.
    """
    p = Path(path)
    listing = ", ".join(files)
    if not p.exists():
        raise PackageError(f"{p}: {kind} package not found")
    if not p.is_dir():
        raise PackageError(f"{p}: expected a {kind} package folder ({listing})")
    meta = {}
    if (p / "meta.json").is_file():
        try:
            meta = json.loads((p / "meta.json").read_text())
        except json.JSONDecodeError as e:
            raise PackageError(f"{p / 'meta.json'}: not valid JSON ({e})") from None
    if wrong_task is not None and meta.get("task") == wrong_task:
        what = {"asr": "recognition (ASR) model", "tts": "voice (synthesis)"}.get(wrong_task, wrong_task)
        raise PackageError(f"{p}: this is a {what} package, not a {kind} package")
    for name in files:
        if not (p / name).is_file():
            raise PackageError(f"{p / name}: missing; a {kind} package holds {listing}")
    try:
        cfg = OmegaConf.load(p / "config.yaml")
    except Exception as e:  # noqa: BLE001
        raise PackageError(f"{p / 'config.yaml'}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(cfg, DictConfig):
        raise PackageError(f"{p / 'config.yaml'}: expected a mapping of config sections")
    _check_targets(OmegaConf.to_container(cfg), str(p / "config.yaml"))
    return p, cfg, meta


def write_weights_and_meta(out: Path, state: dict, fmt: str, task: str, meta: dict | None) -> Path:
    """Write ``model.pt`` (tensors only, on the CPU) and ``meta.json`` (format, task, toolkit version,
    ``meta``) into a package folder, each atomically; returns the folder."""
    import speech
    from speech.train.checkpoint import atomic_save

    atomic_save({k: v.detach().cpu() for k, v in state.items()}, out / "model.pt")
    info = {"format": fmt, "format_version": FORMAT_VERSION, "task": task,
            "toolkit_version": getattr(speech, "__version__", "?"), **(meta or {})}
    atomic_write_text(out / "meta.json", json.dumps(info, indent=2) + "\n")
    return out


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load a package's ``model.pt`` (tensors only, ``weights_only=True``) into ``model``; a file that
    does not fit is a one-line :class:`PackageError` naming it."""
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # noqa: BLE001
        raise PackageError(f"{path}: cannot load weights ({str(e).splitlines()[0]})") from None
    return model


def save_asr_package(out_dir: str | Path, cfg: DictConfig, tokenizer: CharTokenizer, model_state: dict,
                     meta: dict | None = None) -> Path:
    """Write a package folder (each file atomically) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    tokenizer.save(out / "tokenizer.json")
    return write_weights_and_meta(out, model_state, FORMAT, "asr", meta)


@dataclass
class AsrPackage:
    """A loaded ASR package: model in eval mode plus what is needed to feed it."""

    path: Path
    model: torch.nn.Module
    tokenizer: CharTokenizer
    fbank: FbankConfig
    config: DictConfig
    meta: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return self.fbank.sample_rate


def load_asr_package(path: str | Path, device: str | torch.device = "cpu") -> AsrPackage:
    """Load a package folder written by :func:`save_asr_package`."""
    p, cfg, meta = open_package(path, "model", ("config.yaml", "tokenizer.json", "model.pt"))
    if "model" not in cfg or "asr" not in cfg.model or "features" not in cfg:
        raise PackageError(f"{p / 'config.yaml'}: expected sections model.asr and features")
    tokenizer = CharTokenizer.load(p / "tokenizer.json")
    fbank = instantiate(cfg.features.fbank)
    model = instantiate(cfg.model.asr, input_dim=fbank.n_mels, vocab_size=len(tokenizer), specaugment=None)
    load_weights(model, p / "model.pt")
    model.to(device).eval()
    return AsrPackage(p, model, tokenizer, fbank, cfg, meta)
