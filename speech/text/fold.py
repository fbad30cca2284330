"""Unicode folding: what each normalizer turns typographic and accented characters into.

:func:`fold_for_asr` (before :func:`speech.text.normalize.normalize_asr_text`) keeps letters of
other scripts; :func:`fold_for_tts` (before :func:`speech.text.tts_normalize.normalize_for_tts`)
keeps only what speech synthesis can read and reports the rest. Both map typographic quotes and
dashes to ASCII, fold Latin accents ("café" -> "cafe") and spell the few Latin letters without a
decomposition ("ß" -> "ss", "æ" -> "ae"); their tables differ where the two readers differ (an en
dash is a hyphen for ASR, a pause for TTS).
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_for_asr", "fold_for_tts", "is_latin"]


_ASR_CHAR_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'", "`": "'",
    "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": " - ", "\u2015": " - ",
    "\u2212": "-", "\ufe63": "-", "\uff0d": "-",
    "\u00a0": " ",
}
# Latin letters that NFKD does not decompose into a base letter + marks.
_ASR_LATIN_SPECIAL = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
    "ı": "i", "ħ": "h", "Ħ": "H", "ŀ": "l", "Ŀ": "L", "ŧ": "t", "Ŧ": "T", "ĸ": "k",
}


def is_latin(ch: str) -> bool:
    """True for a letter (or mark) of the Latin script, by its Unicode name."""
    return unicodedata.name(ch, "").startswith("LATIN")


def fold_for_asr(text: str) -> str:
    """NFKC, typographic quotes / dashes -> ASCII, any script's decimal digits -> ASCII digits, Latin
    letters without their accents ("café" -> "cafe", "ß" -> "ss"); letters of other scripts kept."""
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for ch in text:
        if ch in _ASR_CHAR_MAP:
            out.append(_ASR_CHAR_MAP[ch])
        elif ch.isascii():
            out.append(ch)
        elif ch in _ASR_LATIN_SPECIAL:
            out.append(_ASR_LATIN_SPECIAL[ch])
        elif unicodedata.category(ch) == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        elif ch.isalpha() and is_latin(ch):
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append("".join(_ASR_LATIN_SPECIAL.get(c, c) for c in base))
        else:
            out.append(ch)
    return "".join(out)


_TTS_CHAR_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"', "\u2033": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": " - ", "\u2014": " - ", "\u2015": " - ",
    "\u2212": "-", "\u2026": "...", "\u00a0": " ", "\u00d7": " times ", "\u00f7": " divided by ",
    "\u00a7": " section ", "\u00a9": " copyright ", "\u00ae": " registered ", "\u2122": " trademark ",
    "\u00b1": " plus or minus ", "\u2264": " less than or equal to ", "\u2265": " greater than or equal to ",
    "\u00bd": " 1/2 ", "\u00bc": " 1/4 ", "\u00be": " 3/4 ",
}
_TTS_LATIN_SPECIAL = {
    "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i",
}
# ASCII characters with a reading (or silently dropped punctuation); the rest are unknown.
_READABLE_ASCII = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " \t\n\r\f\v.,;:?!-'\"()[]{}$%&+@=#*/<>~_"
)
_EXTRA_SYMBOLS = set("£€¥°")


def fold_for_tts(text: str, unknown: list[tuple[int, str]]) -> str:
    """Like :func:`fold_for_asr` for the characters speech synthesis can read (symbols with a
    reading become words, e.g. "×" -> " times "); every other character becomes a space and is
    appended to ``unknown`` as ``(position in text, character)``."""
    out: list[str] = []
    for pos, ch in enumerate(text):
        if ch in _READABLE_ASCII:
            out.append(ch)
            continue
        if ch in _TTS_CHAR_MAP:
            out.append(_TTS_CHAR_MAP[ch])
            continue
        if ch in _EXTRA_SYMBOLS or ch in _TTS_LATIN_SPECIAL:
            out.append(_TTS_LATIN_SPECIAL.get(ch, ch))
            continue
        cat = unicodedata.category(ch)
        if cat.startswith("M"):  # combining accent on a previous letter: folded away
            if out and out[-1].isalpha() and out[-1].isascii():
                continue
            unknown.append((pos, ch))
            out.append(" ")
            continue
        if cat == "Zs" or ch in "\u200b\u200c\u200d\ufeff":
            out.append(" ")
            continue
        if cat == "Nd":
            out.append(str(unicodedata.decimal(ch)))
            continue
        nfkc = unicodedata.normalize("NFKC", ch)
        if nfkc != ch and all(c in _READABLE_ASCII or c in _EXTRA_SYMBOLS for c in nfkc):
            out.append(nfkc)  # full-width forms, ligatures, superscript digits, ...
            continue
        if ch.isalpha() and is_latin(ch):
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            base = "".join(_TTS_LATIN_SPECIAL.get(c, c) for c in base)
            if base and all(c in _READABLE_ASCII for c in base):
                out.append(base)
                continue
        unknown.append((pos, ch))
        out.append(" ")
    return "".join(out)
