"""CTC prefix beam search: agreement with greedy decoding and brute force, LM / lexicon / bonus effects."""
from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from speech.decoding.beam import BeamSearchConfig, CTCPrefixBeamSearch, Lexicon
from speech.decoding.greedy import ctc_greedy_decode
from speech.decoding.lm import ArpaLM
from speech.text.tokenizer import CharTokenizer

TOK = CharTokenizer(list("|abcdefghijklmnopqrstuvwxyz'"))
VOCAB = TOK.vocab
REPO = Path(__file__).resolve().parents[2]


def frames(*specs: dict[str, float] | str) -> torch.Tensor:
    """(T, V) log-probs: each frame is {symbol: prob} ('_' = blank) or one symbol with prob 0.999;
    the remaining mass is spread evenly over the other symbols."""
    rows = []
    for spec in specs:
        if isinstance(spec, str):
            spec = {spec: 0.999}
        row = np.zeros(len(VOCAB))
        for sym, p in spec.items():
            row[VOCAB.index("<blank>" if sym == "_" else sym)] = p
        free = row == 0
        row[free] = max(1.0 - row.sum(), 1e-9) / free.sum()
        rows.append(np.log(row / row.sum()))
    return torch.tensor(np.array(rows).reshape(len(rows), len(VOCAB)), dtype=torch.float32)


def search(**kw) -> CTCPrefixBeamSearch:
    lm = kw.pop("lm", None)
    return CTCPrefixBeamSearch(VOCAB, lm=lm, cfg=BeamSearchConfig(**kw))


def test_beam_one_without_lm_equals_greedy_on_random_inputs():
    g = torch.Generator().manual_seed(0)
    dec = search(beam_size=1, word_bonus=0.0, lm_weight=0.0)
    symbols = torch.tensor([0, 0, 1, 2, 3, 4])  # blank-heavy, spaces, few letters -> repeats and double spaces
    b, t = 24, 30
    best = symbols[torch.randint(len(symbols), (b, t), generator=g)]
    logits = torch.randn(b, t, len(VOCAB), generator=g) + 9.0 * torch.nn.functional.one_hot(best, len(VOCAB))
    log_probs = logits.log_softmax(-1)
    lengths = torch.randint(0, t + 1, (b,), generator=g)
    want = [TOK.decode(ids) for ids in ctc_greedy_decode(log_probs, lengths)]
    assert sum(len(w) > 3 for w in want) > b // 2 and any(" " in w for w in want)
    assert dec(log_probs, lengths) == want


def test_scores_are_exact_prefix_probabilities_by_brute_force():
    vocab = ["<blank>", "a", "b"]
    g = torch.Generator().manual_seed(1)
    lp = torch.randn(4, 3, generator=g).log_softmax(-1).double()
    brute: dict[str, float] = {}
    for path in itertools.product(range(3), repeat=4):
        out = [c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c)]
        text = "".join(vocab[c] for c in out)
        brute[text] = brute.get(text, 0.0) + math.exp(sum(lp[t, c].item() for t, c in enumerate(path)))
    dec = CTCPrefixBeamSearch(vocab, cfg=BeamSearchConfig(beam_size=1000, word_bonus=0.0, prune_logp=-1e9))
    nbest = dict(dec.decode(lp))
    assert set(nbest) == set(brute)
    for text, p in brute.items():
        assert nbest[text] == pytest.approx(math.log(p), abs=1e-9)


def test_beam_finds_the_most_probable_prefix_where_greedy_fails():
    lp = frames({"a": 0.4, "_": 0.6}, {"a": 0.4, "_": 0.6})
    assert TOK.decode(ctc_greedy_decode(lp[None], torch.tensor([2]))[0]) == ""  # best single path: blank blank
    nbest = search(word_bonus=0.0).decode(lp)
    assert nbest[0][0] == "a"  # aa + a_ + _a = 0.64 > 0.36
    assert nbest[0][1] == pytest.approx(math.log(0.4 * 0.4 + 2 * 0.4 * 0.6), abs=1e-5)
    assert dict(nbest)[""] == pytest.approx(math.log(0.36), abs=1e-5)


def test_repeated_letters_need_a_blank():
    dec = search()
    assert dec.decode(frames("h", "e", "l", "l", "o"))[0][0] == "helo"
    assert dec.decode(frames("h", "e", "l", "_", "l", "o"))[0][0] == "hello"
    assert dec.decode(frames("h", "h", "e", "l", "l", "_", "_", "l", "o", "o", "|", "|", "_"))[0][0] == "hello"


def unigram_lm(**log10: float) -> ArpaLM:
    probs = {(w,): p for w, p in log10.items()}
    probs.update({("<s>",): -99.0, ("</s>",): -0.1})
    return ArpaLM(probs)


def test_lm_flips_acoustically_ambiguous_word():
    lp = frames("r", "e", {"a": 0.45, "_": 0.55}, "d")
    assert search().decode(lp)[0][0] == "red"
    lm = unigram_lm(read=-0.5, red=-2.5)
    nbest = dict(search(lm=lm, lm_weight=1.0).decode(lp))
    assert max(nbest, key=nbest.get) == "read"
    # the LM term is exactly lm_weight * ln(10) * (difference of log10 probs)
    assert nbest["read"] - nbest["red"] == pytest.approx(math.log(0.45 / 0.55) + math.log(10) * 2.0, abs=1e-4)
    # a small weight leaves the acoustics in charge
    assert search(lm=lm, lm_weight=0.01).decode(lp)[0][0] == "red"


def test_lm_history_across_words():
    """A bigram LM decides the second word from the first."""
    probs = {("<s>",): -99.0, ("</s>",): -1.0, ("i",): -1.0, ("read",): -1.0, ("red",): -1.0,
             ("<s>", "i"): -0.1, ("i", "read"): -0.05, ("i", "red"): -3.0}
    lm = ArpaLM(probs, {("<s>",): 0.0, ("i",): -0.5})
    lp = frames("i", "|", "r", "e", {"a": 0.4, "_": 0.6}, "d")
    assert search(beam_size=8).decode(lp)[0][0] == "i red"
    assert search(lm=lm, lm_weight=1.0, beam_size=8).decode(lp)[0][0] == "i read"


def test_lexicon_forbids_non_words(tmp_path):
    lp = frames("h", "e", "l", {"l": 0.6, "_": 0.4}, "l", "o", "|", "w", {"o": 0.3, "_": 0.7}, "r", "l", "d")
    assert search().decode(lp)[0][0] == "helo wrld"
    words = tmp_path / "words.txt"
    words.write_text("hello 1\nworld\nhelp\n", encoding="utf-8")
    nbest = search(lexicon=str(words)).decode(lp)
    assert nbest[0][0] == "hello world"
    lex = Lexicon(["hello", "world", "help"])
    assert all(all(w in lex for w in text.split()) for text, _ in nbest)
    # nothing in the lexicon fits: only the empty text is left
    words.write_text("zzz\n", encoding="utf-8")
    assert [text for text, _ in search(lexicon=str(words)).decode(lp)] == [""]


def test_word_bonus_inserts_words():
    lp = frames("a", {"|": 0.4, "_": 0.6}, "b")
    assert search(word_bonus=0.0).decode(lp)[0][0] == "ab"
    assert search(word_bonus=2.0).decode(lp)[0][0] == "a b"
    nbest = dict(search(word_bonus=2.0).decode(lp))
    assert nbest["a b"] - nbest["ab"] == pytest.approx(math.log(0.4 / 0.6) + 2.0, abs=1e-4)


def test_empty_input_gives_empty_text():
    dec = search(lm=unigram_lm(a=-0.5))
    empty = torch.zeros(0, len(VOCAB))
    text, score = dec.decode(empty)[0]
    assert text == "" and score == pytest.approx(-0.5 * math.log(10) * 0.1)
    assert dec(torch.zeros(2, 0, len(VOCAB)), torch.tensor([0, 0])) == ["", ""]
    assert dec(frames("a", "b")[None], torch.tensor([0])) == [""]
    with pytest.raises(ValueError, match="classes"):
        dec.decode(torch.zeros(3, 5))


def test_pruning_keeps_results_on_peaky_input():
    g = torch.Generator().manual_seed(3)
    best = torch.randint(0, 6, (40,), generator=g)
    lp = (torch.randn(40, len(VOCAB), generator=g) + 12.0 * torch.nn.functional.one_hot(best, len(VOCAB))).log_softmax(-1)
    wide = search(prune_logp=-1e9, beam_size=8).decode(lp)
    narrow = search(prune_logp=-5.0, beam_size=8).decode(lp)
    assert wide[0][0] == narrow[0][0]
    assert wide[0][1] == pytest.approx(narrow[0][1], abs=1e-3)


def test_config_file_builds_the_dataclass():
    path = REPO / "conf" / "decoding" / "beam.yaml"
    raw = yaml.safe_load(path.read_text())
    assert raw.pop("_target_") == "speech.decoding.beam.BeamSearchConfig"
    assert BeamSearchConfig(**raw) == BeamSearchConfig()
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):  # every field has a comment right above it
        if line and not line.startswith("#") and not line.startswith("_target_"):
            assert lines[i - 1].startswith("#"), line
