"""speech.text.numbers: the number readers both normalizers share (years, money, times, dates)."""

from __future__ import annotations

import pytest

from speech.text.normalize import normalize_asr_text
from speech.text.numbers import (
    clock_words,
    expand_dates,
    fraction_words,
    house_number_words,
    money_words,
    number_to_words_str,
    plural_number,
    year_to_words,
)
from speech.text.tts_normalize import normalize_for_tts

YEARS = [
    (1100, "eleven hundred"), (1492, "fourteen ninety two"), (1776, "seventeen seventy six"),
    (1900, "nineteen hundred"), (1905, "nineteen oh five"), (1999, "nineteen ninety nine"),
    (2000, "two thousand"), (2001, "two thousand one"), (2009, "two thousand nine"), (2010, "twenty ten"),
    (2024, "twenty twenty four"), (2050, "twenty fifty"), (2099, "twenty ninety nine"),
]


@pytest.mark.parametrize("year, words", YEARS)
def test_years_read_the_same_by_both_normalizers(year, words):
    assert year_to_words(year) == words
    assert normalize_asr_text(f"In {year} it rained.") == f"in {words} it rained"
    assert normalize_for_tts(f"In {year} it rained.").text == f"in {words} it rained."


def test_every_bare_year_reads_the_same_in_both():
    for year in range(1100, 2100):
        assert normalize_asr_text(str(year)) == normalize_for_tts(str(year)).text == year_to_words(year), year


@pytest.mark.parametrize("year, words", [
    (1066, "ten sixty six"), (1000, "one thousand"), (1005, "one thousand five"), (1010, "ten ten"),
    (2100, "twenty one hundred"), (2105, "twenty one oh five"), (3000, "three thousand"),
    (999, "nine hundred ninety nine"), (10000, "ten thousand"),
])
def test_years_outside_the_bare_year_range(year, words):
    assert year_to_words(year) == words
    assert normalize_for_tts(f"Jan. 3, {year}").text == f"january third, {words}"


@pytest.mark.parametrize("raw, words", [
    ("$5.20", "five dollars and twenty cents"), ("$1", "one dollar"), ("$0.99", "ninety nine cents"),
    ("$1.01", "one dollar and one cent"), ("£3", "three pounds"), ("€10.50", "ten euros and fifty cents"),
    ("$2.5 million", "two point five million dollars"), ("$1,200", "one thousand two hundred dollars"),
    ("¥4", "four yen"), ("$1.005", "one point zero zero five dollars"), ("10:30", "ten thirty"),
    ("3:05", "three oh five"), ("7:00", "seven o'clock"), ("the 1990s", "the nineteen nineties"),
])
def test_money_times_and_decades_read_the_same_by_both_normalizers(raw, words):
    assert normalize_asr_text(raw) == normalize_for_tts(raw).text == words


def test_readers():
    assert money_words("$", "5", "2", None, number_to_words_str) == "five dollars and twenty cents"
    assert money_words("£", "0", "01", None, number_to_words_str) == "one penny"
    assert money_words("$", "1,000", None, "Million", number_to_words_str) == "one thousand million dollars"
    assert clock_words(12, 0) == "twelve o'clock" and clock_words(12, 0, oclock=False) == "twelve"
    assert clock_words(9, 45) == "nine forty five"
    assert house_number_words("221") == "two twenty one" and house_number_words("1600") == "one thousand six hundred"
    assert house_number_words("1234") == "twelve thirty four"
    assert fraction_words(1, 2) == "one half" and fraction_words(3, 4) == "three fourths"
    assert fraction_words(5, 16) == "five slash sixteen"
    assert plural_number("nineteen ninety") == "nineteen nineties" and plural_number("six") == "sixes"
    assert expand_dates("on 2024-01-03 and 13/45/2020").split() == [
        "on", "january", "third,", "twenty", "twenty", "four", "and", "13/45/2020"]
