"""Channel augmentation on log-mel features: noise mixed at an SNR, microphone tilt, colored noise."""
import math

import numpy as np
import pytest
import torch

from speech.features import FbankConfig, log_mel
from speech.features.channel import (
    NOISE_COLORS,
    add_noise_logmel,
    band_centres_hz,
    colored_noise,
    eq_logmel,
    lowpass_gain_db,
    noise_bank,
    random_eq_db,
    sample_noise_frames,
    tilt_logmel,
    warp_logmel,
    warp_source_bands,
)

SR = 8000


def cfg():
    return FbankConfig(sample_rate=SR, n_mels=40)


def speechlike(seconds=2.0, seed=0):
    """A harmonic tone with a syllable-rate envelope and silent gaps: unlike the noise in every band."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 20))
    env = np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    return (0.1 * x * env).astype(np.float32)


def test_noise_is_mixed_at_the_requested_snr():
    feats = log_mel(torch.from_numpy(speechlike()), cfg())
    noise = noise_bank(cfg(), seconds=3.0)[0][: feats.shape[0]]
    for snr in (0.0, 10.0, 25.0):
        mixed = add_noise_logmel(feats, noise, snr)
        added = (mixed.exp() - feats.exp()).sum(-1).mean()
        ratio = feats.exp().sum(-1).mean() / added
        assert 10 * math.log10(float(ratio)) == pytest.approx(snr, abs=1e-3)
        assert (mixed >= feats - 1e-5).all()  # noise only ever adds power
    # a louder noise fills the gaps between syllables more: the quietest frames rise
    quiet = feats.exp().sum(-1).argsort()[:10]
    rise = [float((add_noise_logmel(feats, noise, s)[quiet] - feats[quiet]).mean()) for s in (25.0, 5.0)]
    assert rise[1] > rise[0] > 0


def test_mixing_in_the_mel_power_domain_matches_mixing_the_waveforms():
    c = cfg()
    speech = speechlike(seconds=3.0)
    noise = colored_noise(speech.shape[0], "pink", np.random.default_rng(1))
    snr = 5.0
    s_feats, n_feats = log_mel(torch.from_numpy(speech), c), log_mel(torch.from_numpy(noise), c)
    gain = math.sqrt(float(s_feats.exp().sum(-1).mean() / n_feats.exp().sum(-1).mean()) / 10 ** (snr / 10))
    truth = log_mel(torch.from_numpy(speech + gain * noise), c)
    approx = add_noise_logmel(s_feats, n_feats.exp(), snr)
    # per band, over the utterance, the two agree to a fraction of a dB (cross terms average out)
    band_err_db = (10 / math.log(10)) * (truth.exp().mean(0).log() - approx.exp().mean(0).log()).abs()
    assert float(band_err_db.max()) < 0.5
    # and far closer than the speech alone is to the noisy truth
    alone_db = (10 / math.log(10)) * (truth.exp().mean(0).log() - s_feats.exp().mean(0).log()).abs()
    assert float(alone_db.mean()) > 5 * float(band_err_db.mean())


def test_noise_and_speech_frames_must_agree_in_shape():
    noise = noise_bank(cfg(), seconds=1.0)[1]
    with pytest.raises(ValueError, match="differ"):
        add_noise_logmel(torch.zeros(30, 40), noise[:10], 20.0)


def test_noise_colors_fall_by_their_slope_per_octave():
    rng = np.random.default_rng(0)
    n = 2 ** 16
    f = np.fft.rfftfreq(n, 1 / SR)
    for k, color in enumerate(NOISE_COLORS):
        x = colored_noise(n, color, rng)
        assert np.sqrt(np.mean(x ** 2)) == pytest.approx(1.0, rel=1e-4)
        p = np.abs(np.fft.rfft(x)) ** 2
        octave_db = 10 * np.log10(p[(f >= 500) & (f < 1000)].mean() / p[(f >= 1000) & (f < 2000)].mean())
        assert octave_db == pytest.approx(3.0 * k, abs=0.6)
    with pytest.raises(ValueError, match="noise color"):
        colored_noise(100, "purple", rng)


def test_tilt_is_a_linear_gain_across_bands_that_spares_the_floor():
    floor = math.log(cfg().log_floor)
    feats = torch.randn(20, 40)
    feats[:5] = floor
    out = tilt_logmel(feats, 6.0, floor=floor)
    gain_db = (10 / math.log(10)) * (out[5:] - feats[5:])
    assert float(gain_db[:, -1].mean() - gain_db[:, 0].mean()) == pytest.approx(6.0, abs=1e-4)
    assert torch.allclose(gain_db, gain_db[:1].expand_as(gain_db), atol=1e-4)  # the same in every frame
    assert torch.equal(out[:5], feats[:5])
    assert torch.allclose(tilt_logmel(feats, 0.0), feats)


def test_noise_frames_are_consecutive_and_wrap():
    bank = [torch.arange(10.0)[:, None].expand(10, 3)]
    torch.manual_seed(0)
    for _ in range(5):
        got = sample_noise_frames(bank, 25)[:, 0]
        assert got.shape == (25,)
        assert torch.equal((got[1:] - got[:-1]) % 10, torch.ones(24))


def tone(freq, seconds=0.5):
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.mark.parametrize("alpha", [0.9, 1.12])
def test_warp_moves_a_tone_by_the_factor(alpha):
    """VTLP reads band k at f / alpha: a 1 kHz tone warped by alpha peaks where a tone at alpha kHz does."""
    c = cfg()
    warped = warp_logmel(log_mel(torch.from_numpy(tone(1000.0)), c), c, alpha)
    target = log_mel(torch.from_numpy(tone(1000.0 * alpha)), c)
    peak_w = warped.mean(0).argmax().item()
    peak_t = target.mean(0).argmax().item()
    assert abs(peak_w - peak_t) <= 1
    assert peak_t != log_mel(torch.from_numpy(tone(1000.0)), c).mean(0).argmax().item()


def test_warp_map_keeps_the_band_range_and_order():
    c = cfg()
    assert np.allclose(warp_source_bands(c, 1.0), np.arange(c.n_mels))
    for alpha in (0.8, 0.95, 1.05, 1.25):
        idx = warp_source_bands(c, alpha)
        assert np.all(np.diff(idx) > 0)  # monotone: no band read twice, none reversed
        assert idx[-1] == pytest.approx(c.n_mels - 1)  # the top band stays the top band
        assert idx.min() >= 0.0
        # below the knee the map is exactly f / alpha: band 10 reads from a lower band when alpha > 1
        assert (idx[10] < 10) == (alpha > 1)
    feats = torch.randn(7, c.n_mels)
    assert torch.equal(warp_logmel(feats, c, 1.0), feats)
    with pytest.raises(ValueError, match="warp factor"):
        warp_source_bands(c, 3.0)
    with pytest.raises(ValueError, match="bands"):
        warp_logmel(torch.zeros(3, c.n_mels + 1), c, 1.1)


def test_random_eq_is_a_smooth_bounded_curve_that_spares_the_floor():
    torch.manual_seed(0)
    curves = [random_eq_db(40, 8.0) for _ in range(50)]
    for g in curves:
        assert g.shape == (40,)
        assert float(g.abs().max()) <= 8.0 + 1e-4
        assert abs(float(g.mean())) < 1e-4  # a colouring, not a level change
        # four cosine terms: neighbouring bands differ by far less than the curve's range
        assert float(g.diff().abs().max()) <= 0.5 * float(g.max() - g.min()) + 1e-6
    sizes = torch.stack([g.abs().max() for g in curves])
    assert float(sizes.min()) < 3.0 and float(sizes.max()) > 6.0  # the size is drawn too
    assert not torch.allclose(curves[0], curves[1])
    floor = math.log(1e-6)
    feats = torch.full((5, 40), floor)
    feats[:, :20] = 0.0
    out = eq_logmel(feats, curves[0], floor=floor)
    assert torch.allclose(out[:, :20], (math.log(10.0) / 10.0) * curves[0][:20].expand(5, 20))
    assert torch.equal(out[:, 20:], feats[:, 20:])
    with pytest.raises(ValueError, match="gains for 41 bands"):
        eq_logmel(torch.zeros(2, 41), curves[0])


def test_lowpass_gain_is_flat_below_the_cutoff_and_falls_24_db_an_octave_above():
    c = FbankConfig(sample_rate=SR, n_mels=40)
    centres = band_centres_hz(c)
    assert np.all(np.diff(centres) > 0) and centres[0] > 0 and centres[-1] < SR / 2
    g = lowpass_gain_db(centres, 1000.0).numpy()
    assert np.all(g[centres <= 1000.0] == 0.0)
    above = centres > 1000.0
    assert np.all(np.diff(g[above]) < 0)
    # one octave above the cut-off: 24 dB down (interpolated between the bands around 2 kHz)
    assert abs(np.interp(2000.0, centres, g) + 24.0) < 0.5
    assert float(lowpass_gain_db(centres, 100.0, max_db=30.0).min()) == -30.0
    with pytest.raises(ValueError, match="cut-off"):
        lowpass_gain_db(centres, 0.0)


def test_lowpass_on_real_features_takes_away_a_high_tone_and_keeps_a_low_one():
    c = cfg()
    t = np.arange(SR) / SR
    floor = math.log(c.log_floor)
    low = log_mel(torch.from_numpy((0.1 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)), c)
    high = log_mel(torch.from_numpy((0.1 * np.sin(2 * np.pi * 3500 * t)).astype(np.float32)), c)
    gain = lowpass_gain_db(band_centres_hz(c), 1500.0)
    peak_low, peak_high = int(low.mean(0).argmax()), int(high.mean(0).argmax())
    out_low, out_high = eq_logmel(low, gain, floor=floor), eq_logmel(high, gain, floor=floor)
    assert torch.allclose(out_low[:, peak_low], low[:, peak_low])
    drop_db = float((high[:, peak_high] - out_high[:, peak_high]).mean()) * 10 / math.log(10.0)
    assert 30.0 < drop_db < 40.0  # 3500 Hz is 1.2 octaves above 1500 Hz
    # a cut never takes an energy below the log floor
    assert float(eq_logmel(torch.full((2, c.n_mels), floor + 0.1), gain, floor=floor).min()) >= floor - 1e-5
