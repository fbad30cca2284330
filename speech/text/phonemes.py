"""Phoneme inventory and phoneme tokenizer for the TTS model.

The inventory is fixed (it does not depend on a corpus), so every model trained with the same
``stress`` setting shares the ids::

    id 0            <pad>
    ids 1..69       the 39 ARPAbet phonemes of CMUdict; the 15 vowels with their stress digit
                    (AA0 AA1 AA2 AE0 ... UW2), the 24 consonants without one   (stress=True)
    ids 1..39       the 39 phonemes without stress digits                       (stress=False)
    then            <wb> (word boundary), <pau_short> (","), <pau_mid> (";" ":" "-"),
                    <pau_long> ("." "?" "!"), <eos> (end of sentence)

With ``stress=False`` the encoder strips stress digits from its input, so both settings accept
the output of :class:`speech.text.g2p.G2P`. Stress is kept by default: it is cheap (30 extra ids)
and tells the acoustic model which syllable to lengthen.

    tok = PhonemeTokenizer()
    ids, info = text_to_ids("Dr. Smith paid $5.20.")   # speech.text.frontend: normalize -> G2P -> ids
    tok.decode(ids)                                     # ['D', 'AA1', 'K', 'T', 'ER0', '<wb>', ...]
    tok.save("phonemes.json"); PhonemeTokenizer.load("phonemes.json")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from speech.text.tokenizer import Tokenizer, TokenizerError

__all__ = [
    "CONSONANTS", "EOS", "PAD", "PAUSES", "PAU_LONG", "PAU_MID", "PAU_SHORT", "PHONEMES", "PHONEMES_STRESSED",
    "PUNCT_TO_PAUSE", "PhonemeTokenizer", "SPECIALS", "VOWELS", "WB",
]

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T",
              "TH", "V", "W", "Y", "Z", "ZH")
PHONEMES = tuple(sorted(VOWELS + CONSONANTS))
"""The 39 ARPAbet phonemes without stress."""
PHONEMES_STRESSED = tuple(sorted([v + d for v in VOWELS for d in "012"] + list(CONSONANTS)))
"""The 69 symbols CMUdict uses: vowels with stress 0/1/2, consonants."""

PAD = "<pad>"
WB = "<wb>"
PAU_SHORT = "<pau_short>"
PAU_MID = "<pau_mid>"
PAU_LONG = "<pau_long>"
EOS = "<eos>"
PAUSES = (PAU_SHORT, PAU_MID, PAU_LONG)
PUNCT_TO_PAUSE = {",": PAU_SHORT, ";": PAU_MID, ":": PAU_MID, "-": PAU_MID, ".": PAU_LONG, "?": PAU_LONG,
                  "!": PAU_LONG}
SPECIALS = (WB, PAU_SHORT, PAU_MID, PAU_LONG, EOS)


class PhonemeTokenizer(Tokenizer):
    """Maps phoneme / boundary / pause tokens to ids and back (file: ``phonemes.json``).

    Attributes:
        stress: whether vowels carry their stress digit (69 phonemes) or not (39).
        vocab: index -> symbol; ``vocab[0] == PAD``.
    """

    TYPE = "phoneme"
    FILE_HINT = '{"type": "phoneme", ...}'
    pad_id = 0

    def __init__(self, stress: bool = True):
        self.stress = bool(stress)
        phones = PHONEMES_STRESSED if self.stress else PHONEMES
        self._set_vocab([PAD, *phones, *SPECIALS])

    def __repr__(self) -> str:
        return f"PhonemeTokenizer(stress={self.stress}, {len(self)} symbols)"

    @property
    def eos_id(self) -> int:
        return self._ids[EOS]

    @property
    def wb_id(self) -> int:
        return self._ids[WB]

    def id_of(self, symbol: str) -> int:
        """Id of one symbol (stress digits are stripped first when ``stress=False``)."""
        if not self.stress and symbol[-1:].isdigit() and symbol[:-1] in VOWELS:
            symbol = symbol[:-1]
        i = self._ids.get(symbol)
        if i is None or i == self.pad_id:
            raise TokenizerError(f"phoneme symbol {symbol!r} is not in the inventory "
                                 f"({'with' if self.stress else 'without'} stress digits)")
        return i

    def encode(self, tokens: Iterable[str] | str, add_eos: bool = False) -> list[int]:
        """Map tokens (a list, or one space-separated string) to ids.

        Raises:
            TokenizerError (a ValueError): naming the first symbol that is not in the inventory.
        """
        if isinstance(tokens, str):
            tokens = tokens.split()
        ids = [self.id_of(t) for t in tokens]
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Map ids back to symbols; padding ids are skipped.

        Raises:
            TokenizerError: for an id outside ``0..len(self)-1``.
        """
        return self._symbols(ids)

    def _to_json(self) -> dict[str, Any]:
        """``{"type": "phoneme", "stress": ..., "vocab": [...]}``."""
        return {"type": self.TYPE, "stress": self.stress, "vocab": self.vocab}

    @classmethod
    def _from_json(cls, path: Path, data: dict[str, Any]) -> PhonemeTokenizer:
        """The stored vocab must match this inventory; else one line: an incompatible model."""
        tok = cls(stress=bool(data.get("stress", True)))
        if data.get("vocab") != tok.vocab:
            raise TokenizerError(f"{path}: vocab differs from the built-in phoneme inventory "
                                 f"(stress={tok.stress}); the file was written by an incompatible version")
        return tok
