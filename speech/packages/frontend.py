"""A voice package's text side alone: its phoneme inventory and the text front end, read without
building the model (no torch), for ``speech synthesize --phonemes``."""
from __future__ import annotations

import json
from pathlib import Path

from speech.packages.registry import PACKAGE_WORDS, default_voice, resolve_model
from speech.text.frontend import VoiceFrontend
from speech.text.g2p import default_g2p
from speech.text.phonemes import PhonemeTokenizer


def open_voice_frontend(model: str | Path | None = None) -> VoiceFrontend:
    """The :class:`~speech.text.frontend.VoiceFrontend` of a voice (a package folder, a bundled voice's
    name, or None for the default voice): its ``tokenizer.json`` and the shared G2P.

    Raises:
        ValueError / FileNotFoundError: one line naming the folder: not found, not a voice package, or
        its tokenizer unreadable.
    """
    folder = default_voice() if model is None else resolve_model(model, "voice")
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: voice package not found")
    try:
        task = json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        task = None
    if task in ("asr", "vocoder"):
        raise ValueError(f"{folder}: this is a {PACKAGE_WORDS[task]} package, not a voice package")
    if not (folder / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{folder / 'tokenizer.json'}: missing; a voice package holds its phoneme set there")
    return VoiceFrontend(PhonemeTokenizer.load(folder / "tokenizer.json"), default_g2p())
