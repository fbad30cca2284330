"""Tests for speech.text.tokenizer: CharTokenizer and the base it shares with PhonemeTokenizer."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from speech.text.normalize import normalize_asr_text
from speech.text.phonemes import PhonemeTokenizer
from speech.text.tokenizer import CharTokenizer, Tokenizer, TokenizerError

TEXTS = ["hello world", "don't stop", "zero one two"]


def test_build_vocab_layout():
    tok = CharTokenizer.build(TEXTS)
    assert tok.vocab[0] == CharTokenizer.BLANK and tok.blank_id == 0
    assert tok.vocab[1] == CharTokenizer.SPACE  # " " sorts first, then becomes "|"
    assert tok.vocab[2:] == sorted(set("".join(TEXTS)) - {" "})
    assert len(tok) == len(tok.vocab) == 2 + len(set("".join(TEXTS)) - {" "})
    assert " " not in tok.vocab


def test_build_is_order_independent_and_always_has_space():
    assert CharTokenizer.build(TEXTS) == CharTokenizer.build(reversed(TEXTS))
    digits = CharTokenizer.build(["one", "two"])  # isolated words: separator still present
    assert digits.space_id == 1
    assert digits.decode(digits.encode("one two")) == "one two"


def test_constructor_keeps_order():
    tok = CharTokenizer(["z", "|", "a"])
    assert tok.vocab == ["<blank>", "z", "|", "a"]
    assert tok.encode("a z") == [3, 2, 1]


@pytest.mark.parametrize("symbols", [["a", "a"], ["<blank>"], ["ab"], [" "], [""]])
def test_constructor_rejects_bad_symbols(symbols):
    with pytest.raises(TokenizerError):
        CharTokenizer(symbols)


def test_encode_decode_round_trip():
    tok = CharTokenizer.build(TEXTS)
    ids = tok.encode("hello world")
    assert ids[5] == tok.space_id and 0 not in ids and len(ids) == 11
    assert tok.decode(ids) == "hello world"
    assert tok.encode("  hello   world ") == ids  # whitespace runs are one separator


def test_decode_skips_blanks_keeps_repeats_and_accepts_tensors():
    tok = CharTokenizer.build(["ab"])
    a, b, sp = tok.encode("a")[0], tok.encode("b")[0], tok.space_id
    assert tok.decode([0, a, a, 0, b, sp, sp, b, 0]) == "aab b"
    assert tok.decode(torch.tensor([sp, a, sp])) == "a"
    with pytest.raises(TokenizerError, match="out of range"):
        tok.decode([len(tok)])


def test_unknown_characters_error_names_chars_and_utterance():
    tok = CharTokenizer.build(["abc"])
    with pytest.raises(TokenizerError) as e:
        tok.encode("a\u00e9b\u00dfc\u00e9", utt_id="a1")
    assert str(e.value) == "utterance 'a1': characters not in the vocabulary: '\u00e9', '\u00df'"
    with pytest.raises(TokenizerError, match=r"^characters not in the vocabulary: 'x'$"):
        tok.encode("ax")
    with pytest.raises(TokenizerError, match=r"'\|'"):  # the separator symbol is not text
        tok.encode("a|b")


def test_build_rejects_separator_in_text():
    with pytest.raises(TokenizerError, match="separator"):
        CharTokenizer.build(["a|b"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=30), min_size=1, max_size=5))
def test_round_trip_on_normalized_text(texts):
    texts = [normalize_asr_text(t) for t in texts]
    tok = CharTokenizer.build(texts)
    for t in texts:
        assert tok.decode(tok.encode(t)) == t


def test_save_load(tmp_path):
    tok = CharTokenizer.build(TEXTS + ["caf\u00e9"])
    path = tok.save(tmp_path / "sub" / "tokenizer.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"type": "char", "vocab": tok.vocab}
    assert CharTokenizer.load(path) == tok


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"type": "bpe", "vocab": ["<blank>"]}', "expected \"char\""),
    ('["<blank>", "a"]', "tokenizer type"),
    ('{"type": "char", "vocab": ["a", "<blank>"]}', "blank"),
    ('{"type": "char", "vocab": "abc"}', "vocab"),
    ('{"type": "char", "vocab": ["<blank>", "a", "a"]}', "twice"),
])
def test_load_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "tok.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TokenizerError, match=message) as e:
        CharTokenizer.load(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


# -- the shared base: one file format, one set of messages ------------------------------------

OLD_CHAR_FILE = '{\n "type": "char",\n "vocab": [\n  "<blank>",\n  "|",\n  "\'",\n  "a",\n  "b",\n  "\u00e9"\n ]\n}\n'


def test_files_written_before_the_base_class_load_and_save_byte_for_byte(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(OLD_CHAR_FILE, encoding="utf-8")
    tok = CharTokenizer.load(path)
    assert tok.vocab == ["<blank>", "|", "'", "a", "b", "\u00e9"] and tok.decode(tok.encode("ab \u00e9")) == "ab \u00e9"
    assert tok.save(tmp_path / "again.json").read_text(encoding="utf-8") == OLD_CHAR_FILE
    for stress in (True, False):
        ph = PhonemeTokenizer(stress)
        data = {"type": "phoneme", "stress": stress, "vocab": ph.vocab}
        saved = ph.save(tmp_path / "phonemes.json").read_text(encoding="utf-8")
        assert saved == json.dumps(data, indent=1) + "\n"
        assert PhonemeTokenizer.load(tmp_path / "phonemes.json") == ph
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.json", "phonemes.json", "tokenizer.json"]


def test_both_tokenizers_share_the_base_and_its_messages(tmp_path):
    char, ph = CharTokenizer.build(TEXTS), PhonemeTokenizer()
    assert isinstance(char, Tokenizer) and isinstance(ph, Tokenizer)
    assert char != CharTokenizer(char.vocab[2:]) and ph != PhonemeTokenizer(stress=False)
    assert char != ph
    for tok in (char, ph):
        with pytest.raises(TokenizerError, match=rf"^id -1 is out of range; expected 0\.\.{len(tok) - 1}$"):
            tok.decode([-1])
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00junk")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"type": "bpe"}', encoding="utf-8")
    for cls, kind in ((CharTokenizer, "char"), (PhonemeTokenizer, "phoneme")):
        with pytest.raises(TokenizerError, match="not UTF-8 text") as e:
            cls.load(binary)
        assert str(e.value).startswith(f"{binary}: ") and "\n" not in str(e.value)
        with pytest.raises(TokenizerError) as e:
            cls.load(wrong)
        assert str(e.value) == f"{wrong}: tokenizer type is 'bpe'; expected \"{kind}\""
