"""Text normalization for ASR transcripts (and, through the number helpers, for TTS).

:func:`normalize_asr_text` maps written text to the spoken-form, lower-case alphabet that the
character tokenizer and the WER scorer work on::

    >>> normalize_asr_text("Dr. Smith's 2nd visit cost $42.50 (+5% tax) & lasted 1.5 hours!")
    "dr smith's second visit cost forty two dollars and fifty cents plus five percent tax and lasted one point five hours"

What it does, in order:

1. Unicode: NFKC (full-width forms, ligatures, superscripts), any script's decimal digits ->
   ASCII digits, typographic quotes / apostrophes / dashes -> ASCII. Latin letters lose their
   accents (NFKD + strip combining marks: "café" -> "cafe"); a few letters without a decomposition
   are spelled out ("ß" -> "ss", "æ" -> "ae", "ø" -> "o", ...). Letters of other scripts
   (Cyrillic, Greek, CJK, ...) are kept as they are, only lower-cased.
2. Numbers and symbols become words (American English, no "and" inside numbers):

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

__all__ = ["ASR_ALPHABET", "normalize_asr_text", "number_to_words", "ordinal_to_words", "unspoken_characters"]

ASR_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz' ")
"""The characters :func:`normalize_asr_text` produces for English (and Latin-script) text; letters
of other scripts pass through it unchanged and are outside this set."""

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = (
    "", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion", "sextillion",
    "septillion", "octillion", "nonillion",
)
_MAX_CARDINAL = 1000 ** len(_SCALES)  # numbers from here up are read digit by digit

_ORDINAL_IRREGULAR = {
    "zero": "zeroth", "one": "first", "two": "second", "three": "third", "five": "fifth",
    "eight": "eighth", "nine": "ninth", "twelve": "twelfth",
}


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest or not words:
        words.append(_ONES[rest])
    return words


def digits_to_words(digits: str) -> str:
    """Read a digit string digit by digit: '0142' -> 'zero one four two'."""
    return " ".join(_ONES[int(d)] for d in digits)


def number_to_words(n: int) -> str:
    """Spell an integer in American English words, separated by single spaces.

    >>> number_to_words(42)
    'forty two'
    >>> number_to_words(-1_000_201)
    'minus one million two hundred one'

    Args:
        n: any integer; negative numbers get a leading "minus". Magnitudes of 10**33 and above
            (past "nonillion") are read digit by digit.

    Returns:
        The number in words, lower case, without hyphens or "and".
    """
    n = int(n)
    if n < 0:
        return "minus " + number_to_words(-n)
    if n >= _MAX_CARDINAL:
        return digits_to_words(str(n))
    if n == 0:
        return "zero"
    groups: list[str] = []
    scale = 0
    while n:
        n, chunk = divmod(n, 1000)
        if chunk:
            words = _below_thousand(chunk)
            if _SCALES[scale]:
                words.append(_SCALES[scale])
            groups.append(" ".join(words))
        scale += 1
    return " ".join(reversed(groups))


def _ordinalize_word(word: str) -> str:
    if word in _ORDINAL_IRREGULAR:
        return _ORDINAL_IRREGULAR[word]
    if word.endswith("y"):
        return word[:-1] + "ieth"
    return word + "th"


def ordinal_to_words(n: int) -> str:
    """Spell an integer as an English ordinal.

    >>> ordinal_to_words(21)
    'twenty first'
    >>> ordinal_to_words(100)
    'one hundredth'

    Args:
        n: any integer (negatives get "minus": -3 -> "minus third").

    Returns:
        The ordinal in words: the cardinal of :func:`number_to_words` with its last word
        turned into an ordinal.
    """
    words = number_to_words(n).split(" ")
    words[-1] = _ordinalize_word(words[-1])
    return " ".join(words)


def plural_word(word: str) -> str:
    """Plural of a number word: 'twenty' -> 'twenties', 'six' -> 'sixes', 'seven' -> 'sevens'."""
    if word.endswith("y"):
        return word[:-1] + "ies"
    if word.endswith(("x", "s")):
        return word + "es"
    return word + "s"


def _year_to_words(n: int) -> str:
    """Read 1100..2099 the way years are spoken."""
    hi, lo = divmod(n, 100)
    if n % 1000 < 10 and hi % 10 == 0:  # 2000, 2001..2009, 1000s handled the same way
        return number_to_words(n)
    if lo == 0:
        return number_to_words(hi) + " hundred"
    if lo < 10:
        return number_to_words(hi) + " oh " + _ONES[lo]
    return number_to_words(hi) + " " + number_to_words(lo)


def _integer_words(digits: str, *, allow_year: bool = True) -> str:
    """Words for a digit string that may contain thousands commas."""
    plain = digits.replace(",", "")
    if len(plain) > 1 and plain.startswith("0"):
        return digits_to_words(plain)
    n = int(plain)
    if allow_year and "," not in digits and len(plain) == 4 and 1100 <= n <= 2099:
        return _year_to_words(n)
    return number_to_words(n)


def _decimal_words(int_part: str, frac: str) -> str:
    head = _integer_words(int_part, allow_year=False) + " " if int_part else ""
    return head + "point " + digits_to_words(frac)


# ---------------------------------------------------------------------------------------------
# Unicode folding

_CHAR_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'", "`": "'",
    "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": " - ", "\u2015": " - ",
    "\u2212": "-", "\ufe63": "-", "\uff0d": "-",
    "\u00a0": " ",
}
# Latin letters that NFKD does not decompose into a base letter + marks.
_LATIN_SPECIAL = {
    "ß": "ss", "ẞ": "SS", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
    "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
    "ı": "i", "ħ": "h", "Ħ": "H", "ŀ": "l", "Ŀ": "L", "ŧ": "t", "Ŧ": "T", "ĸ": "k",
}


def _is_latin(ch: str) -> bool:
    return unicodedata.name(ch, "").startswith("LATIN")


def _fold_unicode(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    out: list[str] = []
    for ch in text:
        if ch in _CHAR_MAP:
            out.append(_CHAR_MAP[ch])
        elif ch.isascii():
            out.append(ch)
        elif ch in _LATIN_SPECIAL:
            out.append(_LATIN_SPECIAL[ch])
        elif unicodedata.category(ch) == "Nd":
            out.append(str(unicodedata.decimal(ch)))
        elif ch.isalpha() and _is_latin(ch):
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append("".join(_LATIN_SPECIAL.get(c, c) for c in base))
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Numbers and symbols

_NUM = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"  # thousands-grouped or plain digits
_CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
               "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "sen", "sen")}
_SCALE_WORDS = r"thousand|million|billion|trillion"

_RE_MONEY = re.compile(
    r"([$£€¥])\s?(" + _NUM + r")(?:\.(\d+))?(?:\s+(" + _SCALE_WORDS + r")\b)?", re.IGNORECASE
)
_RE_TIME = re.compile(r"(?<![\d:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_RE_ORDINAL = re.compile(r"(?<![\w.])(" + _NUM + r")(st|nd|rd|th)\b", re.IGNORECASE)
_RE_PLURAL = re.compile(r"(?<![\w.])'?(\d+)'?s\b")
_RE_NEGATIVE = re.compile(r"(?<![\w.\-])-(?=\.?\d)")
_RE_DECIMAL = re.compile(r"(?<![\d.])(" + _NUM + r")?\.(\d+)")
_RE_INTEGER = re.compile(_NUM)
_RE_HASH_NUMBER = re.compile(r"#\s*(?=\d)|\b[Nn]o\.\s*(?=\d)")
_RE_LONE_STAR = re.compile(r"(?:(?<=\s)|^)\*(?=\s|$)")


def _money(match: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[match.group(1)]
    whole, frac, scale = match.group(2), match.group(3), match.group(4)
    if scale:  # "$2.5 million" -> "two point five million dollars"
        amount = _decimal_words(whole, frac) if frac else _integer_words(whole, allow_year=False)
        return f" {amount} {scale.lower()} {many} "
    n = int(whole.replace(",", ""))
    cents = None
    if frac is not None:
        if len(frac) <= 2:
            cents = int(frac.ljust(2, "0"))
        else:  # "$1.005": not a cents amount, read as a decimal
            return f" {_decimal_words(whole, frac)} {many} "
    parts = []
    if n or not cents:
        parts.append(f"{number_to_words(n)} {one if n == 1 else many}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " " + " and ".join(parts) + " "


def _time(match: re.Match) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute == 0:
        return f" {number_to_words(hour)} o'clock "
    if minute < 10:
        return f" {number_to_words(hour)} oh {_ONES[minute]} "
    return f" {number_to_words(hour)} {number_to_words(minute)} "


def _ordinal(match: re.Match) -> str:
    return " " + ordinal_to_words(int(match.group(1).replace(",", ""))) + " "


def _plural_number(match: re.Match) -> str:
    digits = match.group(1)
    n = int(digits)
    if len(digits) == 2 and n % 10 == 0 and n >= 10:  # "80s" -> "eighties"
        words = number_to_words(n)
    else:
        words = _integer_words(digits)
    head, _, last = words.rpartition(" ")
    return " " + (head + " " if head else "") + plural_word(last) + " "


def _expand_numbers_and_symbols(text: str) -> str:
    text = _RE_HASH_NUMBER.sub(" number ", text)
    text = _RE_MONEY.sub(_money, text)
    for sym, name in (("$", "dollars"), ("£", "pounds"), ("€", "euros"), ("¥", "yen")):
        text = text.replace(sym, f" {name} ")
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
    text = _fold_unicode(text)
    text = _expand_numbers_and_symbols(text)
    text = text.lower()
    out: list[str] = []
    for i, ch in enumerate(text):
        if "a" <= ch <= "z" or ch == " ":
            out.append(ch)
        elif ch == "'":
            out.append("\0")  # decided below: kept only between two letters
        elif ch.isalpha() and not ch.isascii() and not _is_latin(ch):
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
    for c in _fold_unicode(ch):
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
