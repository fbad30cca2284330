import math

import pytest
import torch
from torch.nn.utils import parametrize

from speech.features import tts_fbank
from speech.features.functional import log_mel
from speech.losses.gan import (
    FM_WEIGHT,
    MEL_WEIGHT,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    mel_l1_loss,
)
from speech.models.vocoders import (
    HiFiGANConfig,
    HiFiGANGenerator,
    MultiPeriodDiscriminator,
    MultiScaleDiscriminator,
    factorize_hop,
    hifigan_generator,
    hifigan_preset,
)

M = 80


@pytest.fixture(autouse=True)
def _one_thread():
    """Small models: one intra-op thread is faster than contending for a busy machine's cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _narrow(preset, hop=256, **kw):
    torch.manual_seed(0)
    return hifigan_generator(M, preset, hop, upsample_initial_channel=kw.pop("upsample_initial_channel", 32), **kw)


# ------------------------------------------------------------------ generator: lengths and presets


@pytest.mark.parametrize("preset", ["v1", "v2", "v3"])
@pytest.mark.parametrize("hop", [256, 160, 200])
def test_output_length_is_frames_times_hop(preset, hop):
    g = _narrow(preset, hop)
    assert g.hop_length == hop == math.prod(g.cfg.upsample_rates)
    for t in (1, 7):
        with torch.no_grad():
            y = g(torch.randn(2, t, M))
        assert y.shape == (2, 1, t * hop)
        assert y.abs().max() <= 1


@pytest.mark.parametrize("preset", ["v1-istft", "v3-istft"])
@pytest.mark.parametrize("hop", [256, 160, 200])
def test_istft_head_output_length_and_stages(preset, hop):
    g = _narrow(preset, hop)
    assert g.cfg.istft_n_fft == 16 and g.cfg.istft_hop == 4 and len(g.cfg.upsample_rates) == 2
    assert math.prod(g.cfg.upsample_rates) * 4 == hop
    if hop == 256:
        assert g.cfg.upsample_rates == [8, 8] and g.cfg.upsample_kernel_sizes == [16, 16]  # iSTFTNet C8C8I
    for t in (1, 7):
        with torch.no_grad():
            y = g(torch.randn(2, t, M))
        assert y.shape == (2, 1, t * hop) and torch.isfinite(y).all()


def test_istft_head_is_an_inverse_stft_of_its_prediction():
    """conv_post's channels are the log-magnitudes and phases (as arcsin(phase / pi)) of a 16-point,
    hop-4 STFT: given those of a waveform, the head gives that waveform back."""
    g = _narrow("v3-istft")
    torch.manual_seed(1)
    wav = torch.randn(1, 400)
    spec = torch.stft(wav, 16, 4, 16, torch.hann_window(16), center=True, return_complex=True)
    x = torch.cat([spec.abs().clamp_min(1e-9).log(), torch.asin(spec.angle() / math.pi)], 1)  # (1, 18, frames)
    torch.testing.assert_close(g._istft(x, 400), wav, atol=1e-4, rtol=1e-4)


def test_istft_presets_are_faster_and_smaller():
    for base in ("v1", "v3"):
        full, short = hifigan_preset(base), hifigan_preset(f"{base}-istft")
        assert len(short.upsample_rates) == 2 < len(full.upsample_rates)
        assert short.resblock == full.resblock and short.upsample_initial_channel == full.upsample_initial_channel


def test_bad_istft_fields():
    with pytest.raises(ValueError, match=r"istft_n_fft=15"):
        HiFiGANConfig(hop_length=64 * 4, upsample_rates=[8, 8], upsample_kernel_sizes=[16, 16], istft_n_fft=15,
                      istft_hop=4)
    with pytest.raises(ValueError, match=r"istft_hop=4 multiply to 512"):
        HiFiGANConfig(hop_length=256, upsample_rates=[8, 8, 2], upsample_kernel_sizes=[16, 16, 4], istft_n_fft=16,
                      istft_hop=4)
    with pytest.raises(ValueError, match=r"divisible by 4"):
        hifigan_preset("v3-istft", 250)
    with pytest.raises(ValueError, match=r"v3-istft"):
        hifigan_preset("v4-istft")


def test_real_v3_forward_on_short_input():
    torch.manual_seed(0)
    g = hifigan_generator(M, "v3")
    assert g.cfg.upsample_initial_channel == 256
    with torch.no_grad():
        y = g(torch.randn(1, 6, M))
    assert y.shape == (1, 1, 6 * 256) and torch.isfinite(y).all()


def test_published_rates_kept_at_hop_256_and_derived_elsewhere():
    assert hifigan_preset("v1").upsample_rates == [8, 8, 2, 2]
    assert hifigan_preset("v1").upsample_kernel_sizes == [16, 16, 4, 4]
    assert hifigan_preset("v3", 256).upsample_rates == [8, 8, 4]
    assert hifigan_preset("v3", 256).upsample_kernel_sizes == [16, 16, 8]
    assert hifigan_preset("v3").resblock == "2"
    assert hifigan_preset("v3").resblock_dilation_sizes == [[1, 2], [2, 6], [3, 12]]
    for preset in ("v1", "v2"):
        c = hifigan_preset(preset, 160)
        assert c.upsample_rates == [5, 4, 4, 2] and c.upsample_kernel_sizes == [10, 8, 8, 4]
        assert hifigan_preset(preset, 200).upsample_rates == [5, 5, 4, 2]
    assert hifigan_preset("v3", 160).upsample_rates == [8, 5, 4]
    assert hifigan_preset("v2", 160).upsample_initial_channel == 128
    assert factorize_hop(160, 4) == [5, 4, 4, 2]


@pytest.mark.parametrize("preset,published", [("v1", 13.92e6), ("v2", 0.925e6), ("v3", 1.46e6)])
def test_parameter_counts_match_the_paper(preset, published):
    torch.manual_seed(0)
    n = sum(p.numel() for p in hifigan_generator(M, preset).parameters())
    assert abs(n - published) / published < 0.10, n


def test_remove_weight_norm_keeps_outputs():
    for preset in ("v1", "v3", "v3-istft"):
        g = _narrow(preset)
        # larger weights than the N(0, 0.01) init so the comparison is not between near-zeros
        with torch.no_grad():
            for m in g.modules():
                if parametrize.is_parametrized(m, "weight"):
                    m.parametrizations.weight.original1.normal_(0, 0.2)
        x = torch.randn(2, 5, M)
        with torch.no_grad():
            before = g(x)
        assert before.abs().max() > 1e-3
        assert g.remove_weight_norm() is g
        assert not any(parametrize.is_parametrized(m) for m in g.modules())
        with torch.no_grad():
            after = g(x)
        torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-6)
        g.remove_weight_norm()  # no-op the second time


def test_generator_rejects_channels_first_input():
    g = _narrow("v2")
    with pytest.raises(ValueError, match=r"\(B, T, 80\)"):
        g(torch.randn(1, M, 5))


# ------------------------------------------------------------------ bad configs


def test_rates_not_multiplying_to_hop():
    with pytest.raises(ValueError, match=r"upsample_rates=\[8, 8, 2\].*hop_length=256"):
        HiFiGANConfig(hop_length=256, upsample_rates=[8, 8, 2], upsample_kernel_sizes=[16, 16, 4])
    with pytest.raises(ValueError, match=r"upsample_rates.*hop_length=160"):
        hifigan_generator(M, "v1", 160, upsample_rates=[8, 8, 2, 2])


@pytest.mark.parametrize("hop", [257, 251, 12])
def test_unfactorizable_hop(hop):
    with pytest.raises(ValueError, match=rf"hop_length={hop}.*upsample_rates"):
        hifigan_preset("v1", hop)


def test_other_bad_fields():
    with pytest.raises(ValueError, match=r"upsample_kernel_sizes=\[6, 16, 4, 4\]"):
        HiFiGANConfig(upsample_kernel_sizes=[6, 16, 4, 4])
    with pytest.raises(ValueError, match=r"upsample_kernel_sizes=\[2, 16, 4, 4, 4\]"):
        HiFiGANConfig(hop_length=128, upsample_rates=[1, 8, 2, 2, 4], upsample_kernel_sizes=[2, 16, 4, 4, 4])
    with pytest.raises(ValueError, match="resblock='3'"):
        HiFiGANConfig(resblock="3")
    with pytest.raises(ValueError, match="resblock_kernel_sizes"):
        HiFiGANConfig(resblock_kernel_sizes=[3, 4, 11])
    with pytest.raises(ValueError, match="upsample_initial_channel=8"):
        HiFiGANConfig(upsample_initial_channel=8)
    with pytest.raises(ValueError, match="preset='v9'"):
        hifigan_preset("v9")
    with pytest.raises(TypeError, match="channels"):
        hifigan_generator(M, "v1", channels=3)
    with pytest.raises(TypeError, match="HiFiGANConfig"):
        HiFiGANGenerator(M, {"resblock": "1"})


# ------------------------------------------------------------------ discriminators


@pytest.mark.parametrize("n", [997, 256, 5])
def test_multi_period_discriminator_shapes(n):
    torch.manual_seed(0)
    d = MultiPeriodDiscriminator(channel_scale=1 / 16)
    scores, fmaps = d(torch.randn(2, 1, n))
    assert len(scores) == len(fmaps) == 5
    for p, s, f in zip((2, 3, 5, 7, 11), scores, fmaps):
        assert s.dim() == 2 and s.shape[0] == 2
        assert len(f) == 6
        assert all(x.dim() == 4 and x.shape[0] == 2 and x.shape[-1] == p for x in f)
        assert f[0].shape[1] == 2  # 32 / 16 channels
    # height after the reshape: ceil(n / p); the first conv (stride 3, padding 2) gives ceil(h / 3)
    assert fmaps[0][0].shape[2] == math.ceil(math.ceil(n / 2) / 3)


def test_multi_scale_discriminator_shapes():
    torch.manual_seed(0)
    d = MultiScaleDiscriminator(channel_scale=1 / 16)
    n = 1001
    scores, fmaps = d(torch.randn(2, 1, n))
    assert len(scores) == len(fmaps) == 3
    assert [len(f) for f in fmaps] == [8, 8, 8]
    assert fmaps[0][0].shape == (2, 8, n)  # 128 / 16 channels, stride 1
    assert fmaps[1][0].shape[-1] == n // 2 + 1  # AvgPool1d(4, 2, padding=2)
    assert all(s.shape[0] == 2 for s in scores)
    names = [n for n, _ in d.discriminators[0].named_parameters()]
    assert any(n.endswith("weight.original") for n in names)  # spectral norm
    assert not any("original1" in n for n in names)
    names = [n for n, _ in d.discriminators[1].named_parameters()]
    assert any("original1" in n for n in names)  # weight norm (g, v)


def test_full_width_discriminators_have_published_sizes():
    mpd = sum(p.numel() for p in MultiPeriodDiscriminator().parameters())
    msd = sum(p.numel() for p in MultiScaleDiscriminator().parameters())
    assert abs(mpd - 41.1e6) / 41.1e6 < 0.02 and abs(msd - 29.6e6) / 29.6e6 < 0.02, (mpd, msd)


def test_discriminators_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, 1, N\)"):
        MultiPeriodDiscriminator(channel_scale=1 / 16)(torch.randn(2, 100))


# ------------------------------------------------------------------ losses


def test_discriminator_loss_hand_computed():
    total, per = discriminator_loss([torch.tensor([0.5])], [torch.tensor([0.0])])
    assert total.item() == pytest.approx(0.25) and len(per) == 1
    total, per = discriminator_loss([torch.tensor([0.5]), torch.tensor([[1.0, 0.0]])],
                                    [torch.tensor([0.0]), torch.tensor([[0.5, 1.0]])])
    # disc 0: (1 - .5)^2 + 0 = .25; disc 1: mean(0, 1) + mean(.25, 1) = .5 + .625
    assert [p.item() for p in per] == pytest.approx([0.25, 1.125])
    assert total.item() == pytest.approx(1.375)


def test_generator_adversarial_loss_hand_computed():
    loss = generator_adversarial_loss([torch.tensor([0.0]), torch.tensor([0.5, 1.0])])
    assert loss.item() == pytest.approx(1.0 + 0.125)


def test_feature_matching_loss_hand_computed_and_detaches_real():
    real = [[torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([0.0], requires_grad=True)]]
    fake = [[torch.tensor([0.0, 0.0], requires_grad=True), torch.tensor([1.0], requires_grad=True)]]
    loss = feature_matching_loss(real, fake)
    assert FM_WEIGHT == 2.0 and MEL_WEIGHT == 45.0
    assert loss.item() == pytest.approx(2.0 * (1.5 + 1.0))
    loss.backward()
    assert real[0][0].grad is None and fake[0][0].grad is not None
    with pytest.raises(ValueError, match="same non-zero number"):
        feature_matching_loss(real, [])


def test_mel_l1_loss_hand_computed():
    torch.manual_seed(0)
    real = 0.3 * torch.randn(2, 1, 4096)
    assert mel_l1_loss(real, real.clone(), tts_fbank()).item() == pytest.approx(0.0)
    fake = (2 * real).requires_grad_()
    mr = log_mel(real.squeeze(1), tts_fbank())
    assert (mr > math.log(tts_fbank().log_floor) + 2).all()  # no mel bin at the floor: doubling adds log 4
    loss = mel_l1_loss(fake, real, tts_fbank())
    assert loss.item() == pytest.approx(math.log(4.0), rel=1e-4)
    loss.backward()
    assert fake.grad is not None and torch.isfinite(fake.grad).all()
    with pytest.raises(ValueError, match="same shape"):
        mel_l1_loss(fake, real[..., :-1], tts_fbank())


def test_one_training_step_runs():
    """Generator and narrow discriminators wired through every loss, with gradients everywhere."""
    g = _narrow("v2", upsample_initial_channel=16)
    mpd, msd = MultiPeriodDiscriminator(channel_scale=1 / 32), MultiScaleDiscriminator(channel_scale=1 / 32)
    frames = 8
    real = 0.1 * torch.randn(1, 1, frames * 256)
    mel = log_mel(real.squeeze(1), tts_fbank())  # (1, frames - 3, 80) frames from this crop
    fake = g(mel)
    real = real[..., : fake.shape[-1]]
    d_loss = sum(discriminator_loss(d(real)[0], d(fake.detach())[0])[0] for d in (mpd, msd))
    d_loss.backward()
    g_loss = MEL_WEIGHT * mel_l1_loss(fake, real, tts_fbank())
    for d in (mpd, msd):
        (sr, fr), (sf, ff) = d(real), d(fake)
        g_loss = g_loss + generator_adversarial_loss(sf) + feature_matching_loss(fr, ff)
    g_loss.backward()
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(p.grad is not None for p in g.parameters())


@pytest.mark.parametrize("rates,kernels", [([5, 4, 4, 2], [10, 8, 8, 4]), ([5, 4, 4, 2], [11, 8, 8, 4]),
                                           ([3, 2], [3, 5]), ([1, 4], [1, 8])])
def test_exact_length_for_odd_and_even_kernel_minus_rate(rates, kernels):
    torch.manual_seed(0)
    hop = math.prod(rates)
    g = HiFiGANGenerator(M, HiFiGANConfig(hop_length=hop, upsample_initial_channel=16, upsample_rates=rates,
                                          upsample_kernel_sizes=kernels))
    with torch.no_grad():
        assert g(torch.randn(1, 3, M)).shape == (1, 1, 3 * hop)
