"""The TTS text front end in one call: raw text -> normalized words -> phonemes -> token ids.

:func:`text_to_ids` chains :func:`speech.text.tts_normalize.normalize_for_tts`, a
:class:`speech.text.g2p.G2P` (CMUdict, then the neural or rule fallback) and a
:class:`speech.text.phonemes.PhonemeTokenizer`, and reports what each stage did
(:class:`TextToIdsInfo`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from speech.text.g2p import G2P, default_g2p
from speech.text.phonemes import EOS, PAU_LONG, PAU_MID, PAU_SHORT, PAUSES, WB, PhonemeTokenizer
from speech.text.tts_normalize import normalize_for_tts, split_sentences

PHONEME_MARKS = {WB: "|", PAU_SHORT: ",", PAU_MID: ";", PAU_LONG: "."}
"""How :func:`phoneme_string` shows the tokens that are not phonemes."""


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


def phoneme_string(tokens: list[str]) -> str:
    """Tokens as one readable line: ARPAbet phonemes (vowels with their stress digit when the voice
    uses stress) separated by spaces, ``|`` between words, pauses as ``,`` (short), ``;`` (mid) and
    ``.`` (long); the end-of-sentence token is left out. ``HH AH0 L OW1 , W ER1 L D .``"""
    return " ".join(PHONEME_MARKS.get(t, t) for t in tokens if t != EOS)


def frontend_warnings(unknown: list[str], guessed: list[tuple[str, str]], skipped: list[str]) -> list[str]:
    """The one-line warnings of a text's front end: unreadable characters, guessed words, skipped sentences."""
    out = []
    if unknown:
        out.append(f"could not pronounce (skipped): {' '.join(unknown)}")
    if guessed:
        out.append(f"not in the dictionary, guessed: {', '.join(w for w, _ in guessed)}")
    if skipped:
        out.append(f"{len(skipped)} sentence(s) with nothing to pronounce skipped: "
                   + " | ".join(s[:40] for s in skipped[:5]))
    return out


def nothing_to_say(unknown: list[str]) -> str:
    """The message for a text with nothing to pronounce."""
    return ("nothing to synthesize: the text has no pronounceable words"
            + (f" (unreadable characters: {' '.join(unknown[:10])})" if unknown else ""))


@dataclass
class VoiceFrontend:
    """A voice's text side: sentences -> its phoneme ids, with no model (and no torch) involved.

    Used by :class:`speech.pipelines.synthesizer.Synthesizer` and, on its own, by ``speech synthesize
    --phonemes``."""

    tokenizer: PhonemeTokenizer
    g2p: G2P | None = None

    def sentences(self, text: str) -> tuple[list[tuple[str, list[int], list[str]]], list[str],
                                          list[tuple[str, str]], list[str]]:
        """Text -> ``(sentence, ids, tokens)`` per sentence with something to pronounce (no
        ``<eos>``), unknown chars, guessed words, skipped sentences."""
        tok, g2p = self.tokenizer, self.g2p or default_g2p()
        sentences, unknown, guessed, skipped = [], [], [], []
        for sentence in split_sentences(text):
            ids, info = text_to_ids(sentence, g2p=g2p, tokenizer=tok, add_eos=False)
            unknown += [c for _, c in info.unknown if c not in unknown]
            guessed += [g for g in info.guessed if g not in guessed]
            syms = tok.decode(ids)
            if not any(s not in PAUSES and s != WB for s in syms):
                skipped.append(sentence)
            else:
                sentences.append((sentence, ids, syms))
        return sentences, unknown, guessed, skipped

    def phonemes(self, text: str) -> tuple[list[str], list[str]]:
        """What the model would be given for ``text``: one :func:`phoneme_string` line per sentence
        (sentences with nothing to pronounce are left out), and the front end's warnings.

        Raises:
            ValueError: the text has nothing to pronounce.
        """
        sentences, unknown, guessed, skipped = self.sentences(text)
        if not sentences:
            raise ValueError(nothing_to_say(unknown))
        return [phoneme_string(syms) for _, _, syms in sentences], frontend_warnings(unknown, guessed, skipped)
