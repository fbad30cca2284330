import torch

from speech.decoding import ErrorStats, align_errors, cer, ctc_greedy_decode, edit_distance, error_stats, wer


def test_edit_distance_known_cases():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance([], []) == 0


def test_error_breakdown():
    ref = "the cat sat on the mat".split()
    hyp = "the cat sit on mat today".split()
    s, d, i = align_errors(ref, hyp)
    assert (s, d, i) in {(1, 1, 1), (2, 0, 0)} or s + d + i == 3
    assert s + d + i == edit_distance(ref, hyp) == 3


def test_wer_and_cer_values():
    assert wer("one two three four", "one two three four") == 0.0
    assert wer("one two three four", "one too three") == 0.5  # 1 sub + 1 del over 4 words
    assert wer(["a b", "c d"], ["a b", "c"]) == 0.25
    assert abs(cer("abcd", "abxd") - 0.25) < 1e-12
    # insertions can push WER above 1
    assert wer("a", "b c d") == 3.0
    stats = error_stats(["a b c"], ["a x c d"])
    assert (stats.substitutions, stats.deletions, stats.insertions, stats.reference_length) == (1, 0, 1, 3)


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
