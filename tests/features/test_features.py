"""Tests for speech.features: log-mel framing and values, CMVN statistics, SpecAugment masks."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from speech.features import (
    STD_FLOOR,
    FbankConfig,
    GlobalCMVN,
    LogMelFbank,
    SpecAugment,
    SpecAugmentConfig,
    compute_cmvn_stats,
    log_mel,
    mel_filterbank,
    num_frames,
)


def hz_to_mel(f: float) -> float:
    return 2595.0 * math.log10(1.0 + f / 700.0)


def mel_to_hz(m: float) -> float:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_center(cfg: FbankConfig, k: int) -> float:
    """Centre frequency (Hz) of HTK mel filter k, computed independently of the code under test."""
    lo, hi = hz_to_mel(cfg.f_min), hz_to_mel(cfg.mel_f_max)
    return mel_to_hz(lo + (k + 1) * (hi - lo) / (cfg.n_mels + 1))


# ------------------------------------------------------------------------------------- config


def test_config_derived_sizes():
    c = FbankConfig()
    assert (c.win_length, c.hop_length, c.fft_size) == (400, 160, 512)
    c8 = FbankConfig(sample_rate=8000)
    assert (c8.win_length, c8.hop_length) == (200, 80)
    assert c8.fft_size >= 256 and c8.fft_size & (c8.fft_size - 1) == 0
    assert FbankConfig(n_fft=1024).fft_size == 1024
    with pytest.raises(ValueError):
        FbankConfig(n_fft=256).fft_size  # shorter than the 400-sample window
    with pytest.raises(ValueError):
        FbankConfig(f_max=9000.0)  # above Nyquist
    with pytest.raises(ValueError):
        FbankConfig(sample_rate=8000, n_mels=128, f_min=0.0, n_fft=256).fft_size  # empty filters


@pytest.mark.parametrize("sr,n_mels,f_min", [(8000, 80, 20.0), (16000, 80, 20.0), (22050, 80, 0.0),
                                             (8000, 128, 0.0)])
def test_no_all_zero_mel_filters(sr, n_mels, f_min):
    cfg = FbankConfig(sample_rate=sr, n_mels=n_mels, f_min=f_min)
    fb = mel_filterbank(cfg)
    assert fb.shape == (cfg.fft_size // 2 + 1, n_mels)
    assert bool((fb.amax(dim=0) > 0).all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torchaudio's "all zero values" warning would fail here
        feats = log_mel(torch.randn(sr // 4), cfg)
    assert feats.shape[-1] == n_mels and bool(torch.isfinite(feats).all())


# ------------------------------------------------------------------------------------- framing


@pytest.mark.parametrize("sr", [8000, 16000])
def test_num_frames_matches_log_mel(sr):
    cfg = FbankConfig(sample_rate=sr)
    win, hop = cfg.win_length, cfg.hop_length
    lengths = sorted({0, 1, 2, win - 1, win, win + 1, win + hop - 1, win + hop, win + hop + 1,
                      3 * hop + win, 1000, sr // 3, sr})
    gen = torch.Generator().manual_seed(0)
    for n in lengths:
        feats = log_mel(torch.randn(n, generator=gen) * 0.1, cfg)
        t = num_frames(n, cfg)
        assert feats.shape == (t, cfg.n_mels), n
        if n >= 1:
            assert t >= 1
        if n >= win:  # whole frames only: the last frame fits, one more would not
            assert (t - 1) * hop + win <= n < t * hop + win
    as_tensor = num_frames(torch.tensor(lengths), cfg)
    assert as_tensor.dtype == torch.int64
    assert as_tensor.tolist() == [num_frames(n, cfg) for n in lengths]


def test_log_mel_leading_dims_and_dtypes():
    cfg = FbankConfig()
    x = torch.randn(2, 3, 4000, dtype=torch.float64) * 0.1
    out = log_mel(x, cfg)
    assert out.shape == (2, 3, num_frames(4000, cfg), 80) and out.dtype == torch.float64
    torch.testing.assert_close(out[1, 2], log_mel(x[1, 2], cfg))
    torch.testing.assert_close(log_mel(x.float(), cfg), out.float(), atol=1e-3, rtol=1e-4)
    with pytest.raises(TypeError):
        log_mel(torch.zeros(400, dtype=torch.int16), cfg)


def test_silence_hits_the_log_floor():
    cfg = FbankConfig(log_floor=1e-4)
    out = log_mel(torch.zeros(1600), cfg)
    torch.testing.assert_close(out, torch.full_like(out, math.log(1e-4)))


@pytest.mark.parametrize("sr", [8000, 16000])
def test_pure_tone_peaks_in_its_mel_filter(sr):
    cfg = FbankConfig(sample_rate=sr)
    t = torch.arange(sr // 2, dtype=torch.float64) / sr
    off_centre_checked = 0
    for k in (5, 20, 45, 70):
        f = mel_center(cfg, k)
        tone = (0.5 * torch.sin(2 * math.pi * f * t)).float()
        band = log_mel(tone, cfg).mean(dim=0)
        assert int(band.argmax()) == k, (k, f)
        # a tone 30 % of the way from filter k to filter k+1 still belongs to filter k (checked where
        # the filters are wide compared with the FFT bins, so spectral leakage cannot decide it)
        spacing = mel_center(cfg, k + 1) - f
        if spacing < 1.5 * sr / cfg.fft_size:
            continue
        off_centre_checked += 1
        f2 = f + 0.3 * spacing
        tone2 = (0.5 * torch.sin(2 * math.pi * f2 * t)).float()
        assert int(log_mel(tone2, cfg).mean(dim=0).argmax()) == k
    assert off_centre_checked >= 2


# ------------------------------------------------------------------------------------- module


def test_logmel_module_lengths_padding_and_batch_equivalence():
    cfg = FbankConfig()
    gen = torch.Generator().manual_seed(1)
    lens = torch.tensor([16000, 9001, 401, 150, 1])
    n = int(lens.max())
    wav = torch.randn(len(lens), n, generator=gen) * 0.1  # the padding is noise: it must be ignored
    module = LogMelFbank(cfg).eval()
    feats, feat_lens = module(wav, lens)
    assert feats.shape == (len(lens), num_frames(n, cfg), cfg.n_mels)
    assert feat_lens.tolist() == [num_frames(int(x), cfg) for x in lens]
    for b, length in enumerate(lens.tolist()):
        alone = log_mel(wav[b, :length], cfg)
        torch.testing.assert_close(feats[b, : feat_lens[b]], alone, atol=1e-4, rtol=1e-4)
        assert bool((feats[b, feat_lens[b]:] == 0).all())
    full, full_lens = module(wav)  # no lengths: every row is full length
    assert full_lens.tolist() == [feats.shape[1]] * len(lens)


def test_logmel_module_dither_only_in_training():
    cfg = FbankConfig(dither=1e-3)
    module = LogMelFbank(cfg)
    wav = torch.zeros(2, 3200)
    lens = torch.tensor([3200, 2000])
    module.eval()
    a, _ = module(wav, lens)
    b, _ = module(wav, lens)
    torch.testing.assert_close(a, b)
    assert float(a[0].max()) == pytest.approx(math.log(cfg.log_floor))  # silence stays at the floor
    module.train()
    c, c_lens = module(wav, lens)
    assert not torch.equal(a, c)
    assert bool((c[1, c_lens[1]:] == 0).all())


# ------------------------------------------------------------------------------------- CMVN


def _utterances(seed: int = 0, feat_dim: int = 6):
    rng = np.random.default_rng(seed)
    utts = []
    for i, t in enumerate([50, 3, 120, 0, 77]):
        offset = rng.normal(size=feat_dim) * 5 + 100.0 * i  # large offsets test numerical stability
        utts.append((rng.normal(size=(t, feat_dim)) * rng.uniform(0.5, 3, size=feat_dim) + offset))
    return utts


def test_cmvn_stats_equal_numpy_over_concatenated_frames():
    utts = _utterances()
    mixed = [torch.from_numpy(u).float() if i % 2 else u for i, u in enumerate(utts)]
    mean, std = compute_cmvn_stats(iter(mixed))  # a one-shot generator is fine
    allframes = np.concatenate([np.asarray(u, dtype=np.float64) for u in mixed], axis=0)
    assert mean.dtype == torch.float32 and std.shape == (6,)
    np.testing.assert_allclose(mean.numpy(), allframes.mean(axis=0), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(std.numpy(), allframes.std(axis=0), rtol=1e-5)


def test_cmvn_stats_floor_and_errors():
    const = np.tile(np.array([[1.0, 2.0, 3.0]]), (10, 1))
    const[:, 2] = np.arange(10)
    _, std = compute_cmvn_stats([const])
    assert std[0] == pytest.approx(STD_FLOOR) and std[1] == pytest.approx(STD_FLOOR)
    assert std[2] == pytest.approx(np.arange(10).std(), rel=1e-6)
    with pytest.raises(ValueError):
        compute_cmvn_stats([])
    with pytest.raises(ValueError):
        compute_cmvn_stats([np.zeros((0, 4))])
    with pytest.raises(ValueError):
        compute_cmvn_stats([np.zeros((3, 4)), np.zeros((3, 5))])
    with pytest.raises(ValueError):
        compute_cmvn_stats([np.zeros(4)])


def test_global_cmvn_normalises_and_zeroes_padding():
    utts = [torch.from_numpy(u).float() for u in _utterances(3) if len(u)]
    mean, std = compute_cmvn_stats(utts)
    cmvn = GlobalCMVN(6, mean, std)
    lens = torch.tensor([len(u) for u in utts])
    batch = torch.full((len(utts), int(lens.max()), 6), 1e3)  # padding value must not leak through
    for b, u in enumerate(utts):
        batch[b, : len(u)] = u
    out = cmvn(batch, lens)
    assert out.shape == batch.shape
    valid = torch.cat([out[b, : lens[b]] for b in range(len(utts))]).double()
    torch.testing.assert_close(valid.mean(0), torch.zeros(6, dtype=torch.float64), atol=1e-4, rtol=0)
    torch.testing.assert_close(valid.std(0, unbiased=False), torch.ones(6, dtype=torch.float64),
                               atol=1e-4, rtol=0)
    for b in range(len(utts)):
        assert bool((out[b, lens[b]:] == 0).all())
    torch.testing.assert_close(cmvn.inverse(out[0, : lens[0]]), utts[0], atol=1e-3, rtol=1e-5)
    assert torch.equal(batch[0, lens[0]:], torch.full_like(batch[0, lens[0]:], 1e3))  # input untouched


def test_global_cmvn_state_dict_round_trip_and_defaults():
    ident = GlobalCMVN(4)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(ident(x), x)
    src = GlobalCMVN(4)
    src.set_stats(torch.tensor([1.0, -2.0, 3.0, 0.5]), np.array([2.0, 0.5, 1.0, 0.0]))
    assert float(src.std[3]) == pytest.approx(STD_FLOOR)
    state = src.state_dict()
    assert set(state) == {"mean", "std"}
    dst = GlobalCMVN(4)
    dst.load_state_dict(state)
    torch.testing.assert_close(dst(x), src(x))
    assert not torch.allclose(dst(x), x)
    with pytest.raises(ValueError):
        dst.set_stats(torch.zeros(3), torch.ones(3))
    with pytest.raises(ValueError):
        dst(torch.zeros(1, 2, 5))


# ------------------------------------------------------------------------------------- SpecAugment


def _masked_rows_cols(out: torch.Tensor):
    """Rows (frames) and columns (bins) entirely zero, per utterance."""
    zero = out == 0
    return zero.all(dim=2), zero.all(dim=1)  # (B, T), (B, F)


def test_specaugment_identity_in_eval_mode():
    aug = SpecAugment(SpecAugmentConfig()).eval()
    x = torch.rand(3, 50, 20) + 1
    assert aug(x, torch.tensor([50, 30, 10])) is x


@pytest.mark.parametrize("cfg", [
    SpecAugmentConfig(),
    SpecAugmentConfig(freq_masks=3, freq_width=5, time_masks=4, time_width=12, max_time_width=8),
    SpecAugmentConfig(freq_masks=1, freq_width=39, time_masks=3, time_width=0.3, max_time_width=100),
])
def test_specaugment_masks_are_bounded_and_inside_lengths(cfg):
    torch.manual_seed(0)
    b, t, f = 8, 120, 40
    lens = torch.tensor([120, 100, 60, 33, 20, 5, 1, 0])
    aug = SpecAugment(cfg).train()
    saw_time, saw_freq = False, False
    for _ in range(25):
        x = torch.rand(b, t, f) + 1.0  # strictly positive: zeros mark masks
        x_before = x.clone()
        out = aug(x, lens)
        assert torch.equal(x, x_before)  # never modifies its input
        rows, cols = _masked_rows_cols(out)
        # every value is either untouched or zero, and zeros are exactly the row/column union
        assert bool(((out == x) | (out == 0)).all())
        assert torch.equal(out == 0, rows[:, :, None] | cols[:, None, :])
        for i in range(b):
            n = int(lens[i])
            masked_t = rows[i].nonzero().flatten()
            if len(masked_t):
                assert int(masked_t.max()) < n  # time masks only inside the valid length
            max_w = int(cfg.time_width * n) if cfg.time_width < 1 else int(cfg.time_width)
            max_w = min(max_w, cfg.max_time_width, n)
            assert len(masked_t) <= cfg.time_masks * max_w
            assert len(cols[i].nonzero()) <= cfg.freq_masks * min(cfg.freq_width, f)
            # count masked runs: overlapping masks merge, so never more runs than masks
            for runs_of, limit in ((rows[i][:n], cfg.time_masks), (cols[i], cfg.freq_masks)):
                starts = (runs_of.int().diff(prepend=torch.zeros(1, dtype=torch.int32)) == 1).sum()
                assert int(starts) <= limit
            saw_time |= len(masked_t) > 0
            saw_freq |= len(cols[i].nonzero()) > 0
    assert saw_time and saw_freq  # the masks do happen


def test_specaugment_same_seed_same_masks():
    aug = SpecAugment(SpecAugmentConfig()).train()
    x = torch.rand(4, 200, 30) + 1
    lens = torch.tensor([200, 150, 90, 40])
    torch.manual_seed(123)
    a = aug(x, lens)
    state = torch.get_rng_state()
    b_next = aug(x, lens)
    torch.manual_seed(123)
    b = aug(x, lens)
    assert torch.equal(a, b)
    torch.set_rng_state(state)  # resuming from a saved RNG state reproduces the next masks too
    assert torch.equal(aug(x, lens), b_next)
    assert not torch.equal(a, b_next)


def test_specaugment_defaults_lengths_to_full():
    torch.manual_seed(5)
    x = torch.rand(2, 400, 10) + 1
    out = SpecAugment(SpecAugmentConfig(freq_masks=0, time_masks=2, time_width=0.1)).train()(x)
    rows, cols = _masked_rows_cols(out)
    assert not bool(cols.any())
    assert int(rows.sum()) <= 2 * 2 * 40


# ------------------------------------------------------------------------------------- GPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    cfg = FbankConfig()
    gen = torch.Generator().manual_seed(7)
    wav = torch.randn(3, 8000, generator=gen) * 0.1
    lens = torch.tensor([8000, 5000, 300])
    module = LogMelFbank(cfg).eval()
    cpu_feats, cpu_lens = module(wav, lens)
    gpu_feats, gpu_lens = module(wav.cuda(), lens.cuda())
    assert gpu_feats.device.type == "cuda" and gpu_lens.device.type == "cuda"
    torch.testing.assert_close(gpu_feats.cpu(), cpu_feats, atol=1e-3, rtol=1e-4)
    assert torch.equal(gpu_lens.cpu(), cpu_lens)
    cmvn = GlobalCMVN(cfg.n_mels, *compute_cmvn_stats([cpu_feats[0]])).cuda()
    torch.testing.assert_close(cmvn(gpu_feats, gpu_lens).cpu(), cmvn.cpu()(cpu_feats, cpu_lens),
                               atol=1e-3, rtol=1e-4)
    aug = SpecAugment(SpecAugmentConfig()).train()
    torch.manual_seed(11)
    on_cpu = aug(cpu_feats + 100, cpu_lens)
    torch.manual_seed(11)
    on_gpu = aug(gpu_feats + 100, gpu_lens)  # masks come from the CPU generator: identical
    assert torch.equal(on_gpu.cpu() == 0, on_cpu == 0)


def test_features_first_made_in_inference_mode_still_train():
    """log_mel caches its window and filterbank: made first under inference_mode (a Transcriber),
    they must not turn later training calls into 'inference tensors cannot be saved for backward'."""
    from speech.features import functional as F

    F._analysis_tensors.cache_clear()
    F._mel_fbanks_cpu.cache_clear()
    cfg = FbankConfig(sample_rate=8000, n_mels=40)
    with torch.inference_mode():
        log_mel(torch.randn(1600), cfg)
    wav = torch.randn(1600, requires_grad=True)
    log_mel(wav, cfg).sum().backward()
    assert wav.grad is not None and torch.isfinite(wav.grad).all()


@pytest.mark.parametrize("n_freqs, f_min, f_max, n_mels, sr", [
    (201, 0.0, 4000.0, 80, 8000), (513, 0.0, 8000.0, 80, 16000), (1025, 20.0, 8000.0, 80, 22050),
    (257, 0.0, 8000.0, 40, 16000), (129, 300.0, 3400.0, 23, 8000)])
def test_mel_filters_equal_torchaudios(n_freqs, f_min, f_max, n_mels, sr):
    import torchaudio.functional as AF

    from speech.features import functional as F

    ours = F._mel_fbanks_cpu(n_freqs, f_min, f_max, n_mels, sr)
    ref = AF.melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm=None, mel_scale="htk")
    assert ours.shape == ref.shape and torch.allclose(ours, ref, atol=1e-6)


# ------------------------------------------------------------------------------------- level


def test_level_normalization_makes_features_independent_of_gain():
    """With level_db set, a take 20 dB quieter (or louder) gives the same features; without it, the
    quiet take's silence sinks into the log floor."""
    gen = torch.Generator().manual_seed(3)
    t = torch.arange(8000) / 8000
    wav = 0.3 * torch.sin(2 * torch.pi * 440 * t) * (t > 0.3) * (t < 0.7) + 3e-4 * torch.randn(8000, generator=gen)
    plain, levelled = FbankConfig(sample_rate=8000), FbankConfig(sample_rate=8000, level_db=-20.0)
    ref = log_mel(wav, levelled)
    for gain in (0.1, 0.316, 2.0):
        torch.testing.assert_close(log_mel(wav * gain, levelled), ref, atol=1e-4, rtol=1e-4)
    assert (log_mel(wav * 0.1, plain) - log_mel(wav, plain)).abs().max() > 1.0
    # the RMS after normalization is the target level
    from speech.features.functional import normalize_level

    out = normalize_level(wav * 0.05, -20.0)
    assert abs(20 * torch.log10(out.pow(2).mean().sqrt()).item() + 20.0) < 1e-3
    # digital silence is left alone (no division by ~0)
    assert torch.equal(normalize_level(torch.zeros(100), -20.0), torch.zeros(100))


def test_level_normalization_in_a_padded_batch_uses_each_rows_own_samples():
    cfg = FbankConfig(sample_rate=8000, level_db=-23.0)
    gen = torch.Generator().manual_seed(4)
    lens = torch.tensor([8000, 3000, 700])
    wav = torch.randn(3, 8000, generator=gen) * torch.tensor([[0.5], [0.01], [0.2]])
    feats, feat_lens = LogMelFbank(cfg).eval()(wav, lens)
    for b, length in enumerate(lens.tolist()):
        torch.testing.assert_close(feats[b, : feat_lens[b]], log_mel(wav[b, :length], cfg), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("bad", [5.0, -100.0, "loud"])
def test_level_db_must_be_a_level_below_full_scale(bad):
    with pytest.raises(ValueError, match="level_db"):
        FbankConfig(level_db=bad)
