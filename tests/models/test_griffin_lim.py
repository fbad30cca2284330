"""Vocoder interface and the Griffin-Lim baseline: lengths, tone/real-clip copy synthesis, errors."""
from __future__ import annotations

import math

import pytest
import torch

from speech.audio import load
from speech.features import FbankConfig, log_mel
from speech.models.vocoders.griffin_lim import GriffinLimVocoder
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import load_vocoder

CFG16 = FbankConfig()  # toolkit default: 16 kHz, 25/10 ms, n_fft 512, pre-emphasis 0.97
CFG22 = FbankConfig(sample_rate=22050, n_mels=80, win_ms=1024 / 22.05, hop_ms=256 / 22.05, n_fft=1024,
                    f_min=0.0, f_max=8000.0, preemphasis=0.0)


def _tone(cfg: FbankConfig, freq: float, seconds: float = 1.0, amp: float = 0.5) -> torch.Tensor:
    n = int(cfg.sample_rate * seconds)
    return amp * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / cfg.sample_rate).float()


def _l1(a: torch.Tensor, b: torch.Tensor) -> float:
    t = min(a.shape[0], b.shape[0])
    return (a[:t] - b[:t]).abs().mean().item()


def test_config_and_interface():
    voc = load_vocoder("griffin-lim", CFG22)
    assert isinstance(voc, GriffinLimVocoder) and isinstance(voc, Vocoder)
    assert voc.fbank is CFG22 and voc.sample_rate == 22050 and voc.hop_length == 256
    assert (CFG22.win_length, CFG22.fft_size) == (1024, 1024)
    assert voc.num_samples(7) == 7 * 256


@pytest.mark.parametrize("cfg", [CFG16, CFG22], ids=["16k-preemph", "22k"])
def test_single_and_batched_lengths(cfg):
    voc = GriffinLimVocoder(cfg, n_iter=8)
    torch.manual_seed(0)
    a = log_mel(0.1 * torch.randn(cfg.sample_rate // 3), cfg)
    b = log_mel(0.1 * torch.randn(cfg.sample_rate // 5), cfg)
    ta, tb = a.shape[0], b.shape[0]
    assert ta > tb
    wa, wb = voc(a), voc(b)
    assert wa.shape == (ta * cfg.hop_length,) and wb.shape == (tb * cfg.hop_length,)
    assert wa.dtype == torch.float32
    batch = torch.zeros(3, ta, cfg.n_mels)
    batch[0], batch[1, :tb] = a, b
    batch[1, tb:] = float("nan")  # padding is never read
    out = voc(batch, torch.tensor([ta, tb, 0]))
    assert out.shape == (3, ta * cfg.hop_length)
    # Each row is that input alone, then zeros.
    torch.testing.assert_close(out[0], wa, atol=1e-4, rtol=0)
    torch.testing.assert_close(out[1, : wb.numel()], wb, atol=1e-4, rtol=0)
    assert out[1, wb.numel():].abs().max() == 0 and out[2].abs().max() == 0
    # Without lengths every row is full length.
    assert voc(batch[:1]).shape == (1, ta * cfg.hop_length)


@pytest.mark.parametrize("cfg", [CFG16, CFG22], ids=["16k", "22k"])
def test_output_aligned_with_analysed_samples(cfg):
    # Output sample i lines up with input sample i: a 30 ms burst comes back in the same place
    # (energy cross-correlation peak; measured lags 16 and -9 samples, hop/4 is 40 and 64).
    sr = cfg.sample_rate
    x = torch.zeros(sr // 2)
    start, n = sr // 4, int(0.03 * sr)
    x[start:start + n] = 0.5 * torch.sin(2 * math.pi * 1000 * torch.arange(n) / sr)
    y = GriffinLimVocoder(cfg)(log_mel(x, cfg))
    ex, ey = x[: y.numel()].pow(2), y.pow(2)
    lags = list(range(-cfg.hop_length, cfg.hop_length + 1))
    corr = [(torch.roll(ey, -lag) * ex).sum().item() for lag in lags]
    best = lags[max(range(len(lags)), key=corr.__getitem__)]
    assert abs(best) <= cfg.hop_length // 4, best


@pytest.mark.parametrize("cfg,freq", [(CFG16, 1000.0), (CFG22, 440.0)], ids=["16k-1000Hz", "22k-440Hz"])
def test_pure_tone_keeps_frequency_and_mels(cfg, freq):
    x = _tone(cfg, freq)
    feats = log_mel(x, cfg)
    y = GriffinLimVocoder(cfg)(feats)
    assert y.abs().max() <= 1.0
    spec = torch.fft.rfft(y.double() * torch.hann_window(y.numel(), dtype=torch.float64)).abs()
    peak_hz = spec.argmax().item() * cfg.sample_rate / y.numel()
    bin_hz = cfg.sample_rate / cfg.fft_size
    assert abs(peak_hz - freq) <= 1.5 * bin_hz, peak_hz
    l1 = _l1(log_mel(y, cfg), feats)
    noise = torch.randn(x.numel(), generator=torch.Generator().manual_seed(0))
    noise = noise * (x.pow(2).mean() / noise.pow(2).mean()).sqrt()
    noise_l1 = _l1(log_mel(noise, cfg), feats)
    # Measured: 16k 0.19, 22k 0.18; noise with the tone's energy 14.3 and 15.8.
    assert l1 < 0.4, l1
    assert l1 < noise_l1 / 10, (l1, noise_l1)


def test_copy_synthesis_of_real_clip(data_root):
    path = data_root / "LJSpeech-subset" / "wavs" / "LJ001-0002.wav"
    if not path.is_file():
        pytest.skip(f"{path} not found: the LJSpeech subset is missing from the shared data")
    wav, sr = load(path)
    assert sr == 22050
    wav = torch.from_numpy(wav)
    feats = log_mel(wav, CFG22)
    y = GriffinLimVocoder(CFG22, n_iter=32)(feats)
    assert y.shape == (feats.shape[0] * 256,) and y.numel() <= wav.numel()
    l1 = _l1(log_mel(y, CFG22), feats)
    assert l1 < 0.25, l1  # measured 0.181 (16 iters: 0.216, 64: 0.172)
    # Loudness is kept (no normalisation unless clipping): measured std ratio 0.995.
    assert 0.7 < y.std().item() / wav[: y.numel()].std().item() < 1.4


def test_deterministic_and_loud_input_does_not_clip():
    cfg = CFG16
    feats = log_mel(_tone(cfg, 300.0, 0.5, amp=0.9), cfg)
    voc = GriffinLimVocoder(cfg, n_iter=8)
    assert torch.equal(voc(feats), voc(feats))
    loud = voc(feats + 4.0)  # ~7x the amplitude: would clip
    assert loud.abs().max().item() == pytest.approx(1.0, abs=1e-6)
    wild = voc(torch.full((20, 80), 200.0))  # exp would overflow float32
    assert torch.isfinite(wild).all() and wild.abs().max() <= 1.0


def test_check_compatible_names_fields():
    voc = GriffinLimVocoder(CFG16)
    voc.check_compatible(FbankConfig(f_max=8000.0, n_fft=512, dither=0.1))  # same analysis, other spelling
    with pytest.raises(ValueError, match=r"n_mels=40 \(vocoder: 80\)") as err:
        voc.check_compatible(FbankConfig(n_mels=40))
    assert "\n" not in str(err.value) and "hop_ms" not in str(err.value)
    with pytest.raises(ValueError, match=r"hop_ms.*preemphasis"):
        voc.check_compatible(FbankConfig(hop_ms=12.5, preemphasis=0.0))


def test_load_vocoder_unknown():
    with pytest.raises(ValueError, match=r"spec='nope'.*griffin-lim.*vocoder package"):
        load_vocoder("nope", CFG16)


def test_empty_input():
    voc = GriffinLimVocoder(CFG16)
    out = voc(torch.zeros(0, 80))
    assert out.shape == (0,) and out.dtype == torch.float32
    assert voc(torch.zeros(2, 0, 80)).shape == (2, 0)
    assert voc(torch.zeros(2, 5, 80), torch.tensor([0, 0])).abs().sum() == 0


def test_bad_input():
    voc = GriffinLimVocoder(CFG16)
    feats = torch.full((10, 80), -5.0)
    feats[3, 7] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        voc(feats)
    with pytest.raises(ValueError, match=r"\(T, 80\)"):
        voc(torch.zeros(10, 40))
    with pytest.raises(ValueError, match="lengths"):
        voc(torch.zeros(2, 10, 80), torch.tensor([3, 11]))
    with pytest.raises(ValueError, match="momentum"):
        GriffinLimVocoder(CFG16, momentum=1.0)
