"""LJSpeech importer (LJSpeech-1.1 layout; also any corpus in the same format).

Layout::

    metadata.csv    "<id>|<raw text>|<normalized text>" per line, no quoting
    wavs/<id>.wav

Text = the normalized column (the raw one when that is empty or absent), passed through
:func:`normalize_asr_text`. One split, "all"; speaker "ljspeech". Get LJSpeech from
https://keithito.com/LJ-Speech-Dataset/.
"""

from __future__ import annotations

from pathlib import Path

from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log
from speech.text.normalize import normalize_asr_text

__all__ = ["prepare_ljspeech"]


def prepare_ljspeech(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``all.jsonl`` for an LJSpeech-format folder.

    Args:
        src: the folder holding ``metadata.csv`` and ``wavs/``.
        out_dir: where the manifest and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifest is up to date.

    Returns:
        ``{"all": out_dir/all.jsonl}``.

    Raises:
        FileNotFoundError: when ``metadata.csv`` or ``wavs/`` is missing.
    """
    src = Path(src).resolve()
    meta, wavs = src / "metadata.csv", src / "wavs"
    if not meta.is_file() or not wavs.is_dir():
        raise FileNotFoundError(
            f"LJSpeech not found at {src}: expected metadata.csv (id|raw text|normalized text) and "
            f"wavs/<id>.wav; get it from https://keithito.com/LJ-Speech-Dataset/"
        )
    sig = listing_signature([meta, wavs])
    if not force and (done := cached(out_dir, "ljspeech", src, sig)) is not None:
        return done
    utts: list[Utterance] = []
    seen: set[str] = set()
    for lineno, line in enumerate(meta.read_text(encoding="utf-8-sig").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        utt_id = fields[0].strip()
        if len(fields) < 2 or not utt_id:
            log.warning("skipping %s:%d: expected 'id|raw text|normalized text', got %r", meta, lineno, line)
            continue
        if utt_id in seen:
            log.warning("skipping %s:%d: id %r repeats", meta, lineno, utt_id)
            continue
        raw = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        path = wavs / f"{utt_id}.wav"
        duration = audio_duration(path, where=f" ({meta.name}:{lineno})")
        if duration is None:
            continue
        seen.add(utt_id)
        utts.append(Utterance(id=utt_id, audio=str(path), duration=duration,
                              text=normalize_asr_text(raw), speaker="ljspeech"))
    return finish(out_dir, "ljspeech", src, sig, {"all": utts})
