import random

import pytest
import torch

from speech.decoding import (
    ErrorStats,
    align_errors,
    cer,
    ctc_greedy_decode,
    edit_distance,
    error_stats,
    wer,
)


def _levenshtein(a, b) -> int:
    """Textbook Wagner-Fischer distance: the independent check of S + D + I."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def _random_pairs(seed: int, n: int, unit: str):
    """Seeded (ref, hyp) strings from a small alphabet, so that pairs share items and ties are common."""
    rng = random.Random(seed)
    items = "the a of cat sat on mat one two".split() if unit == "word" else list("abcd ")
    sep = " " if unit == "word" else ""
    pairs = []
    for _ in range(n):
        ref = [rng.choice(items) for _ in range(rng.randint(1, 15))]
        hyp = list(ref)
        for _ in range(rng.randint(0, 6)):  # random edits of the reference
            op, k = rng.randrange(3), rng.randrange(len(hyp) + 1)
            if op == 0:
                hyp.insert(k, rng.choice(items))
            elif hyp and k < len(hyp):
                if op == 1:
                    del hyp[k]
                else:
                    hyp[k] = rng.choice(items)
        ref_s, hyp_s = " ".join(sep.join(ref).split()), " ".join(sep.join(hyp).split())
        pairs.append((ref_s or items[0], hyp_s))
    return pairs


def test_edit_distance_known_cases():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance([], []) == 0


def test_items_compare_by_equality():
    assert edit_distance("ab", ["a", "b"]) == 0
    assert edit_distance(["AH0", "L"], ["AH1", "L"]) == 1
    assert edit_distance([[1], [2]], [[1], [3], [2]]) == 1  # unhashable items
    assert align_errors([[1], [2]], [[2]]) == (0, 1, 0)


def test_error_breakdown():
    ref = "the cat sat on the mat".split()
    hyp = "the cat sit on mat today".split()
    s, d, i = align_errors(ref, hyp)
    assert (s, d, i) in {(1, 1, 1), (2, 0, 0)} or s + d + i == 3
    assert s + d + i == edit_distance(ref, hyp) == 3
    assert align_errors("abc", "abc") == (0, 0, 0)
    assert align_errors("abcd", "ad") == (0, 2, 0)
    assert align_errors("ad", "abcd") == (0, 0, 2)


@pytest.mark.parametrize("unit", ["word", "char"])
def test_total_errors_equal_levenshtein_distance(unit):
    for ref, hyp in _random_pairs(1, 300, unit):
        r, h = (ref.split(), hyp.split()) if unit == "word" else (ref, hyp)
        s, d, i = align_errors(r, h)
        assert s + d + i == edit_distance(r, h) == _levenshtein(r, h), (ref, hyp)
        assert len(r) - d == len(h) - i  # hits + substitutions, counted from either side


@pytest.mark.parametrize("unit", ["word", "char"])
def test_split_agrees_with_jiwer(unit):
    jiwer = pytest.importorskip("jiwer", reason="jiwer (a dev dependency) is the oracle for the S/D/I split")
    process = jiwer.process_words if unit == "word" else jiwer.process_characters
    pairs = _random_pairs(2, 400, unit)
    total = ErrorStats()
    for ref, hyp in pairs:
        out = process(ref, hyp)
        expected = (out.substitutions, out.deletions, out.insertions)
        r, h = (ref.split(), hyp.split()) if unit == "word" else (ref, hyp)
        assert align_errors(r, h) == expected, (ref, hyp)
        total += error_stats([ref], [hyp], unit)
    out = process([r for r, _ in pairs], [h for _, h in pairs])
    corpus = error_stats([r for r, _ in pairs], [h for _, h in pairs], unit)
    assert (corpus.substitutions, corpus.deletions, corpus.insertions) == (out.substitutions, out.deletions,
                                                                             out.insertions)
    assert corpus == total
    assert corpus.rate == pytest.approx(out.wer if unit == "word" else out.cer)


def test_wer_and_cer_values():
    assert wer("one two three four", "one two three four") == 0.0
    assert wer("one two three four", "one too three") == 0.5  # 1 sub + 1 del over 4 words
    assert wer(["a b", "c d"], ["a b", "c"]) == 0.25
    assert abs(cer("abcd", "abxd") - 0.25) < 1e-12
    assert cer("a  b", "a b") == 0.0  # runs of whitespace are one space
    # insertions can push WER above 1
    assert wer("a", "b c d") == 3.0
    stats = error_stats(["a b c"], ["a x c d"])
    assert (stats.substitutions, stats.deletions, stats.insertions, stats.reference_length) == (1, 0, 1, 3)


def test_error_stats_rejects_bad_input():
    with pytest.raises(ValueError, match="unit must be 'word' or 'char', got 'phone'"):
        error_stats([], [], "phone")
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        error_stats(["a", "b"], ["a"])


def test_empty_reference_rates():
    assert ErrorStats().rate == 0.0
    assert wer("", "") == 0.0
    assert wer("", "x") == float("inf")


def test_ctc_greedy_collapses_repeats_and_blanks():
    # frames: a a _ a b b _ _ (blank=0, a=1, b=2) -> a a b ; padded frames beyond length ignored
    seq = [1, 1, 0, 1, 2, 2, 0, 0]
    lp = torch.full((2, 10, 3), -10.0)
    for t, k in enumerate(seq):
        lp[0, t, k] = 0.0
    lp[0, 8:, 2] = 0.0  # beyond length: must not be decoded
    lp[1, :, 0] = 0.0
    out = ctc_greedy_decode(lp, torch.tensor([8, 10]))
    assert out == [[1, 1, 2], []]
