"""Tokenizers: the shared base (:class:`Tokenizer`) and the character tokenizer for CTC acoustic models.

:class:`Tokenizer` holds what every tokenizer of the toolkit does the same way: the vocabulary
(index -> symbol, id 0 reserved: the CTC blank here, the padding in
:class:`speech.text.phonemes.PhonemeTokenizer`), decoding ids with a range check, and the JSON file
(``{"type": ..., "vocab": [...], ...}``) written through :func:`speech.fileio.atomic_write_text`
and read back with one-line :class:`TokenizerError` messages naming the file.

:class:`CharTokenizer`:

Id 0 is always the CTC blank ``<blank>``; the word separator is the symbol ``|`` in the vocabulary
while texts use a plain space. Texts are expected to be normalized already (see
:func:`speech.text.normalize.normalize_asr_text`, which the corpus importers apply), so the
tokenizer itself never changes the characters it is given::

    tok = CharTokenizer.build(u.text for u in read_manifest("train.jsonl"))
    ids = tok.encode("hello world")          # [.., 1 (|), ..]
    tok.decode(ids) == "hello world"
    tok.save("tokenizer.json"); CharTokenizer.load("tokenizer.json")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from speech.fileio import atomic_write_text

__all__ = ["CharTokenizer", "Tokenizer", "TokenizerError"]


class TokenizerError(ValueError):
    """Text or ids that the vocabulary cannot represent, or a malformed tokenizer file.

    The message is one line naming the offending characters / ids / file and, when known, the
    utterance id, e.g. ``utterance 'a1': characters not in the vocabulary: 'é', 'ß'``.
    """


class Tokenizer:
    """Base of the toolkit's tokenizers: symbols <-> ids and the JSON file that stores them.

    Subclasses set :attr:`TYPE` (the file's ``"type"``) and :attr:`FILE_HINT` (the shape named in
    the error for a file that is not JSON), call :meth:`_set_vocab` in ``__init__``, and implement
    ``encode`` / ``decode``, :meth:`_to_json` and :meth:`_from_json`. Id 0 is reserved (blank or
    padding): :meth:`_symbols` skips it.

    Attributes:
        vocab: index -> symbol.
    """

    TYPE: ClassVar[str] = ""
    """The ``"type"`` field of the JSON file."""
    FILE_HINT: ClassVar[str] = ""
    """What a file of this type looks like, for the error on a file that is not JSON."""

    vocab: list[str]

    def _set_vocab(self, vocab: Sequence[str]) -> None:
        self.vocab = list(vocab)
        self._ids: dict[str, int] = {sym: i for i, sym in enumerate(self.vocab)}

    def __len__(self) -> int:
        """Vocabulary size including id 0 (= number of model outputs / embedding rows)."""
        return len(self.vocab)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, type(self)) and self.vocab == other.vocab

    def _symbols(self, ids: Iterable[int]) -> list[str]:
        """The symbols of ``ids`` (ints, or items ``int()`` accepts, e.g. a 1-D tensor), id 0 skipped.

        Raises:
            TokenizerError: for an id outside ``0..len(self)-1``.
        """
        out: list[str] = []
        n = len(self.vocab)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"id {i} is out of range; expected 0..{n - 1}")
            if i:
                out.append(self.vocab[i])
        return out

    # -- file ------------------------------------------------------------------------------

    def _to_json(self) -> dict[str, Any]:
        """The JSON object :meth:`save` writes (``"type"`` first)."""
        raise NotImplementedError

    @classmethod
    def _from_json(cls, path: Path, data: dict[str, Any]) -> Tokenizer:
        """A tokenizer from a file's JSON object whose ``"type"`` is :attr:`TYPE`; errors name ``path``."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> Path:
        """Write the tokenizer as UTF-8 JSON to ``path`` (atomically, parent folders created); returns the path."""
        text = json.dumps(self._to_json(), ensure_ascii=False, indent=1) + "\n"
        return atomic_write_text(path, text)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            TokenizerError: one line naming the file when it is not UTF-8 JSON, not of this
                tokenizer's type, or its content does not make this tokenizer.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TokenizerError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); "
                                 f"expected {cls.FILE_HINT}") from None
        except UnicodeDecodeError:
            raise TokenizerError(f"{path}: not UTF-8 text; expected {cls.FILE_HINT}") from None
        if not isinstance(data, dict) or data.get("type") != cls.TYPE:
            found = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise TokenizerError(f'{path}: tokenizer type is {found!r}; expected "{cls.TYPE}"')
        return cls._from_json(path, data)



class CharTokenizer(Tokenizer):
    """Maps normalized text to character ids and back.

    Attributes:
        vocab: index -> symbol; ``vocab[0] == BLANK``, then the symbols given to the constructor
            in their order (so their ids are 1..len(symbols)).
        blank_id: id of the CTC blank, always 0.
    """

    TYPE = "char"
    FILE_HINT = '{"type": "char", "vocab": [...]}'
    BLANK = "<blank>"
    """CTC blank symbol, always id 0."""
    SPACE = "|"
    """Vocabulary symbol standing for the space between words."""

    blank_id = 0

    def __init__(self, symbols: Sequence[str]):
        """Create a tokenizer from its symbols.

        Args:
            symbols: the vocabulary without the blank, in id order (ids 1..len(symbols)). Each is
                one character, or :attr:`SPACE` for the word separator. Must not contain the blank
                or duplicates, nor the plain space (use :attr:`SPACE`).

        Raises:
            TokenizerError: on a duplicate, the blank, a space or a multi-character symbol.
        """
        symbols = list(symbols)
        seen: set[str] = set()
        for sym in symbols:
            if not isinstance(sym, str) or len(sym) != 1:
                raise TokenizerError(
                    f"tokenizer symbol {sym!r} is not a single character; expected one character "
                    f"per symbol (the blank {self.BLANK!r} is added as id 0 automatically)"
                )
            if sym.isspace():
                raise TokenizerError(
                    f"tokenizer symbol {sym!r} is whitespace; expected {self.SPACE!r} for the word separator"
                )
            if sym in seen:
                raise TokenizerError(f"tokenizer symbol {sym!r} appears twice; expected unique symbols")
            seen.add(sym)
        self._set_vocab([self.BLANK] + symbols)
        self._space_id: int | None = self._ids.get(self.SPACE)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def build(cls, texts: Iterable[str]) -> CharTokenizer:
        """Build a vocabulary from normalized texts.

        The symbols are the sorted set of characters of the texts, with the space character
        turned into :attr:`SPACE`. :attr:`SPACE` is always included (even when no text has two
        words, e.g. isolated digits), so that a model can always emit a word boundary.

        Args:
            texts: normalized transcripts (e.g. the ``text`` of every training utterance).

        Returns:
            A new tokenizer. Its ids depend only on the set of characters, not the text order.
        """
        chars: set[str] = {" "}
        for text in texts:
            chars.update(text)
        chars = {c for c in chars if not c.isspace()} | {" "}
        if cls.SPACE in chars:
            raise TokenizerError(
                f"texts contain the word-separator symbol {cls.SPACE!r}; expected normalized text "
                f"where words are separated by spaces"
            )
        return cls([cls.SPACE if c == " " else c for c in sorted(chars)])

    # -- properties -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self)} symbols: {''.join(self.vocab[1:])!r})"

    @property
    def space_id(self) -> int | None:
        """Id of :attr:`SPACE`, or None when the vocabulary has no word separator."""
        return self._space_id

    # -- encode / decode --------------------------------------------------------------------

    def encode(self, text: str, utt_id: str | None = None) -> list[int]:
        """Map a normalized text to ids.

        Runs of whitespace count as one word separator and leading / trailing whitespace is
        ignored, so ``decode(encode(t)) == " ".join(t.split())``.

        Args:
            text: normalized text.
            utt_id: utterance id, only used in the error message.

        Returns:
            One id per character (spaces -> id of :attr:`SPACE`); no blanks.

        Raises:
            TokenizerError: naming every character of ``text`` missing from the vocabulary (in
                order of first appearance) and ``utt_id`` when given.
        """
        words = text.split()
        ids: list[int] = []
        missing: dict[str, None] = {}
        for w, word in enumerate(words):
            if w:
                if self._space_id is None:
                    missing[" "] = None
                else:
                    ids.append(self._space_id)
            for ch in word:
                i = self._ids.get(ch)
                if i is None or i == self.blank_id or i == self._space_id:
                    missing[ch] = None
                else:
                    ids.append(i)
        if missing:
            where = f"utterance {utt_id!r}: " if utt_id is not None else ""
            listed = ", ".join(repr(c) for c in missing)
            raise TokenizerError(f"{where}characters not in the vocabulary: {listed}")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Map ids back to text.

        Blanks are skipped and :attr:`SPACE` becomes a space; repeated ids are NOT collapsed
        (that is the CTC decoder's job). Spaces are stripped at the ends and collapsed.

        Args:
            ids: ints, or anything whose items convert with ``int()`` (e.g. a 1-D tensor).

        Raises:
            TokenizerError: for an id outside ``0..len(self)-1``.
        """
        text = "".join(" " if sym == self.SPACE else sym for sym in self._symbols(ids))
        return " ".join(text.split())

    # -- file ------------------------------------------------------------------------------

    def _to_json(self) -> dict[str, Any]:
        """``{"type": "char", "vocab": [...]}``: the vocabulary with the blank first."""
        return {"type": self.TYPE, "vocab": self.vocab}

    @classmethod
    def _from_json(cls, path: Path, data: dict[str, Any]) -> CharTokenizer:
        vocab = data.get("vocab")
        if not isinstance(vocab, list) or not all(isinstance(s, str) for s in vocab):
            raise TokenizerError(f"{path}: 'vocab' is missing or not a list of strings; expected a list of symbols")
        if not vocab or vocab[0] != cls.BLANK:
            first = vocab[0] if vocab else None
            raise TokenizerError(f"{path}: vocab[0] is {first!r}; expected the blank {cls.BLANK!r} first")
        try:
            return cls(vocab[1:])
        except TokenizerError as e:
            raise TokenizerError(f"{path}: {e}") from None
