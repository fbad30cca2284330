"""Token / word spans from a forced alignment, and the JSON / TextGrid writers (speech.decoding.align)."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from speech.decoding.align import Span, to_json, to_textgrid, token_spans, word_spans
from speech.kernels.align import align_states

VOCAB = ["<b>", "|", "a", "b", "c"]
FS = 0.02


def peaked(path, C=len(VOCAB), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(len(path), C))
    x[np.arange(len(path)), path] += 8.0
    return torch.log_softmax(torch.from_numpy(x), -1)


def aligned():
    """'ab a' with a repeated 'a a' across the separator; the path is constructed and unique."""
    tokens = [2, 3, 1, 2, 2]  # a b | a a
    path = [0, 2, 2, 0, 3, 1, 1, 0, 2, 0, 2, 2, 0]
    lp = peaked(path)
    states, scores = align_states(lp[:, None], torch.tensor([tokens]), [len(path)], [len(tokens)])
    return tokens, path, lp, states[0]


def test_token_spans_boundaries_times_scores():
    tokens, path, lp, states = aligned()
    np.testing.assert_array_equal(states.numpy(), [0, 1, 1, 2, 3, 5, 5, 6, 7, 8, 9, 9, 10])
    spans = token_spans(states, lp, tokens, VOCAB, FS, offset_seconds=1.0)
    assert [s.label for s in spans] == ["a", "b", "|", "a", "a"]
    frames = [(1, 3), (4, 5), (5, 7), (8, 9), (10, 12)]  # [first, last + 1)
    for s, (a, b), tok in zip(spans, frames, tokens):
        assert s.start == pytest.approx(1.0 + a * FS) and s.end == pytest.approx(1.0 + b * FS)
        assert s.score == pytest.approx(lp[a:b, tok].double().mean().item())
    # the two consecutive 'a's are separate spans (states 7 and 9), not merged
    assert spans[3].end < spans[4].start


def test_word_spans():
    tokens, _, lp, states = aligned()
    toks = token_spans(states, lp, tokens, VOCAB, FS)
    words = word_spans(toks, [VOCAB[t] for t in tokens])
    assert [w.label for w in words] == ["ab", "aa"]
    assert words[0].start == toks[0].start and words[0].end == toks[1].end
    assert words[1].start == toks[3].start and words[1].end == toks[4].end
    assert words[0].score == pytest.approx((toks[0].score + toks[1].score) / 2)
    # SentencePiece style: a leading '▁' starts a word
    sp = [Span(t, i, i + 1, -float(i)) for i, t in enumerate(["▁he", "llo", "▁wor", "ld", "▁", "x"])]
    w = word_spans(sp, [s.label for s in sp], space_symbol="▁")
    assert [(x.label, x.start, x.end) for x in w] == [("hello", 0, 2), ("world", 2, 4), ("x", 5, 6)]
    with pytest.raises(ValueError):
        word_spans(sp, ["a"])


def test_token_spans_padding_and_infeasible():
    tokens, path, lp, states = aligned()
    padded = torch.cat([states, torch.full((4,), -1)])
    lp_p = torch.cat([lp, torch.zeros(4, lp.shape[1])])
    assert token_spans(padded, lp_p, tokens, VOCAB, FS) == token_spans(states, lp, tokens, VOCAB, FS)
    with pytest.raises(ValueError, match="no alignment"):
        token_spans(torch.full((5,), -1), lp[:5], tokens, VOCAB, FS)


def parse_textgrid(text: str):
    """Tiny parser for Praat's long TextGrid format: {tier name: [(xmin, xmax, text)]} plus (xmin, xmax)."""
    def value(line):
        v = line.split("=", 1)[1].strip()
        if v.startswith('"'):
            assert v.endswith('"') and len(v) >= 2
            inner = v[1:-1]
            assert '"' not in inner.replace('""', ""), f"unescaped quote in {v}"
            return inner.replace('""', '"')
        return float(v)

    lines = [ln.strip() for ln in text.splitlines()]
    assert lines[0] == 'File type = "ooTextFile"' and lines[1] == 'Object class = "TextGrid"'
    head = {}
    tiers, cur, iv = {}, None, None
    for ln in lines[2:]:
        if ln.startswith("intervals ["):  # an interval's header: its xmin, xmax, text follow
            iv = []
            continue
        if not ln or "=" not in ln:
            continue
        key = ln.split("=", 1)[0].strip()
        if key == "name":
            cur, iv = tiers.setdefault(value(ln), []), None
        elif cur is None:
            if key in ("xmin", "xmax", "size"):
                head[key] = value(ln)
        elif iv is not None and key in ("xmin", "xmax"):
            iv.append(value(ln))
        elif iv is not None and key == "text":
            assert len(iv) == 2
            cur.append((iv[0], iv[1], value(ln)))
            iv = None
    return head, tiers


def test_textgrid_round_trip_and_tiling(tmp_path):
    words = [Span('say "hi"', 0.1, 0.4, -0.1), Span("two words", 0.4, 0.9, -0.2)]
    tokens = [Span("s", 0.1, 0.2, -0.1), Span('"', 0.25, 0.4, -0.1), Span("t", 0.5, 0.9, -0.3)]
    path = tmp_path / "out" / "utt.TextGrid"
    to_textgrid(words, tokens, 1.25, path)
    text = path.read_text(encoding="utf-8")
    assert 'text = "say ""hi""" ' in text and 'text = """" ' in text
    head, tiers = parse_textgrid(text)
    assert head["xmin"] == 0 and head["xmax"] == 1.25 and head["size"] == 2
    assert list(tiers) == ["words", "tokens"]
    for name, spans in (("words", words), ("tokens", tokens)):
        ivs = tiers[name]
        assert ivs[0][0] == 0 and ivs[-1][1] == 1.25
        for (a0, b0, _), (a1, _, _) in zip(ivs[:-1], ivs[1:]):
            assert b0 == a1  # tiles: no gaps, no overlaps
        assert all(b > a for a, b, _ in ivs)
        assert [(a, b, t) for a, b, t in ivs if t] == [(s.start, s.end, s.label) for s in spans]
    assert [t for _, _, t in tiers["words"]] == ["", 'say "hi"', "two words", ""]
    assert not [p for p in os.listdir(path.parent) if p != "utt.TextGrid"]  # no temp file left


def test_textgrid_rejects_bad_spans(tmp_path):
    with pytest.raises(ValueError):
        to_textgrid([Span("a", 0.0, 0.5, 0), Span("b", 0.4, 0.6, 0)], [], 1.0, tmp_path / "x.TextGrid")
    with pytest.raises(ValueError):
        to_textgrid([Span("a", 0.0, 1.5, 0)], [], 1.0, tmp_path / "x.TextGrid")
    assert not list(tmp_path.iterdir())
    to_textgrid([], [], 1.0, tmp_path / "empty.TextGrid")  # empty tiers: one empty interval each
    _, tiers = parse_textgrid((tmp_path / "empty.TextGrid").read_text())
    assert tiers == {"words": [(0.0, 1.0, "")], "tokens": [(0.0, 1.0, "")]}


def test_json(tmp_path):
    tokens, _, lp, states = aligned()
    toks = token_spans(states, lp, tokens, VOCAB, FS)
    words = word_spans(toks, [VOCAB[t] for t in tokens])
    words.append(Span("ünï", 0.3, 0.4, float("-inf")))
    to_json(words, toks, tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert [w["label"] for w in doc["words"]] == ["ab", "aa", "ünï"]
    assert doc["words"][-1]["score"] is None
    assert doc["tokens"][1] == {"label": "b", "start": toks[1].start, "end": toks[1].end, "score": toks[1].score}
