"""Models by name: the bundled models (:mod:`speech.pretrained`) listed, described and resolved.

Every place that takes a model (``--model``, ``--vocoder``, the pipelines) takes either a package
folder or the name of a bundled model; :func:`resolve_model` turns the second into the first. A
folder that exists wins over a name, so a user's ``./digits`` package is never shadowed.

What a bundled model is comes from the ``bundled`` section of its ``meta.json``, written by
:func:`speech.packages.bundle.bundle_package` when a recipe exports it::

    "bundled": {"name": "digits", "task": "asr", "domain": "English digits 0-9, 8 kHz telephone-like",
                "summary": "...", "numbers": {"test WER": "0.33%"},
                "decoding": {...}}

``task`` is ``asr`` (a recognizer), ``tts`` (a voice) or ``g2p`` (the letter-to-sound fallback
that the text front end loads by itself).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from speech.pretrained import pretrained_dir, pretrained_path

DEFAULT_VOICE = "kathleen"
"""The voice ``speech synthesize`` speaks with when no ``--model`` is given."""

TASK_WORDS = {"asr": "recognizer", "tts": "voice", "g2p": "letter-to-sound (G2P)", "vocoder": "vocoder"}
"""How ``speech models`` names each task."""
PACKAGE_WORDS = {"asr": "recognition (ASR) model", "tts": "voice (synthesis)", "vocoder": "vocoder"}
"""How a message names a package by its meta.json task ("this is a vocoder package, not a voice package")."""
ONNX_EXPORT_FORMAT = "speech-onnx"
"""meta.json ``format`` of an ONNX export (``speech export``; read by :mod:`speech.runtime.format`)."""


def onnx_export_message(path) -> str:
    """What a torch loader says when it is given an ONNX export folder."""
    return (f"{path}: is an ONNX export (for --runtime onnx), not a torch model package; pass it with "
            "--runtime onnx, or give the package it was exported from")


_KIND_TASK = {"model": "asr", "voice": "tts", "vocoder": "vocoder", "asr": "asr", "tts": "tts", "g2p": "g2p"}


@dataclass
class ModelInfo:
    """One bundled model, as ``speech models`` shows it."""

    name: str
    task: str
    path: Path
    domain: str = ""
    summary: str = ""
    numbers: dict = field(default_factory=dict)
    """Headline measured numbers, label -> text (``{"test WER": "0.33%"}``), from the model's card."""
    size_bytes: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6

    @property
    def default(self) -> bool:
        """The voice ``speech synthesize`` speaks with when given no ``--model``."""
        return self.task == "tts" and self.name == DEFAULT_VOICE

    @property
    def measured(self) -> str:
        """The headline numbers as one line: ``FSDD test WER 0.33%``, ``..., MCD 2.36 dB``."""
        return ", ".join(f"{k} {v}" for k, v in self.numbers.items())


def _folder_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def model_info(path: Path) -> ModelInfo | None:
    """The :class:`ModelInfo` of a bundled model folder, or None when its meta.json has no
    ``bundled`` section (or cannot be read: a damaged install is reported by loading, not listing)."""
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    b = meta.get("bundled") if isinstance(meta, dict) else None
    if not isinstance(b, dict) or not isinstance(b.get("task"), str):
        return None
    return ModelInfo(name=path.name, task=b["task"], path=path, domain=str(b.get("domain", "")),
                     summary=str(b.get("summary", "")), numbers=dict(b.get("numbers") or {}),
                     size_bytes=_folder_size(path), meta=meta)


def list_models(task: str | None = None) -> list[ModelInfo]:
    """The bundled models (of one ``task`` when given), sorted by task then name."""
    root = pretrained_dir()
    if not root.is_dir():
        return []
    found = [model_info(p) for p in sorted(root.iterdir()) if (p / "meta.json").is_file()]
    return sorted((m for m in found if m is not None and (task is None or m.task == task)),
                  key=lambda m: (m.task, m.name))


def model_names(task: str | None = None) -> list[str]:
    return [m.name for m in list_models(task)]


def known_models_text(task: str | None = None) -> str:
    """``an4 (recognizer: ...), digits (...)`` for messages; says so when none is installed."""
    models = list_models(task)
    if not models:
        return "none are installed"
    return "; ".join(f"{m.name} ({TASK_WORDS.get(m.task, m.task)}: {m.domain})" if m.domain else m.name
                     for m in models)


def is_model_name(spec: str | Path) -> bool:
    """True when ``spec`` looks like a bare name rather than a path (no separator, no suffix such as .pt)."""
    s = str(spec)
    return bool(s) and not any(c in s for c in "/\\") and not s.startswith(".")


def resolve_model(spec: str | Path, kind: str = "model") -> Path:
    """A ``--model`` value -> a package folder.

    An existing path is returned as is (whatever it holds; the loader checks it). Otherwise a bundled
    model's name gives its folder. Otherwise the path is returned unchanged when it looks like a
    path (the loader says "not found" naming it), and a bare word that is no bundled name raises.

    Args:
        kind: what the caller loads ("model"/"asr", "voice"/"tts", "vocoder", "g2p"), for the message.

    Raises:
        ValueError: ``'digitz' is not a model package folder or a bundled model name; bundled: ...``
    """
    p = Path(spec)
    if p.exists():
        return p
    if is_model_name(spec):
        found = pretrained_path(str(spec))
        if found is not None:
            return found
        task = _KIND_TASK.get(kind)
        others = [m for m in list_models() if m.task != task] if task else []
        theirs = model_names(task)
        hint = (f"bundled {TASK_WORDS.get(task, task)}s: {', '.join(theirs)}" if theirs and task
                else f"bundled models: {', '.join(model_names()) or 'none installed'}")
        if others and task:
            hint += f" (other bundled models: {', '.join(m.name for m in others)})"
        raise ValueError(f"{spec}: no such model package folder and no bundled model of that name; {hint}; "
                         "'speech models' lists them")
    return p


def default_voice() -> Path:
    """The folder of the bundled default voice (:data:`DEFAULT_VOICE`).

    Raises:
        ValueError: one line: it is not installed, naming the voices that are.
    """
    found = next((m.path for m in list_models("tts") if m.name == DEFAULT_VOICE), None)
    if found is None:
        raise ValueError(f"no --model given and the default voice '{DEFAULT_VOICE}' is not installed (bundled "
                         f"voices: {known_models_text('tts')}); give --model NAME or a voice package folder")
    return found
