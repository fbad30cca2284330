"""Character tokenizer for CTC acoustic models.

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

__all__ = ["CharTokenizer", "TokenizerError"]


class TokenizerError(ValueError):
    """Text or ids that the vocabulary cannot represent, or a malformed tokenizer file.

    The message is one line naming the offending characters / ids / file and, when known, the
    utterance id, e.g. ``utterance 'a1': characters not in the vocabulary: 'é', 'ß'``.
    """


class CharTokenizer:
    """Maps normalized text to character ids and back.

    Attributes:
        vocab: index -> symbol; ``vocab[0] == BLANK``, then the symbols given to the constructor
            in their order (so their ids are 1..len(symbols)).
        blank_id: id of the CTC blank, always 0.
    """

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
        self.vocab: list[str] = [self.BLANK] + symbols
        self._ids: dict[str, int] = {sym: i for i, sym in enumerate(self.vocab)}
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

    def __len__(self) -> int:
        """Vocabulary size including the blank (= number of model outputs)."""
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"CharTokenizer({len(self)} symbols: {''.join(self.vocab[1:])!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.vocab == other.vocab

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
        out: list[str] = []
        n = len(self.vocab)
        for i in ids:
            i = int(i)
            if not 0 <= i < n:
                raise TokenizerError(f"id {i} is out of range; expected 0..{n - 1}")
            if i == self.blank_id:
                continue
            out.append(" " if i == self._space_id else self.vocab[i])
        return " ".join("".join(out).split())

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``{"type": "char", "vocab": [...]}`` (UTF-8 JSON) to ``path``; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"type": "char", "vocab": self.vocab}, ensure_ascii=False, indent=1) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save`.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            TokenizerError: one line naming the file when it is not JSON, not of type "char",
                or its vocab is not a list of strings starting with the blank.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise TokenizerError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); "
                                 f'expected {{"type": "char", "vocab": [...]}}') from None
        if not isinstance(data, dict) or data.get("type") != "char":
            found = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise TokenizerError(f'{path}: tokenizer type is {found!r}; expected "char"')
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
