"""The TTS text front end in one call: raw text -> normalized words -> phonemes -> token ids.

:func:`text_to_ids` chains :func:`speech.text.tts_normalize.normalize_for_tts`, a
:class:`speech.text.g2p.G2P` (CMUdict, then the neural or rule fallback) and a
:class:`speech.text.phonemes.PhonemeTokenizer`, and reports what each stage did
(:class:`TextToIdsInfo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speech.text.g2p import G2P, default_g2p
from speech.text.phonemes import PhonemeTokenizer
from speech.text.tts_normalize import normalize_for_tts


@dataclass
class TextToIdsInfo:
    """What :func:`text_to_ids` did, for printing.

    Attributes:
        normalized: the normalized text.
        tokens: the G2P tokens (phonemes, ``<wb>``, pauses), without ``<eos>``.
        unknown: ``(position, character)`` of input characters that could not be read.
        guessed: ``(word, source)`` of words not in the dictionary ("neural" or "rules").
    """

    normalized: str
    tokens: list[str]
    unknown: list[tuple[int, str]] = field(default_factory=list)
    guessed: list[tuple[str, str]] = field(default_factory=list)


def text_to_ids(text: str, g2p: G2P | None = None, tokenizer: PhonemeTokenizer | None = None,
                add_eos: bool = True) -> tuple[list[int], TextToIdsInfo]:
    """Raw text -> phoneme ids: :func:`normalize_for_tts`, then :class:`G2P`, then the tokenizer.

    Args:
        text: raw text.
        g2p: a :class:`speech.text.g2p.G2P` (default: a shared one with the default fallback).
        tokenizer: default ``PhonemeTokenizer()`` (with stress).
        add_eos: append ``<eos>``.

    Returns:
        ``(ids, info)``: the token ids (``<eos>`` last when ``add_eos``) and :class:`TextToIdsInfo`.
    """
    norm = normalize_for_tts(text)
    result = (g2p or default_g2p()).convert(norm.text)
    tokenizer = tokenizer or PhonemeTokenizer()
    ids = tokenizer.encode(result.tokens, add_eos=add_eos)
    return ids, TextToIdsInfo(norm.text, result.tokens, norm.unknown, result.guessed)
