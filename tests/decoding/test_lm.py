"""Word n-gram LMs: ARPA parsing / writing, backoff arithmetic, training (KN, Witten-Bell)."""
from __future__ import annotations

import math

import pytest

from speech.decoding.lm import EOS, UNK, ArpaFormatError, ArpaLM, build_lm, read_sentences, train_ngram
from tests.conftest import shared_data_root

TINY = """This header text is ignored.

\\data\\
ngram 1=5
ngram 2=4
ngram 3=1

\\1-grams:
-99\t<s>\t-0.5
-0.5\t</s>
-0.4\ta\t-0.2
-0.6\tb\t-0.3
-1.0\t<unk>

\\2-grams:
-0.1\t<s> a\t-0.15
-0.3\ta b\t-0.05
-0.2\tb </s>
-0.25\tb a

\\3-grams:
-0.05\t<s> a b

\\end\\
"""


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.arpa"
    path.write_text(TINY, encoding="utf-8")
    return ArpaLM.load(path)


def test_tiny_arpa_backoff_by_hand(tiny):
    assert tiny.order == 3
    assert tiny.vocab == {"<s>", "</s>", "a", "b", "<unk>"}
    assert tiny.counts() == [5, 4, 1]
    p = tiny.log10_prob
    assert p("b", ("<s>", "a")) == pytest.approx(-0.05)  # listed trigram
    # "<s> a a" not listed: bow(<s> a) + P(a | a); "a a" not listed: bow(a) + P(a)
    assert p("a", ("<s>", "a")) == pytest.approx(-0.15 + -0.2 + -0.4)
    # "a b </s>" not listed: bow(a b) + P(</s> | b) (listed)
    assert p(EOS, ("a", "b")) == pytest.approx(-0.05 + -0.2)
    # "b a b" not listed, "b a" has no backoff weight (= 0): P(b | a)
    assert p("b", ("b", "a")) == pytest.approx(-0.3)
    # only the last order-1 words of a long context count
    assert p("b", ("x", "y", "<s>", "a")) == pytest.approx(-0.05)
    # unknown words are scored as <unk>: bow(<s>) + P(<unk>)
    assert p("zebra", ("<s>",)) == pytest.approx(-0.5 + -1.0)
    assert p("b", ("zebra",)) == pytest.approx(-0.6)  # "<unk> b" unseen, <unk> has no bow
    # sentence and perplexity: P(a|<s>) P(b|<s> a) P(</s>|a b)
    total = -0.1 + -0.05 + (-0.05 + -0.2)
    assert tiny.score_sentence(["a", "b"]) == pytest.approx(total)
    assert tiny.perplexity([["a", "b"]]) == pytest.approx(10 ** (-total / 3))


def test_state_api_matches_full_history(tiny):
    s = tiny.initial_state()
    assert s == ("<s>",)
    lp, s = tiny.advance(s, "a")
    assert (lp, s) == (pytest.approx(-0.1), ("<s>", "a"))
    lp, s = tiny.advance(s, "b")
    assert (lp, s) == (pytest.approx(-0.05), ("a", "b"))
    lp, s = tiny.advance(s, "a")
    assert lp == pytest.approx(-0.05 + -0.25)
    assert s == ("b", "a")
    lp, s = tiny.advance(s, "a")  # "a a" is not listed -> state shortened to ("a",)
    assert s == ("a",)
    assert lp == pytest.approx(tiny.log10_prob("a", ("b", "a")))
    assert tiny.final(s) == pytest.approx(tiny.log10_prob(EOS, ("a", "a")))
    # shortened states give the same probabilities as full histories
    words = ["a", "a", "b", "b", "zebra", "a", "b"]
    state, hist = tiny.initial_state(), ["<s>"]
    for w in words:
        lp, state = tiny.advance(state, w)
        assert lp == pytest.approx(tiny.log10_prob(w, tuple(hist)))
        hist.append(w)


def test_oov_floor_without_unk():
    lm = ArpaLM({("<s>",): -99.0, ("</s>",): -0.3, ("a",): -0.3}, {("<s>",): 0.0}, oov_log10=-7.0)
    assert lm.log10_prob("zebra", ("a",)) == -7.0
    assert lm.log10_prob("a", ("zebra",)) == pytest.approx(-0.3)


def test_save_load_round_trip(tiny, tmp_path):
    out = tmp_path / "sub" / "copy.arpa"
    tiny.save(out)
    text = out.read_text(encoding="utf-8")
    assert "\\data\\\nngram 1=5\nngram 2=4\nngram 3=1\n" in text
    assert text.rstrip().endswith("\\end\\")
    assert not list(out.parent.glob("*.tmp"))
    again = ArpaLM.load(out)
    for n in (1, 2, 3):
        assert again.ngrams(n) == tiny.ngrams(n)
    assert again.log10_prob("a", ("<s>", "a")) == tiny.log10_prob("a", ("<s>", "a"))


def test_failed_save_keeps_the_old_file_and_no_temporary(tiny, tmp_path):
    out = tmp_path / "lm.arpa"
    tiny.save(out)
    before = out.read_bytes()

    class Broken(dict):
        def get(self, key, default=None):
            raise OSError("disk full")

    tiny._bows = Broken(tiny._bows)  # fails half-way through writing the n-gram lines
    with pytest.raises(OSError, match="disk full"):
        tiny.save(out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm.arpa", "tiny.arpa"]


@pytest.mark.parametrize("bad, line, what", [
    (TINY.replace("ngram 2=4", "ngram 2=3"), 19, "at most 3 2-grams"),
    (TINY.replace("-0.3\ta b", "-0.x\ta b"), 17, "numbers"),
    (TINY.replace("-0.2\tb </s>", "-0.2\tb"), 18, "2 word(s)"),
    (TINY.replace("ngram 3=1", "ngram 3=2"), 24, "2 3-grams"),
    (TINY.replace("\\3-grams:", "\\4-grams:"), 21, "'\\3-grams:'"),
    (TINY.replace("\\end\\\n", ""), 24, "'\\end\\'"),
    (TINY.replace("-0.5\t</s>", "0.5\t</s>"), 10, "<= 0"),
    ("no data here\n", 2, "'\\data\\'"),
])
def test_malformed_files_name_the_line(tmp_path, bad, line, what):
    path = tmp_path / "bad.arpa"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(ArpaFormatError) as err:
        ArpaLM.load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}:{line}: expected"), msg
    assert what in msg


CORPUS = [s.split() for s in [
    "the cat sat on the mat", "the dog sat on the log", "a cat and a dog",
    "the cat ate the rat", "on the mat the cat sat", "a rat", "the the the",
    "dog", "the log on the mat", "a cat sat",
]]


def _contexts(lm):
    """Every history the model lists (has a backoff weight for), plus the empty one."""
    out = [()]
    for n in range(1, lm.order):
        out += [g for g, (_, bow) in lm.ngrams(n).items() if bow is not None]
    return out


@pytest.mark.parametrize("method, order, discount", [
    ("kneser-ney", 1, None), ("kneser-ney", 2, None), ("kneser-ney", 3, None), ("kneser-ney", 4, None),
    ("kneser-ney", 3, 0.75), ("witten-bell", 2, None), ("witten-bell", 3, None),
])
def test_trained_distributions_sum_to_one(method, order, discount, tmp_path):
    lm = train_ngram(CORPUS, order=order, method=method, discount=discount)
    predicted = sorted(lm.vocab - {"<s>"})
    assert UNK in predicted and EOS in predicted
    contexts = _contexts(lm)
    assert len(contexts) >= (1 if order == 1 else 10)  # the test covers real histories
    for ctx in contexts:
        total = sum(10 ** lm.log10_prob(w, ctx) for w in predicted)
        assert total == pytest.approx(1.0, abs=1e-9), (ctx, total)
    # seen continuations beat unseen ones, every word has non-zero probability
    for ctx in contexts:
        assert lm.log10_prob("cat", ctx) > lm.log10_prob(UNK, ctx) > -99
    # a trained model survives the ARPA round trip
    lm.save(tmp_path / "lm.arpa")
    again = ArpaLM.load(tmp_path / "lm.arpa")
    assert again.perplexity(CORPUS) == pytest.approx(lm.perplexity(CORPUS), rel=1e-12)


def test_training_rejects_bad_arguments():
    with pytest.raises(ValueError, match="smoothing method"):
        train_ngram(CORPUS, method="add-one")
    with pytest.raises(ValueError, match="order"):
        train_ngram(CORPUS, order=0)
    with pytest.raises(ValueError, match="no sentences"):
        train_ngram([], order=2)


def test_build_lm_from_pipe_separated_file(tmp_path):
    src = tmp_path / "meta.csv"
    src.write_text("id1|Raw Text.|The cat sat, 2 times!\nid2|x|A dog.\n\n", encoding="utf-8")
    assert read_sentences(src) == [["the", "cat", "sat", "two", "times"], ["a", "dog"]]
    lm = build_lm(src, tmp_path / "out" / "lm.arpa", order=2)
    assert ArpaLM.load(tmp_path / "out" / "lm.arpa").ngrams(2) == lm.ngrams(2)
    assert {"the", "two", "dog"} <= lm.vocab


def _add_one_unigram(train):
    counts: dict[str, int] = {}
    for words in train:
        for w in [*words, EOS]:
            counts[w] = counts.get(w, 0) + 1
    counts.setdefault(UNK, 0)
    n, v = sum(counts.values()), len(counts)
    probs = {(w,): math.log10((c + 1) / (n + v)) for w, c in counts.items()}
    probs[("<s>",)] = -99.0
    return ArpaLM(probs)


def test_kneser_ney_beats_baselines_on_ljspeech():
    path = shared_data_root() / "text" / "ljspeech_metadata_all.csv"
    if not path.is_file():
        pytest.skip(f"LJSpeech text not found at {path} (set SPEECH_DATA)")
    sentences = read_sentences(path)
    assert len(sentences) > 13000
    train, test = sentences[:12000], sentences[12000:]
    ppl = {
        "add-one unigram": _add_one_unigram(train).perplexity(test),
        "kn unigram": train_ngram(train, order=1).perplexity(test),
        "kn trigram": train_ngram(train, order=3).perplexity(test),
        "wb trigram": train_ngram(train, order=3, method="witten-bell").perplexity(test),
    }
    print("held-out perplexities:", {k: round(v, 1) for k, v in ppl.items()})
    assert ppl["kn trigram"] < 0.5 * ppl["add-one unigram"]
    assert ppl["kn trigram"] < 0.5 * ppl["kn unigram"]
    assert ppl["kn trigram"] < ppl["wb trigram"] < ppl["add-one unigram"]
