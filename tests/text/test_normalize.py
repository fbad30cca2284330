"""Tests for speech.text.normalize: one group per class of input, plus properties and real text."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.text.normalize import normalize_asr_text, number_to_words, ordinal_to_words


def assert_clean(out: str) -> None:
    assert out == " ".join(out.split()), f"whitespace not collapsed: {out!r}"
    for word in out.split():
        for i, ch in enumerate(word):
            non_latin = not ch.isascii() and (ch.isalpha() or (unicodedata.category(ch).startswith("M") and not word[i - 1].isascii()))
            assert ("a" <= ch <= "z") or ch == "'" or non_latin, (out, ch)


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (42, "forty two"), (100, "one hundred"),
    (101, "one hundred one"), (999, "nine hundred ninety nine"), (1000, "one thousand"),
    (1_000_001, "one million one"), (2_000_300_000, "two billion three hundred thousand"),
    (1_234_567_890_123, "one trillion two hundred thirty four billion five hundred sixty seven million "
                        "eight hundred ninety thousand one hundred twenty three"),
    (-15, "minus fifteen"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_to_words_huge_reads_digits():
    assert number_to_words(10**40) == " ".join(["one"] + ["zero"] * 40)


@pytest.mark.parametrize("n, words", [
    (1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (5, "fifth"), (8, "eighth"), (9, "ninth"),
    (12, "twelfth"), (20, "twentieth"), (21, "twenty first"), (100, "one hundredth"),
    (1002, "one thousand second"), (0, "zeroth"),
])
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize("text, expected", [
    # casing, punctuation, whitespace
    ("Hello,   World!", "hello world"),
    ("  \tWhat?!  (yes)  ", "what yes"),
    ("one;two:three/four", "one two three four"),
    # apostrophes: kept inside words only
    ("Don't STOP; it's John's", "don't stop it's john's"),
    ("'quoted' the prisoners' cells", "quoted the prisoners cells"),
    ("it\u2019s fine", "it's fine"),
    # hyphens and dashes
    ("well-known twenty-one", "well known twenty one"),
    ("wait -- what \u2014 now", "wait what now"),
    # cardinals
    ("42 cats", "forty two cats"),
    ("1,234,567 people", "one million two hundred thirty four thousand five hundred sixty seven people"),
    ("3000000000", "three billion"),
    ("agent 007", "agent zero zero seven"),
    # years
    ("in 1999", "in nineteen ninety nine"),
    ("1900 and 1905 and 2000 and 2005 and 2019", "nineteen hundred and nineteen oh five and two thousand and "
                                                 "two thousand five and twenty nineteen"),
    ("the 1960s and 80s", "the nineteen sixties and eighties"),
    # decimals
    ("3.5 kg", "three point five kg"),
    ("pi is 3.14159", "pi is three point one four one five nine"),
    (".25 inch", "point two five inch"),
    # ordinals
    ("the 21st century", "the twenty first century"),
    ("2ND place, 3rd, 11th, 100th", "second place third eleventh one hundredth"),
    # negatives
    ("-5 degrees", "minus five degrees"),
    ("(-2.5)", "minus two point five"),
    ("1963-64", "nineteen sixty three sixty four"),
    # times
    ("at 10:30 or 3:05 or 7:00", "at ten thirty or three oh five or seven o'clock"),
    # symbols
    ("50% off", "fifty percent off"),
    ("R&D", "r and d"),
    ("2+2=4", "two plus two equals four"),
    ("me@home", "me at home"),
    ("#5 and #hashtag", "number five and hash hashtag"),
    ("Exhibit No. 12", "exhibit number twelve"),
    ("press * now", "press star now"),
    ("*emphasis*", "emphasis"),
    # money
    ("$5", "five dollars"),
    ("$1", "one dollar"),
    ("$5.50", "five dollars and fifty cents"),
    ("$0.99", "ninety nine cents"),
    ("$2 million", "two million dollars"),
    ("\u00a31,400", "one thousand four hundred pounds"),
    # unicode
    ("Caf\u00e9 na\u00efve Stra\u00dfe \u00c6sop \u00d8re \u0141\u00f3d\u017a", "cafe naive strasse aesop ore lodz"),
    ("\uff21\uff22\uff23 \uff11\uff12", "abc twelve"),  # full-width
    ("\ufb01ne", "fine"),  # ligature
    ("\u041c\u043e\u0441\u043a\u0432\u0430 \u6771\u4eac", "\u043c\u043e\u0441\u043a\u0432\u0430 \u6771\u4eac"),
    ("\u0663 cats", "three cats"),  # Arabic-Indic digit
    ("", ""),
    ("?!...", ""),
])
def test_normalize_asr_text(text, expected):
    out = normalize_asr_text(text)
    assert out == expected
    assert_clean(out)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_output_alphabet_and_idempotent(text):
    out = normalize_asr_text(text)
    assert_clean(out)
    assert normalize_asr_text(out) == out


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_number_words_are_plain_words(n):
    words = number_to_words(n)
    assert re.fullmatch(r"[a-z]+( [a-z]+)*", words)
    assert normalize_asr_text(f"{n:,}") == words  # thousands commas: always a cardinal
    if not 1100 <= abs(n) <= 2099:  # those plain four-digit numbers read as years
        assert normalize_asr_text(str(n)) == words
    assert ordinal_to_words(n).split()[:-1] == words.split()[:-1]


@pytest.mark.data
def test_real_text_ljspeech_metadata(data_root):
    """Every LJSpeech sentence (raw column) normalizes to the clean alphabet, with its numbers spoken."""
    path = data_root / "text" / "ljspeech_metadata_all.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 13100
    with_digits = agree = 0
    for line in lines:
        _, raw, spoken = line.split("|")
        if not re.search(r"\d", raw):
            continue
        with_digits += 1
        out = normalize_asr_text(raw)
        assert_clean(out)
        agree += out == normalize_asr_text(spoken)
    assert with_digits > 1400
    # LJSpeech's own spoken form ("1026" -> "ten twenty") is context-dependent; most sentences agree.
    assert agree / with_digits > 0.85
