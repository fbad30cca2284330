"""LJSpeech importer (LJSpeech-1.1 layout; also any corpus in the same format).

Layout::

    metadata.csv    "<id>|<raw text>|<normalized text>" per line, no quoting
    wavs/<id>.wav

Text = the normalized column (the raw one when that is empty or absent), passed through
:func:`normalize_asr_text`. One split, "all"; speaker "ljspeech". Get LJSpeech from
https://keithito.com/LJ-Speech-Dataset/.

:func:`read_ljspeech_metadata` is the one parser of ``metadata.csv``: this ASR importer and the
synthesis corpus reader (:func:`speech.data.prepare.tts_corpus.read_tts_corpus`) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from speech.data.manifest import Utterance
from speech.data.prepare._common import audio_duration, cached, finish, listing_signature, log
from speech.text.normalize import normalize_asr_text

__all__ = ["LjSpeechRow", "prepare_ljspeech", "read_ljspeech_metadata"]

_ROW_SHAPE = "'id|raw text|normalized text'"


@dataclass(frozen=True)
class LjSpeechRow:
    """One line of an LJSpeech ``metadata.csv``."""

    line: int  # 1-based line number in the file
    id: str  # first column, stripped; names wavs/<id>.wav
    raw: str  # second column: the text as read
    normalized: str  # third column ("" when absent): numbers and abbreviations spelled out

    @property
    def text(self) -> str:
        """The normalized column, or the raw one when that is empty or absent (unstripped)."""
        return self.normalized if self.normalized.strip() else self.raw


def read_ljspeech_metadata(meta: str | Path) -> tuple[list[LjSpeechRow], list[str]]:
    """Parse an LJSpeech ``metadata.csv`` (``|``-separated, no quoting, UTF-8 with or without BOM).

    Blank lines are ignored. A line without an id and a text column, or repeating an earlier id, is
    not returned: it becomes a one-line problem ``"<meta>:<line>: ..."`` for the caller to log
    (the ASR importer warns and carries on) or raise (the synthesis reader stops).

    Returns:
        ``(rows, problems)`` in file order.

    Raises:
        ValueError: the file is not UTF-8 text (one line naming it). OSError: it cannot be read.
    """
    meta = Path(meta)
    try:
        content = meta.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{meta}: not UTF-8 text (byte {e.start}); expected {_ROW_SHAPE} lines") from None
    rows: list[LjSpeechRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(content.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("|")
        utt_id = fields[0].strip()
        if len(fields) < 2 or not utt_id:
            problems.append(f"{meta}:{lineno}: expected {_ROW_SHAPE}, got {line!r}")
        elif utt_id in seen:
            problems.append(f"{meta}:{lineno}: id {utt_id!r} repeats (first on line {seen[utt_id]})")
        else:
            seen[utt_id] = lineno
            rows.append(LjSpeechRow(lineno, utt_id, fields[1], fields[2] if len(fields) > 2 else ""))
    return rows, problems


def prepare_ljspeech(src: str | Path, out_dir: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write ``all.jsonl`` for an LJSpeech-format folder.

    Args:
        src: the folder holding ``metadata.csv`` and ``wavs/``.
        out_dir: where the manifest and the ``.prepared.json`` stamp go.
        force: redo the work even if an earlier run's manifest is up to date.

    Returns:
        ``{"all": out_dir/all.jsonl}``. Malformed or repeated lines of ``metadata.csv`` and missing
        or unreadable audio are skipped with one warning line each.

    Raises:
        FileNotFoundError: when ``metadata.csv`` or ``wavs/`` is missing.
        ValueError: ``metadata.csv`` is not UTF-8 text.
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
    rows, problems = read_ljspeech_metadata(meta)
    for problem in problems:
        log.warning("skipping %s", problem)
    utts: list[Utterance] = []
    for row in rows:
        path = wavs / f"{row.id}.wav"
        duration = audio_duration(path, where=f" ({meta.name}:{row.line})")
        if duration is None:
            continue
        utts.append(Utterance(id=row.id, audio=str(path), duration=duration,
                              text=normalize_asr_text(row.text), speaker="ljspeech"))
    return finish(out_dir, "ljspeech", src, sig, {"all": utts})
