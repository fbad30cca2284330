"""Numbers, money, clock times, dates and units in American English words: the one source for both normalizers.

:func:`speech.text.normalize.normalize_asr_text` (transcripts) and
:func:`speech.text.tts_normalize.normalize_for_tts` (speech synthesis) find numbers in text with
their own patterns and read them with these functions, so a year, an amount or a time reads the
same in both::

    >>> number_to_words(1_000_201)
    'one million two hundred one'
    >>> ordinal_to_words(21), year_to_words(1905), year_to_words(2000), year_to_words(2010)
    ('twenty first', 'nineteen oh five', 'two thousand', 'twenty ten')
    >>> money_words("$", "5", "20", None, number_to_words_str)
    'five dollars and twenty cents'
    >>> clock_words(3, 5), clock_words(7, 0)
    ('three oh five', "seven o'clock")

Words are lower case, separated by single spaces, without hyphens or "and" inside numbers.
"""

from __future__ import annotations

import re
from typing import Callable

__all__ = [
    "CURRENCIES", "MONEY_PATTERN", "MONTHS", "NUM_PATTERN", "UNITS", "clock_words", "digits_to_words", "expand_dates",
    "fraction_words",
    "house_number_words", "money_words", "month_index", "number_to_words", "number_to_words_str",
    "ordinal_to_words", "pair_words", "plural_number", "plural_word", "year_to_words",
]

ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
"""Words for 0..19 (``ONES[:10]`` are the digit names)."""
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

NUM_PATTERN = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"
"""Regex alternatives for an integer as written: thousands-grouped ("1,234") or plain digits."""
MONEY_PATTERN = (r"([$£€¥])\s?(" + NUM_PATTERN + r")(?:\.(\d+))?(?:\s+(thousand|million|billion|trillion)\b)?")
"""An amount (compile with ``re.IGNORECASE``); its groups (symbol, whole, fraction digits, scale word)
are the arguments of :func:`money_words`."""

CURRENCIES = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
              "€": ("euro", "euros", "cent", "cents"), "¥": ("yen", "yen", "sen", "sen")}
"""Currency symbol -> (one, many, one hundredth, many hundredths)."""

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]

UNITS = {
    "km": ("kilometer", "kilometers"), "kg": ("kilogram", "kilograms"), "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"), "mg": ("milligram", "milligrams"), "ml": ("milliliter", "milliliters"),
    "mph": ("mile per hour", "miles per hour"), "kph": ("kilometer per hour", "kilometers per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"), "lb": ("pound", "pounds"), "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"), "ft": ("foot", "feet"), "mi": ("mile", "miles"), "hrs": ("hour", "hours"),
    "hr": ("hour", "hours"), "min": ("minute", "minutes"), "mins": ("minutes", "minutes"),
    "sec": ("second", "seconds"), "ms": ("millisecond", "milliseconds"), "KB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"), "GB": ("gigabyte", "gigabytes"), "TB": ("terabyte", "terabytes"),
    "Hz": ("hertz", "hertz"), "kHz": ("kilohertz", "kilohertz"), "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"), "°C": ("degree celsius", "degrees celsius"),
    "°F": ("degree fahrenheit", "degrees fahrenheit"), "°": ("degree", "degrees"),
}
"""Unit abbreviation after a number -> (singular, plural) words."""


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(ONES[ones])
    elif rest or not words:
        words.append(ONES[rest])
    return words


def digits_to_words(digits: str) -> str:
    """Read a digit string digit by digit: '0142' -> 'zero one four two'."""
    return " ".join(ONES[int(d)] for d in digits)


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


def number_to_words_str(digits: str) -> str:
    """:func:`number_to_words` of a digit string that may hold thousands commas ("1,200")."""
    return number_to_words(int(digits.replace(",", "")))


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


def plural_number(words: str) -> str:
    """A number in words with its last word in the plural: 'nineteen ninety' -> 'nineteen nineties'."""
    head, _, last = words.rpartition(" ")
    return (head + " " if head else "") + plural_word(last)


def pair_words(n: int) -> str:
    """A two-digit group after a leading one, as in years, times and house numbers: 5 -> 'oh five', 0 -> 'hundred'."""
    if n == 0:
        return "hundred"
    if n < 10:
        return "oh " + ONES[n]
    return number_to_words(n)


def year_to_words(n: int) -> str:
    """Read a year the way people say it.

    Four-digit years are read in pairs ("nineteen ninety nine", "twenty ten", "ten sixty six"),
    with "oh" for a second pair below ten ("nineteen oh five") and "hundred" for a round century
    ("nineteen hundred"); the first ten years of a millennium are read as a number ("two thousand",
    "two thousand five", "one thousand one"); other numbers (below 1000, above 9999) as cardinals.
    """
    if n < 1000 or n > 9999:
        return number_to_words(n)
    hi, lo = divmod(n, 100)
    if hi % 10 == 0 and lo < 10:  # 2000, 2001 .. 2009, 1000 .. 1009
        return number_to_words(n)
    return number_to_words(hi) + " " + pair_words(lo)


def house_number_words(digits: str) -> str:
    """A house number: '221' -> 'two twenty one', '1234' -> 'twelve thirty four', '1600' -> 'one
    thousand six hundred' (a round hundred is read as a number)."""
    n = int(digits)
    if len(digits) == 3 and n % 100:
        return ONES[n // 100] + " " + pair_words(n % 100)
    if len(digits) == 4 and n % 100 and n % 1000 >= 10:
        return number_to_words(n // 100) + " " + pair_words(n % 100)
    return number_to_words(n)


def clock_words(hour: int, minute: int, oclock: bool = True) -> str:
    """A clock time: (10, 30) -> 'ten thirty', (3, 5) -> 'three oh five', (7, 0) -> "seven o'clock"
    (just "seven" when not ``oclock``, e.g. before "P M")."""
    if minute == 0:
        return number_to_words(hour) + (" o'clock" if oclock else "")
    if minute < 10:
        return f"{number_to_words(hour)} oh {ONES[minute]}"
    return f"{number_to_words(hour)} {number_to_words(minute)}"


def money_words(symbol: str, whole: str, frac: str | None, scale: str | None,
                cardinal: Callable[[str], str]) -> str:
    """An amount of money: ('$', '5', '20', None) -> 'five dollars and twenty cents'.

    Args:
        symbol: a key of :data:`CURRENCIES`.
        whole: the digits before the point (thousands commas allowed).
        frac: the digits after the point, or None. One or two digits are cents ("$0.99" -> "ninety
            nine cents", "$1.5" -> "one dollar and fifty cents"); more are read as a decimal
            ("$1.005" -> "one point zero zero five dollars").
        scale: "thousand" / "million" / ... written after the amount, or None ("$2.5 million" ->
            "two point five million dollars").
        cardinal: how the caller reads ``whole`` as a plain number when it is not a count of
            dollars (with a scale word or a decimal): each normalizer has its own digit-by-digit rule.
    """
    one, many, sub_one, sub_many = CURRENCIES[symbol]
    if scale or (frac is not None and len(frac) > 2):
        amount = cardinal(whole) + (" point " + digits_to_words(frac) if frac else "")
        return f"{amount} {scale.lower()} {many}" if scale else f"{amount} {many}"
    n = int(whole.replace(",", ""))
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if n or not cents:
        parts.append(f"{number_to_words(n)} {one if n == 1 else many}")
    if cents:
        parts.append(f"{number_to_words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def fraction_words(num: int, den: int) -> str:
    """A simple fraction: (1, 2) -> 'one half', (3, 4) -> 'three fourths'; other denominators 'x slash y'."""
    if den < 2 or num == 0 or den > 10:
        return f"{number_to_words(num)} slash {number_to_words(den)}"
    if den == 2:
        name = "half" if num == 1 else "halves"
    else:
        name = ordinal_to_words(den) + ("" if num == 1 else "s")
    return f"{number_to_words(num)} {name}"


def month_index(name: str) -> int:
    """0-based month of a month name or abbreviation ("Jan.", "sept", "December")."""
    key = name.rstrip(".").lower()[:3]
    return [m[:3] for m in MONTHS].index(key)


# ---------------------------------------------------------------------------------------------
# Written dates (speech synthesis): "Jan. 3, 2024", "3 January 2024", "1/3/2024", "2024-01-03"

_MONTH_RE = (r"(Jan(?:uary|\.)?|Feb(?:ruary|\.)?|Mar(?:ch|\.)?|Apr(?:il|\.)?|May|June?\.?|July?\.?|"
             r"Aug(?:ust|\.)?|Sept?(?:ember|\.)?|Oct(?:ober|\.)?|Nov(?:ember|\.)?|Dec(?:ember|\.)?)")
_RE_DATE_MDY = re.compile(r"\b" + _MONTH_RE + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?!\d|[:.,]\d)(?:(,?)\s+(\d{4})\b)?")
_RE_DATE_DMY = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH_RE + r"(?:(,?)\s+(\d{4})\b)?")
_RE_DATE_NUM = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})(?![\d/])")
_RE_DATE_ISO = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d-])")
_RE_MONTH_ABBR = re.compile(r"\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.")


def _day(day: str) -> str | None:
    d = int(day)
    return ordinal_to_words(d) if 1 <= d <= 31 else None


def _date_mdy(m: re.Match) -> str:
    day = _day(m.group(2))
    if day is None:
        return m.group(0)
    out = f" {MONTHS[month_index(m.group(1))]} {day}"
    if m.group(4):
        out += f"{m.group(3) or ''} {year_to_words(int(m.group(4)))}"
    return out + " "


def _date_dmy(m: re.Match) -> str:
    day = _day(m.group(1))
    if day is None:
        return m.group(0)
    the = "" if re.search(r"\bthe\s*$", m.string[: m.start()], re.IGNORECASE) else " the"
    out = f"{the} {day} of {MONTHS[month_index(m.group(2))]}"
    if m.group(4):
        out += f"{m.group(3) or ''} {year_to_words(int(m.group(4)))}"
    return out + " "


def _date_numeric(month: int, day: int, year: str) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    y = int(year) if len(year) == 4 else 2000 + int(year)
    return f" {MONTHS[month - 1]} {ordinal_to_words(day)}, {year_to_words(y)} "


def expand_dates(text: str) -> str:
    """Written dates -> words, month first: "Jan. 3, 2024" / "1/3/2024" / "2024-01-03" -> "january
    third, twenty twenty four", "3 May 2020" -> "the third of may twenty twenty", "March 21st" ->
    "march twenty first"; a month abbreviation alone ("Dec.") -> its name. Impossible days or
    months are left as they are."""
    text = _RE_DATE_ISO.sub(lambda m: _date_numeric(int(m.group(2)), int(m.group(3)), m.group(1)) or m.group(0), text)
    text = _RE_DATE_NUM.sub(lambda m: _date_numeric(int(m.group(1)), int(m.group(2)), m.group(3)) or m.group(0), text)
    text = _RE_DATE_MDY.sub(_date_mdy, text)
    text = _RE_DATE_DMY.sub(_date_dmy, text)
    return _RE_MONTH_ABBR.sub(lambda m: " " + MONTHS[month_index(m.group(1))] + " ", text)
