"""AsrDataset augmentations: speed perturbation, silence padding and edge trimming, channel and noise."""
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.data.dataset import AsrDataset, collate_asr
from speech.data.manifest import Utterance
from speech.features import FbankConfig, log_mel
from speech.text import CharTokenizer

SR = 8000


@pytest.fixture
def utts(tmp_path):
    rng = np.random.default_rng(0)
    out = []
    for k, seconds in enumerate((0.5, 0.8)):
        path = tmp_path / f"u{k}.wav"
        sf.write(path, (0.2 * rng.standard_normal(int(seconds * SR))).astype(np.float32), SR)
        out.append(Utterance(id=f"u{k}", audio=str(path), text="a b", duration=seconds))
    return out


def fbank():
    return FbankConfig(sample_rate=SR, n_mels=20)


def test_speed_perturbation_changes_length_by_the_factor(utts):
    tok = CharTokenizer.build(["a b"])
    ds = AsrDataset(utts, tok, fbank(), speed_factors=[0.9, 1.0, 1.1])
    assert len(ds) == 3 * len(utts)
    plain = [ds[len(utts) + j]["feats"].shape[0] for j in range(len(utts))]
    for k, f in enumerate((0.9, 1.0, 1.1)):
        for j in range(len(utts)):
            item = ds[k * len(utts) + j]
            assert item["feats"].shape[0] == pytest.approx(plain[j] / f, abs=2)
            assert item["id"] == (utts[j].id if f == 1.0 else f"{utts[j].id}@{f:g}")
    with pytest.raises(ValueError, match="speed_perturb"):
        AsrDataset(utts, tok, fbank(), speed_factors=[0.0])


def test_quantized_copies_follow_the_speeds_and_carry_8_bit_audio(utts):
    tok = CharTokenizer.build(["a b"])
    ds = AsrDataset(utts, tok, fbank(), speed_factors=[0.9, 1.0], quantize_bits=[8], cache_features=True)
    n = len(utts)
    assert len(ds) == 3 * n and ds.durations[2 * n:] == [u.duration for u in utts]
    for j, u in enumerate(utts):
        item = ds[2 * n + j]
        assert item["id"] == f"{u.id}@8bit"
        wav = torch.from_numpy(sf.read(u.audio, dtype="float32")[0])
        expected = log_mel(torch.clamp(torch.round(wav * 127), -128, 127) / 127, fbank())
        torch.testing.assert_close(item["feats"], expected)
        assert not torch.allclose(item["feats"], ds[n + j]["feats"])  # the full-resolution copy differs
    with pytest.raises(ValueError, match="quantize_bits"):
        AsrDataset(utts, tok, fbank(), quantize_bits=[1])


def test_silence_padding_adds_log_floor_frames_at_random(utts):
    tok = CharTokenizer.build(["a b"])
    cfg = fbank()
    ds = AsrDataset(utts, tok, cfg, pad_silence=0.3)
    base = ds.features(0)
    wav, _ = sf.read(utts[0].audio, dtype="float32")
    assert torch.equal(base, log_mel(torch.from_numpy(wav), cfg))
    seen = set()
    torch.manual_seed(0)
    for _ in range(40):
        x = ds[0]["feats"]
        extra = x.shape[0] - base.shape[0]
        assert 0 <= extra <= 2 * 30
        # the utterance sits unchanged between runs of floor-valued frames
        left = int((x == math.log(cfg.log_floor)).all(dim=1).int().argmin())
        assert torch.equal(x[left:left + base.shape[0]], base)
        assert torch.all(x[:left] == math.log(cfg.log_floor)) and torch.all(x[left + base.shape[0]:] == math.log(cfg.log_floor))
        seen.add(extra)
    assert len(seen) > 5  # drawn anew each time
    batch = collate_asr([ds[0], ds[1]])
    assert batch.feats.shape[0] == 2
    # the same RNG state gives the same padding (exact resume)
    torch.manual_seed(3)
    a = ds[1]["feats"].shape[0]
    torch.manual_seed(3)
    assert ds[1]["feats"].shape[0] == a
    with pytest.raises(ValueError, match="pad_silence"):
        AsrDataset(utts, tok, cfg, pad_silence=-1)
    with pytest.raises(ValueError, match="pad_silence"):
        AsrDataset(utts, tok, cfg, pad_silence=0.2, frame_labels={"u0": np.zeros(3, np.int64)})


def test_edge_trimming_cuts_a_random_slice_at_most_a_fifth_a_side(utts):
    tok = CharTokenizer.build(["a b"])
    ds = AsrDataset(utts, tok, fbank(), trim_edges=0.2)  # 20 frames a side, capped at a fifth of the clip
    for j in range(len(utts)):
        base = ds.features(j)
        n, cap = base.shape[0], min(20, base.shape[0] // 5)
        seen = set()
        torch.manual_seed(j)
        for _ in range(40):
            x = ds[j]["feats"]
            cut = n - x.shape[0]
            assert 0 <= cut <= 2 * cap
            # a contiguous slice of the untouched features: find where it starts
            m = x.shape[0]
            starts = [s for s in range(cap + 1) if s + m <= n and torch.equal(base[s:s + m], x)]
            assert starts and n - starts[0] - m <= cap
            seen.add((starts[0], m))
        assert len(seen) > 5  # drawn anew each time
    torch.manual_seed(5)
    a = ds[1]["feats"]
    torch.manual_seed(5)
    assert torch.equal(ds[1]["feats"], a)  # the same RNG state, the same cut (exact resume)
    # trimming then padding: the padded item still holds the trimmed utterance
    both = AsrDataset(utts, tok, fbank(), trim_edges=0.05, pad_silence=0.05)
    x = both[0]["feats"]
    speech = x[~(x == math.log(fbank().log_floor)).all(dim=1)]
    assert speech.shape[0] <= ds.features(0).shape[0]
    with pytest.raises(ValueError, match="trim_edges"):
        AsrDataset(utts, tok, fbank(), trim_edges=-0.1)
    with pytest.raises(ValueError, match="trim_edges"):
        AsrDataset(utts, tok, fbank(), trim_edges=0.1, frame_labels={"u0": np.zeros(3, np.int64)})


def test_vtlp_warps_training_items_but_not_the_features(utts):
    from speech.features.channel import warp_logmel

    tok = CharTokenizer.build(["a b"])
    plain = AsrDataset(utts, tok, fbank(), cache_features=True)
    warped = AsrDataset(utts, tok, fbank(), cache_features=True, vtlp=[0.85, 1.15])
    torch.manual_seed(3)
    for j in range(len(utts)):
        a, b = plain[j]["feats"], warped[j]["feats"]
        assert a.shape == b.shape and not torch.allclose(a, b)
        assert torch.equal(warped.features(j), a)
    # the draw is a factor in the range, applied by warp_logmel: one of a fine grid of factors reproduces it
    torch.manual_seed(3)
    b = warped[0]["feats"]
    a = plain.features(0)
    errs = [float((warp_logmel(a, fbank(), f) - b).abs().max()) for f in np.linspace(0.85, 1.15, 301)]
    assert min(errs) < 0.05 * float((a - b).abs().max())
    fixed = AsrDataset(utts, tok, fbank(), vtlp=[1.0, 1.0])
    assert torch.equal(fixed[0]["feats"], plain[0]["feats"])


def test_noise_tilt_and_eq_change_training_items_but_not_the_features(utts):
    from speech.data.dataset import DataConfig

    tok = CharTokenizer.build(["a b"])
    plain = AsrDataset(utts, tok, fbank(), cache_features=True)
    noisy = AsrDataset(utts, tok, fbank(), cache_features=True, noise_snr_db=[0, 5], noise_prob=1.0, tilt_db=6.0,
                        eq_db=6.0)
    torch.manual_seed(0)
    for j in range(len(utts)):
        a, b = plain[j]["feats"], noisy[j]["feats"]
        assert a.shape == b.shape and not torch.allclose(a, b)
        assert torch.equal(noisy.features(j), a)  # the cached features (CMVN statistics) stay clean
    off = AsrDataset(utts, tok, fbank(), noise_snr_db=[0, 5], noise_prob=0.0)
    assert torch.equal(off[0]["feats"], plain[0]["feats"])
    for bad in ({"noise_snr_db": [30, 5]}, {"noise_prob": -0.1}, {"tilt_db": -3.0}, {"eq_db": -1.0},
                {"vtlp": [1.1, 0.9]}, {"lowpass_hz": [3000, 1000]}, {"lowpass_hz": [0, 1000]},
                {"lowpass_prob": 2.0}):
        with pytest.raises(ValueError, match=f"data.{next(iter(bad))}"):
            AsrDataset(utts, tok, fbank(), **bad)
    for bad in ({"noise_snr_db": [5]}, {"noise_prob": 1.5}, {"tilt_db": -1.0}, {"eq_db": -2.0},
                {"vtlp": [0.9, 3.0]}, {"vtlp": [1.0]}, {"trim_edges": -0.05}, {"lowpass_hz": [2000]},
                {"lowpass_hz": [-5, 1000]}, {"lowpass_prob": -0.5}):
        with pytest.raises(ValueError, match=f"data.{next(iter(bad))}"):
            DataConfig(**bad)


def test_lowpass_cuts_only_the_bands_above_a_drawn_cutoff_of_some_items(utts):
    from speech.features.channel import band_centres_hz

    tok = CharTokenizer.build(["a b"])
    plain = AsrDataset(utts, tok, fbank(), cache_features=True)
    cut = AsrDataset(utts, tok, fbank(), cache_features=True, lowpass_hz=[1000, 2000], lowpass_prob=1.0)
    centres = band_centres_hz(fbank())
    torch.manual_seed(0)
    cutoffs = []
    for _ in range(5):
        for j in range(len(utts)):
            a, b = plain.features(j), cut[j]["feats"]
            assert torch.equal(cut.features(j), a)  # the cached features stay
            assert torch.equal(b[:, centres <= 1000], a[:, centres <= 1000])
            assert torch.all(b[:, centres > 2000] < a[:, centres > 2000])
            changed = (b != a).any(0).numpy()
            cutoffs.append(centres[changed].min())
    assert len(set(np.round(cutoffs))) > 1  # the cut-off is drawn anew
    never = AsrDataset(utts, tok, fbank(), cache_features=True, lowpass_hz=[1000, 2000], lowpass_prob=0.0)
    assert torch.equal(never[0]["feats"], plain[0]["feats"])
