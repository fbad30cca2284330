"""Text normalization for ASR transcripts.

:func:`normalize_asr_text` maps written text to the spoken-form, lower-case alphabet that the
character tokenizer and the WER scorer work on::

    >>> normalize_asr_text("Dr. Smith's 2nd visit cost $42.50 (+5% tax) & lasted 1.5 hours!")
    "dr smith's second visit cost forty two dollars and fifty cents plus five percent tax and lasted one point five hours"

What it does, in order:

1. Unicode (:func:`speech.text.fold.fold_for_asr`): NFKC (full-width forms, ligatures,
   superscripts), any script's decimal digits -> ASCII digits, typographic quotes / apostrophes /
   dashes -> ASCII. Latin letters lose their accents (NFKD + strip combining marks: "café" ->
   "cafe"); a few letters without a decomposition are spelled out ("ß" -> "ss", "æ" -> "ae",
   "ø" -> "o", ...). Letters of other scripts (Cyrillic, Greek, CJK, ...) are kept as they are,
   only lower-cased.
2. Numbers and symbols become words (American English, no "and" inside numbers), read by
   :mod:`speech.text.numbers`, the readers the TTS normalizer uses too:

   - cardinals up to 10**36 - 1, with or without thousands commas: "1,234" -> "one thousand two
     hundred thirty four"; longer digit strings and strings with a leading zero ("007") are read
     digit by digit;
   - years: a bare four-digit number from 1100 to 2099 is read as a year ("1963" -> "nineteen
     sixty three", "1900" -> "nineteen hundred", "2005" -> "two thousand five"); "1960s" ->
     "nineteen sixties", "80s" -> "eighties";
   - decimals: "3.5" -> "three point five", ".25" -> "point two five";
   - ordinals: "21st" / "2ND" / "3rd" / "10th" -> "twenty first" / "second" / "third" / "tenth";
   - negatives: "-5" (a minus sign not preceded by a letter or digit) -> "minus five";
   - times: "10:30" -> "ten thirty", "3:05" -> "three oh five", "7:00" -> "seven o'clock";
   - money: "$5" -> "five dollars", "$1" -> "one dollar", "$5.50" -> "five dollars and fifty
     cents", "$0.99" -> "ninety nine cents", "$2 million" -> "two million dollars"; likewise
     "£" (pounds), "€" (euros), "¥" (yen);
   - "%" -> "percent", "&" -> "and", "+" -> "plus", "@" -> "at", "=" -> "equals";
   - "#" -> "number" when a digit follows ("#5" -> "number five"), otherwise "hash"; likewise
     "No." before a digit ("No. 2" -> "number two");
   - "*" standing alone between spaces -> "star" (phone prompts: "press *"); an asterisk touching
     a word (emphasis, footnotes) is dropped like other punctuation.
3. Lower-case; hyphens and all other punctuation become spaces, except apostrophes between two
   letters ("don't", "o'clock"); whitespace is collapsed and stripped.

The result contains only ``a-z``, ``'`` and single spaces (:data:`ASR_ALPHABET`), plus letters of
non-Latin scripts. :func:`unspoken_characters` lists what it drops that was more than punctuation
(letters such as "ŋ", symbols such as "☃"), so callers can report text that lost content.
Abbreviations ("Dr.", "St.") and Roman numerals are NOT expanded: their reading depends on context.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from speech.text.fold import fold_for_asr, is_latin
from speech.text.numbers import (
    CURRENCIES,
    MONEY_PATTERN,
    NUM_PATTERN,
    clock_words,
    digits_to_words,
    money_words,
    number_to_words,
    ordinal_to_words,
    plural_number,
    year_to_words,
)

__all__ = ["ASR_ALPHABET", "normalize_asr_text", "number_to_words", "ordinal_to_words", "unspoken_characters"]

ASR_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz' ")
"""The characters :func:`normalize_asr_text` produces for English (and Latin-script) text; letters
of other scripts pass through it unchanged and are outside this set."""



def _integer_words(digits: str, *, allow_year: bool = True) -> str:
    """Words for a digit string that may contain thousands commas."""
    plain = digits.replace(",", "")
    if len(plain) > 1 and plain.startswith("0"):
        return digits_to_words(plain)
    n = int(plain)
    if allow_year and "," not in digits and len(plain) == 4 and 1100 <= n <= 2099:
        return year_to_words(n)
    return number_to_words(n)


def _decimal_words(int_part: str, frac: str) -> str:
    head = _integer_words(int_part, allow_year=False) + " " if int_part else ""
    return head + "point " + digits_to_words(frac)


# ---------------------------------------------------------------------------------------------
# Numbers and symbols

_NUM = NUM_PATTERN

_RE_MONEY = re.compile(MONEY_PATTERN, re.IGNORECASE)
_RE_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_RE_ORDINAL = re.compile(r"(?<![\w.])(" + _NUM + r")(st|nd|rd|th)\b", re.IGNORECASE)
_RE_PLURAL = re.compile(r"(?<![\w.])'?(\d+)'?s\b")
_RE_NEGATIVE = re.compile(r"(?<![\w.\-])-(?=\.?\d)")
_RE_DECIMAL = re.compile(r"(?<![\d.])(" + _NUM + r")?\.(\d+)")
_RE_INTEGER = re.compile(_NUM)
_RE_HASH_NUMBER = re.compile(r"#\s*(?=\d)|\b[Nn]o\.\s*(?=\d)")
_RE_LONE_STAR = re.compile(r"(?:(?<=\s)|^)\*(?=\s|$)")


def _money(match: re.Match) -> str:
    cardinal = functools.partial(_integer_words, allow_year=False)
    return " " + money_words(match.group(1), match.group(2), match.group(3), match.group(4), cardinal) + " "


def _time(match: re.Match) -> str:
    return " " + clock_words(int(match.group(1)), int(match.group(2))) + " "


def _ordinal(match: re.Match) -> str:
    return " " + ordinal_to_words(int(match.group(1).replace(",", ""))) + " "


def _plural_number(match: re.Match) -> str:
    digits = match.group(1)
    n = int(digits)
    if len(digits) == 2 and n % 10 == 0 and n >= 10:  # "80s" -> "eighties"
        words = number_to_words(n)
    else:
        words = _integer_words(digits)
    return " " + plural_number(words) + " "


def _expand_numbers_and_symbols(text: str) -> str:
    text = _RE_HASH_NUMBER.sub(" number ", text)
    text = _RE_MONEY.sub(_money, text)
    for sym, (_, many, _, _) in CURRENCIES.items():  # a symbol without an amount
        text = text.replace(sym, f" {many} ")
    text = _RE_TIME.sub(_time, text)
    text = _RE_ORDINAL.sub(_ordinal, text)
    text = _RE_PLURAL.sub(_plural_number, text)
    text = _RE_NEGATIVE.sub(" minus ", text)
    text = _RE_DECIMAL.sub(lambda m: " " + _decimal_words(m.group(1) or "", m.group(2)) + " ", text)
    text = _RE_INTEGER.sub(lambda m: " " + _integer_words(m.group(0)) + " ", text)
    text = _RE_LONE_STAR.sub(" star ", text)
    for sym, word in (("%", "percent"), ("&", "and"), ("+", "plus"), ("@", "at"), ("=", "equals"),
                      ("#", "hash")):
        text = text.replace(sym, f" {word} ")
    return text


# ---------------------------------------------------------------------------------------------

def normalize_asr_text(text: str) -> str:
    """Normalize a transcript to spoken-form lower-case words (see the module docstring).

    >>> normalize_asr_text("It's 42 — no, the 21st!")
    "it's forty two no the twenty first"

    Args:
        text: raw transcript in any casing, with digits, symbols and punctuation.

    Returns:
        Words in ``a-z`` and in-word apostrophes (plus letters of non-Latin scripts), joined by
        single spaces; "" when nothing speakable is left. Normalizing twice gives the same result.
    """
    text = fold_for_asr(text)
    text = _expand_numbers_and_symbols(text)
    text = text.lower()
    out: list[str] = []
    for i, ch in enumerate(text):
        if "a" <= ch <= "z" or ch == " ":
            out.append(ch)
        elif ch == "'":
            out.append("\0")  # decided below: kept only between two letters
        elif ch.isalpha() and not ch.isascii() and not is_latin(ch):
            out.append(ch)
        elif unicodedata.category(ch).startswith("M") and out and not out[-1].isascii() and out[-1] != "\0":
            out.append(ch)  # combining marks of non-Latin words (Devanagari vowel signs, ...)
        else:
            out.append(" ")
    text = "".join(out)
    text = re.sub(r"(?<=[^\W\d_])\0(?=[^\W\d_])", "'", text)
    text = text.replace("\0", " ")
    return " ".join(text.split())


@functools.lru_cache(maxsize=4096)
def _says_nothing(ch: str) -> bool:
    """True when ``ch`` is a letter, digit or symbol that normalization turns into nothing."""
    for c in fold_for_asr(ch):
        if unicodedata.category(c)[0] in "LNS" and not normalize_asr_text(c):
            return True
    return False


def unspoken_characters(text: str) -> list[str]:
    """Letters, digits and symbols of ``text`` that :func:`normalize_asr_text` drops unspoken.

    Punctuation, spaces, combining marks and format characters are dropped on purpose and are not
    listed; what is listed is content the normalized transcript no longer says: Latin letters
    without an ASCII spelling ("ŋ", "ə"), pictographs and other symbols ("☃", "°", "©", "<").

    >>> unspoken_characters("zéro ☃ 42 ŋ!")
    ['☃', 'ŋ']

    Returns:
        The distinct characters in order of first appearance (empty when nothing is lost).
    """
    seen: dict[str, None] = {}
    for ch in text:
        if ch not in seen and _says_nothing(ch):
            seen[ch] = None
    return list(seen)
