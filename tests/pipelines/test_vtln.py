"""Test-time vocal tract length normalization: the candidate margin, the warp estimate, and the
Transcriber's warp."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from speech.pipelines.vtln import DEFAULT_WARPS, candidate_margin, estimate_warp

DIGITS = "zero one two three four five six seven eight nine".split()


def test_candidate_margin_matches_a_hand_computed_ctc_case():
    # 2 frames over {blank, a, b}; "a" is read by the paths (a, a), (a, -), (-, a); "b" by (b, b), (b, -), (-, b)
    p = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    lp = torch.tensor(np.log(p), dtype=torch.float32)
    pa = p[0, 1] * p[1, 1] + p[0, 1] * p[1, 0] + p[0, 0] * p[1, 1]
    pb = p[0, 2] * p[1, 2] + p[0, 2] * p[1, 0] + p[0, 0] * p[1, 2]
    # "ab" fits two frames only as (a, b)
    pab = p[0, 1] * p[1, 2]
    m = candidate_margin(lp, [torch.tensor([1]), torch.tensor([2]), torch.tensor([1, 2])])
    assert m == pytest.approx(math.log(pa) - math.log(pb), abs=1e-5)
    assert pb > pab  # the second best is "b", not "ab"


def test_candidate_margin_needs_two_candidates_that_fit():
    lp = torch.log_softmax(torch.randn(1, 3), -1)
    # one frame holds "a" but not "a a" (a repeated label needs a blank between: 3 frames)
    assert candidate_margin(lp, [torch.tensor([1]), torch.tensor([1, 1])]) is None
    with pytest.raises(ValueError, match="at least two"):
        candidate_margin(lp, [torch.tensor([1])])


def test_estimate_warp_refuses_bad_arguments(tiny_package):
    from speech.packages.asr import load_asr_package

    pkg = load_asr_package(tiny_package)
    wav = np.zeros(8000, dtype=np.float32)
    with pytest.raises(ValueError, match="at least two"):
        estimate_warp(pkg, [wav], ["one"])
    with pytest.raises(ValueError, match="0.5 to 2.0"):
        estimate_warp(pkg, [wav], ["one", "two"], warps=[0.9, 2.5])
    with pytest.raises(ValueError, match="0.5 to 2.0"):
        estimate_warp(pkg, [wav], ["one", "two"], warps=[])
    with pytest.raises(ValueError, match="candidate '@@'"):
        estimate_warp(pkg, [wav], ["one", "@@"])
    with pytest.raises(ValueError, match="long enough"):
        estimate_warp(pkg, [np.zeros(400, dtype=np.float32)], ["three", "zero"])


def test_transcriber_warp_is_checked_and_changes_only_the_features(tiny_package):
    from speech.pipelines.transcriber import Transcriber

    for bad in (0.3, 2.5, True, "1.1"):
        with pytest.raises(ValueError, match="warp"):
            Transcriber(tiny_package, warp=bad)
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    plain, same, warped = (Transcriber(tiny_package, warp=a) for a in (1.0, 1.0, 1.1))
    lp0, _ = plain._log_probs([wav])
    lp1, _ = same._log_probs([wav])
    lp2, _ = warped._log_probs([wav])
    assert torch.equal(lp0, lp1)
    assert lp2.shape == lp0.shape and not torch.allclose(lp0, lp2)


def _scale_frequencies(wav: np.ndarray, factor: float, sr: int) -> np.ndarray:
    """Every frequency of ``wav`` times ``factor`` (and the clip 1/factor as long): played back faster."""
    from speech.audio.read import resample

    return resample(wav, int(round(sr * factor)), sr).astype(np.float32)


def test_estimate_warp_undoes_a_known_frequency_scaling(data_root):
    """A voice whose every frequency is raised by 15% (formants of a shorter vocal tract) needs the
    spectrum squeezed back: the estimate moves from about 1.0 to the bottom of the grid, and for the
    voice lowered by 15% to the top."""
    from speech.audio import load
    from speech.packages.asr import load_asr_package
    from speech.packages.registry import resolve_model

    pkg = load_asr_package(resolve_model("digits"))
    files = [data_root / "fsdd" / "recordings" / f"{d}_jackson_{i}.wav" for d in range(10) for i in range(2)]
    wavs = [load(f, pkg.sample_rate)[0] for f in files]
    as_recorded = estimate_warp(pkg, wavs, DIGITS)
    raised = estimate_warp(pkg, [_scale_frequencies(w, 1.15, pkg.sample_rate) for w in wavs], DIGITS)
    lowered = estimate_warp(pkg, [_scale_frequencies(w, 1 / 1.15, pkg.sample_rate) for w in wavs], DIGITS)
    assert as_recorded.clips == raised.clips == lowered.clips == 20
    assert set(raised.scores) == set(DEFAULT_WARPS)
    assert 0.95 <= as_recorded.warp <= 1.05, as_recorded.scores
    assert raised.warp <= 0.9, raised.scores
    assert lowered.warp >= 1.1, lowered.scores
