"""Synthesis corpora in their own layouts -> a list of :class:`TtsUtterance`, and the held-out split.

Synthesis needs the text as written (punctuation becomes pauses, case marks acronyms), so these
readers keep the transcript verbatim instead of the ASR-normalized manifest text.

Layouts (``layout="auto"`` picks by what is in ``root``):

- ``folder``: every audio file under ``root`` (recursively; the extensions :func:`speech.audio.load`
  reads, :data:`speech.audio.AUDIO_EXTENSIONS`) with a same-name ``.txt`` beside it, e.g.
  Kathleen's ``audio/<id>.flac`` + ``audio/<id>.txt``.
- ``ljspeech``: ``metadata.csv`` (``id|text|normalized text``) + ``wavs/<id>.wav``; the third
  column (numbers already spelled out by the corpus) is used when present. Parsed by
  :func:`speech.data.prepare.ljspeech.read_ljspeech_metadata`, as for the ASR importer; a malformed
  or repeated line is an error naming ``metadata.csv:<line>``.

Held-out split (:func:`split_heldout`): by prompt, not by take. Utterances are grouped by their
text reduced to lower-case letters and digits, so every take of a prompt lands on the same side,
and a group is held out when the SHA-1 of its key falls below ``fraction``: fixed across runs and
machines, and independent of the corpus' file order.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from speech.audio import AUDIO_EXTENSIONS
from speech.data.prepare.ljspeech import read_ljspeech_metadata

__all__ = ["TtsUtterance", "prompt_key", "read_tts_corpus", "split_heldout"]


@dataclass
class TtsUtterance:
    """One recording with its verbatim transcript."""

    id: str
    audio: str
    text: str
    speaker: str = ""
    group: str = ""
    """Prompt key: takes of the same prompt share it (see :func:`prompt_key`)."""


def prompt_key(text: str) -> str:
    """Lower-case letters and digits of ``text``, single-spaced: takes of one prompt share it."""
    return " ".join(re.sub(r"[^a-z0-9']+", " ", text.lower()).split())


def _read_text(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: transcript is not UTF-8 text") from None
    return " ".join(text.split())


def _read_folder(root: Path) -> list[TtsUtterance]:
    utts: list[TtsUtterance] = []
    seen: dict[str, Path] = {}
    for audio in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()):
        if any(part.startswith(".") for part in audio.relative_to(root).parts):
            continue
        txt = audio.with_suffix(".txt")
        if not txt.is_file():
            continue
        uid = audio.stem
        if uid in seen:
            raise ValueError(f"{audio}: id {uid!r} also used by {seen[uid]}; ids (file stems) must be unique")
        seen[uid] = audio
        text = _read_text(txt)
        if text:
            utts.append(TtsUtterance(uid, str(audio), text, group=prompt_key(text)))
    return utts


def _read_ljspeech(root: Path) -> list[TtsUtterance]:
    meta = root / "metadata.csv"
    rows, problems = read_ljspeech_metadata(meta)
    if problems:
        raise ValueError(problems[0])
    utts = []
    for row in rows:
        text = row.text.strip()
        wav = root / "wavs" / f"{row.id}.wav"
        if not wav.is_file():
            raise FileNotFoundError(f"{meta}:{row.line}: audio {wav} not found")
        if text:
            utts.append(TtsUtterance(row.id, str(wav), text, group=prompt_key(text)))
    return utts


def read_tts_corpus(root: str | Path, layout: str = "auto") -> list[TtsUtterance]:
    """Read a synthesis corpus (see the module docstring for the layouts).

    Raises:
        FileNotFoundError: ``root`` is missing, or a ``metadata.csv`` line names missing audio.
        ValueError: unknown layout, duplicate ids, a malformed line, or no utterance found.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: corpus folder not found")
    if layout == "auto":
        layout = "ljspeech" if (root / "metadata.csv").is_file() else "folder"
    if layout == "folder":
        utts = _read_folder(root)
    elif layout == "ljspeech":
        utts = _read_ljspeech(root)
    else:
        raise ValueError(f"layout={layout!r}: expected auto, folder or ljspeech")
    if not utts:
        raise ValueError(f"{root}: no recordings with transcripts found (layout {layout}: "
                         + ("audio files with same-name .txt" if layout == "folder" else "metadata.csv + wavs/")
                         + ")")
    return utts


def split_heldout(utts: list[TtsUtterance], fraction: float = 0.05) -> tuple[list[TtsUtterance], list[TtsUtterance]]:
    """``(train, test)``: about ``fraction`` of the prompts held out, all takes of a prompt together."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"held-out fraction must be in [0, 1), got {fraction}")
    train, test = [], []
    for u in utts:
        key = u.group or prompt_key(u.text)
        h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
        (test if h < fraction else train).append(u)
    return train, test
