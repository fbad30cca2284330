"""Tests for speech.text.g2p: dictionary, letters, apostrophes, pauses, fallbacks, training."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

from speech.text import g2p as g2p_module
from speech.text.g2p import G2P, evaluate_g2p, load_g2p_model, rule_g2p, train_g2p
from speech.text.g2p_neural import ctc_collapse
from speech.text.numbers import MONTHS, UNITS
from speech.text.phonemes import PHONEMES_STRESSED, PhonemeTokenizer
from speech.text.tts_normalize import _ABBREVS, _TITLES, normalize_for_tts

ACCEPTANCE = [
    "Dr. Smith paid $5.20 on Jan. 3, 2024.",
    "Call 555-0142 before 10:30 a.m.",
    "The 2nd floor is 45% larger.",
    "Press 1, or press the pound key.",
    "Mr. Lee lives at 221B Baker St.",
]


@pytest.fixture(scope="module")
def g2p():
    return G2P(fallback=None)  # rules as the fallback: independent of a trained model on this machine


def test_dictionary_words(g2p):
    assert g2p("hello") == ["HH", "AH0", "L", "OW1"]
    assert g2p("Mister") == ["M", "IH1", "S", "T", "ER0"]
    res = g2p.convert("hello world")
    assert res.tokens == ["HH", "AH0", "L", "OW1", "<wb>", "W", "ER1", "L", "D"]
    assert [(w.word, w.source) for w in res.words] == [("hello", "dict"), ("world", "dict")]
    assert res.guessed == []


def test_capital_letters_read_by_name(g2p):
    assert g2p("F B I") == ["EH1", "F", "<wb>", "B", "IY1", "<wb>", "AY1"]
    assert g2p("A") == ["EY1"]
    assert g2p("a") == ["AH0"]  # the article
    assert g2p("W") == ["D", "AH1", "B", "AH0", "L", "Y", "UW0"]


def test_apostrophes(g2p):
    assert g2p("don't") == ["D", "OW1", "N", "T"]
    assert g2p("lee's") == ["L", "IY1", "Z"]
    assert g2p("M's") == ["EH1", "M", "Z"]  # "A T M's"
    assert g2p("B's") == ["B", "IY1", "Z"]
    base = g2p("zorblick")
    assert g2p("zorblick's") == base + ["S"]  # voiceless K -> /s/
    assert g2p("zorbliss's")[-2:] == ["IH0", "Z"]  # sibilant -> /iz/
    assert g2p("'quoted'") == g2p("quoted")


def test_hyphenated_words_are_split(g2p):
    res = g2p.convert("well-known")
    assert res.tokens == g2p("well") + ["<wb>"] + g2p("known")
    assert [w.word for w in res.words] == ["well", "known"]


def test_made_up_word_is_never_dropped(g2p):
    for word in ("blorptastic", "xqzw", "zzz", "ngh", "aeiou", "q"):
        res = g2p.convert(f"the {word} end")
        assert len(res.words) == 3, word
        assert res.words[1].phonemes and res.words[1].source in ("rules", "dict")
        assert all(p in PHONEMES_STRESSED for p in res.words[1].phonemes), res.words[1].phonemes
    res = g2p.convert("a blorptastic and frobnicated blorptastic day")
    assert res.guessed == [("blorptastic", "rules"), ("frobnicated", "rules")]


def test_pause_tokens(g2p):
    toks = g2p("yes, no; maybe: ok - fine. why? go!")
    pauses = [t for t in toks if t.startswith("<")]
    assert pauses == ["<pau_short>", "<pau_mid>", "<pau_mid>", "<pau_mid>", "<pau_long>", "<pau_long>",
                      "<pau_long>"]
    assert g2p(", . hello") == ["HH", "AH0", "L", "OW1"]  # no pause before the first word
    assert g2p("hello,. world")[4] == "<pau_long>"  # runs of punctuation: the strongest pause
    assert g2p("") == [] and g2p("?!") == []


def test_acceptance_sentences_use_only_the_dictionary(g2p):
    tok = PhonemeTokenizer()
    for sentence in ACCEPTANCE + ["Ms. Lee left at 3:00.", "The FBI and NASA, etc."]:
        norm = normalize_for_tts(sentence)
        res = g2p.convert(norm)
        assert res.guessed == [], (sentence, res.guessed)
        assert tok.decode(tok.encode(res.tokens)) == res.tokens
        assert res.tokens[-1] == "<pau_long>"


def test_digits_reaching_g2p_are_read(g2p):
    assert g2p("5") == g2p("five")


@pytest.mark.parametrize("word, phones", [
    ("chip", ["CH", "IH1", "P"]), ("made", ["M", "EY1", "D"]), ("knight", ["N", "AY1", "T"]),
    ("photo", ["F", "AA1", "T", "AH0"]), ("city", ["S", "IH1", "T", "IY0"]), ("ship", ["SH", "IH1", "P"]),
    ("xqz", ["EH1", "K", "S", "K", "Y", "UW1", "Z", "IY1"]),
])
def test_rule_table(word, phones):
    assert rule_g2p(word) == phones


def test_rule_table_never_empty():
    for word in ("a", "e", "y", "h", "mm", "eee", "queue", "rhythm", "strengths", "x", "ough"):
        phones = rule_g2p(word)
        assert phones and all(p in PHONEMES_STRESSED for p in phones), (word, phones)
    assert rule_g2p("") == [] and rule_g2p("'") == []


def test_evaluate_g2p_counts_errors():
    test = [("ab", ["EY1", "B"], [["EY1", "B"]]), ("cd", ["S", "IY1", "D"], [["S", "IY1", "D"], ["K", "D"]])]
    perfect = evaluate_g2p(lambda ws: [t[1] for t in test], test)
    assert perfect["per"] == 0 and perfect["wer"] == 0
    m = evaluate_g2p(lambda ws: [["EY1", "B"], ["K", "D"]], test)
    assert m["per"] == pytest.approx(2 / 5) and m["wer"] == 0.5 and m["wer_any"] == 0


def test_train_tiny_neural_fallback(tmp_path):
    kw = dict(limit=400, epochs=2, emb=8, hidden=16, layers=1, batch_size=64, threads=None, log=lambda *_: None)
    model, metrics = train_g2p(tmp_path / "g2p.pt", **kw)
    assert metrics["words"] == 8 and metrics["train_words"] > 300
    assert 0 <= metrics["per"] and 0 <= metrics["wer"] <= 1
    again, metrics2 = train_g2p(None, **kw)
    assert metrics2["per"] == metrics["per"]  # deterministic for a seed
    assert all((a == b).all() for a, b in zip(model.net.state_dict().values(), again.net.state_dict().values()))
    loaded = load_g2p_model(tmp_path / "g2p.pt")
    assert loaded.predict(["hello"]) == model.predict(["hello"])
    g = G2P(fallback=tmp_path / "g2p.pt")
    res = g.convert("a blorptastic day")
    assert res.words[1].phonemes and res.words[1].source in ("neural", "rules")
    assert res.guessed == [("blorptastic", res.words[1].source)]


def test_load_rejects_other_files(tmp_path, monkeypatch):
    import torch

    path = tmp_path / "x.pt"
    torch.save({"format": "something else"}, path)
    with pytest.raises(ValueError, match="not a speech G2P checkpoint"):
        load_g2p_model(path)
    with pytest.raises(FileNotFoundError):
        load_g2p_model(tmp_path / "missing.pt")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("SPEECH_G2P_MODEL", str(broken))
    monkeypatch.setattr(g2p_module, "_WARNED", set())
    with pytest.warns(RuntimeWarning) as record:
        assert G2P().fallback_name == "rules"  # a broken default file falls back to the rules...
    message = str(record[0].message)
    assert len(record) == 1 and str(broken) in message and "rules" in message and "\n" not in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert G2P().fallback_name == "rules"  # ... and says so once per process
    with pytest.raises(ValueError, match="not a torch zip archive"):
        G2P(fallback=broken)  # a file the caller names is not replaced silently


def test_load_rejects_weights_that_do_not_fit(tmp_path):
    import torch

    model, _ = train_g2p(None, limit=60, epochs=1, emb=4, hidden=4, layers=1, threads=None, log=lambda *_: None)
    state = model.net.state_dict()
    state["out.weight"] = torch.zeros(3, 3)
    path = tmp_path / "mismatch.pt"
    torch.save({"format": "speech-g2p-ctc", "version": 1, "config": model.config, "state_dict": state}, path)
    with pytest.raises(ValueError, match="do not make a G2P network") as err:
        load_g2p_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    torch.save({"format": "speech-g2p-ctc", "version": 1, "state_dict": state}, path)
    with pytest.raises(ValueError, match="KeyError: 'config'"):
        load_g2p_model(path)


def test_ctc_collapse():
    assert ctc_collapse([1, 1, 0, 1, 2, 2, 0, 0]) == [1, 1, 2]
    assert ctc_collapse([0, 0]) == [] and ctc_collapse([]) == []
    assert ctc_collapse([3, 3, 3], blank=3) == []


def test_text_layer_imports_no_torch_and_no_upper_layer():
    code = ("import sys, speech.text, speech.text.frontend, speech.text.g2p; "
            "bad = [m for m in sys.modules if m == 'torch' or m.split('.')[:2] in "
            "(['speech', 'decoding'], ['speech', 'models'], ['speech', 'data'])]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_words_the_normalizer_emits_are_all_in_the_lexicon(g2p):
    texts = [str(n) for n in range(0, 130)] + [f"{n}th" for n in range(1, 40)] + ["1000000000000"]
    texts += [f"5 {u}" for u in UNITS] + [f"{t}. Lee" for t in _TITLES] + [f"x {a}." for a in _ABBREVS]
    texts += [" ".join(MONTHS),
              "$1.01 £2.02 €3 ¥4 1/2 2/3 3/4 5/8 9/10 © ® ™ § ± × ÷ 3:00 e.g. i.e. vs. 1990s 80s"]
    guessed = {w for t in texts for w, _ in g2p.convert(normalize_for_tts(t)).guessed}
    assert guessed == set()
