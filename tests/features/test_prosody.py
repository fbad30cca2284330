"""Pitch/energy training targets: alignment with log_mel, accuracy on synthetic tones, per-phoneme
averages, statistics and the on-disk cache."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import soundfile as sf
import torch

import speech.data.prosody_cache as targets_mod
from speech.features.functional import FbankConfig, log_mel, num_frames
from speech.data.prosody_cache import TargetCache
from speech.features.prosody import TargetStats, TargetStatsAccumulator, _interpolate_unvoiced, frame_energy, frame_pitch, median_f0, phoneme_average, semitone_shift_ratio

SR = 22050
FB = FbankConfig(sample_rate=SR)


def harmonic_tone(f0, seconds, sr=SR, amp=0.3, n_harm=5):
    t = np.arange(int(seconds * sr)) / sr
    f = np.broadcast_to(np.asarray(f0, dtype=np.float64), t.shape)
    phase = 2 * np.pi * np.cumsum(f) / sr  # works for piecewise-constant f0 too
    x = sum(np.sin(k * phase) / k for k in range(1, n_harm + 1))
    return (amp * x / np.max(np.abs(x))).astype(np.float32)


# ------------------------------------------------------------------------------------ framing


@pytest.mark.parametrize("n", [0, 1, 300, FB.win_length - 1, FB.win_length, FB.win_length + 1,
                               FB.win_length + FB.hop_length - 1, 7717, SR // 2 + 17])
def test_frame_counts_match_log_mel(n):
    rng = np.random.default_rng(n)
    wav = (0.1 * rng.standard_normal(n)).astype(np.float32)
    t = num_frames(n, FB)
    assert log_mel(torch.from_numpy(wav), FB).shape[0] == t
    lf, v = frame_pitch(wav, FB, method="yin")
    assert lf.shape == (t,) and v.shape == (t,) and v.dtype == bool
    assert frame_energy(wav, FB).shape == (t,)


@pytest.mark.parametrize("n", [1, 7717, SR // 2 + 17])
def test_pyin_frame_counts(n):
    wav = harmonic_tone(200.0, n / SR) if n > 1 else np.zeros(1, np.float32)
    lf, v = frame_pitch(wav, FB)
    assert lf.shape == v.shape == (num_frames(n, FB),)


def test_frame_counts_other_config():
    fb = FbankConfig(sample_rate=16000, win_ms=50.0, hop_ms=12.5)
    wav = harmonic_tone(180.0, 0.77, sr=16000)
    t = num_frames(len(wav), fb)
    assert frame_pitch(wav, fb, method="yin")[0].shape == (t,)
    assert frame_energy(wav, fb).shape == (t,) == (log_mel(torch.from_numpy(wav), fb).shape[0],)


# ------------------------------------------------------------------------------------ pitch


@pytest.mark.parametrize("method", ["pyin", "yin"])
def test_200hz_tone(method):
    wav = harmonic_tone(200.0, 1.0)
    lf, v = frame_pitch(wav, FB, method=method)
    t = len(lf)
    mid = slice(t // 5, t - t // 5)
    assert v[mid].all()
    f = np.exp(np.median(lf[v]))
    assert abs(f - 200.0) / 200.0 < 0.02, f
    assert abs(median_f0(wav, SR, method=method) - 200.0) < 4.0


# yin keeps the lower octave while any 150-Hz cycle is in its 1024-sample window (a 300-Hz signal is
# also periodic at 1/150 s), so it may lag by up to half that window (2.3 frames): allow 3 for it.
@pytest.mark.parametrize("method,tol", [("pyin", 2), ("yin", 3)])
def test_pitch_jump_located(method, tol):
    jump = SR // 2
    f0 = np.where(np.arange(SR) < jump, 150.0, 300.0)
    wav = harmonic_tone(f0, 1.0)
    lf, v = frame_pitch(wav, FB, method=method)
    # mel frame t is centred on t*hop + win/2: the frame centred on the jump sample
    expected = (jump - FB.win_length / 2) / FB.hop_length
    high = np.exp(lf) > math.sqrt(150.0 * 300.0)
    first_high = int(np.argmax(high))
    assert high[first_high:].all() or high[first_high:-3].all()
    assert abs(first_high - expected) <= tol, (first_high, expected)
    assert abs(np.exp(np.median(lf[5:int(expected) - 5])) - 150) < 3
    assert abs(np.exp(np.median(lf[int(expected) + 5:-5])) - 300) < 6


@pytest.mark.parametrize("method", ["pyin", "yin"])
def test_silence_unvoiced(method):
    lf, v = frame_pitch(np.zeros(SR // 2, np.float32), FB, method=method)
    assert not v.any()
    assert np.all(lf == 0)
    assert math.isnan(median_f0(np.zeros(SR // 2, np.float32), SR, method=method))


def test_unvoiced_gap_interpolated():
    wav = np.concatenate([harmonic_tone(150.0, 0.4), np.zeros(int(0.3 * SR), np.float32),
                          harmonic_tone(300.0, 0.4)])
    lf, v = frame_pitch(wav, FB)
    gap = np.flatnonzero(~v)
    gap = gap[(gap > 10) & (gap < len(v) - 10)]
    assert len(gap) > 15
    seg = lf[gap]
    assert np.all(np.diff(seg) > 0)  # linear ramp from log(150) up to log(300)
    assert math.log(140) < seg.min() and seg.max() < math.log(320)


def test_interpolate_unvoiced_edges():
    f = np.array([0, 0, 2.0, 0, 4.0, 0, 0], np.float32)
    v = f > 0
    np.testing.assert_allclose(_interpolate_unvoiced(f, v), [2, 2, 2, 3, 4, 4, 4])
    assert np.all(_interpolate_unvoiced(f, np.zeros(7, bool)) == 0)


def test_bad_pitch_args():
    with pytest.raises(ValueError, match="method"):
        frame_pitch(np.zeros(1000, np.float32), FB, method="crepe")
    with pytest.raises(ValueError, match="fmax"):
        frame_pitch(np.zeros(1000, np.float32), FB, fmin=100, fmax=SR)


@pytest.mark.data
def test_real_clip_female_f0(data_root):
    path = data_root / "LJSpeech-subset" / "wavs" / "LJ001-0004.wav"
    if not path.is_file():
        pytest.skip(f"{path} not found (LJSpeech-subset missing from the shared data)")
    from speech.audio import load

    wav, sr = load(path, sample_rate=SR)
    wav = wav[: 5 * SR]
    lf, v = frame_pitch(wav, FB)
    assert 0.3 < v.mean() < 0.95
    f = float(np.exp(np.median(lf[v])))
    assert 150.0 < f < 300.0, f
    lf_y, v_y = frame_pitch(wav, FB, method="yin")
    assert np.mean(v == v_y) > 0.75  # measured 0.85
    both = v & v_y
    assert np.median(np.abs(lf[both] - lf_y[both])) < 0.03  # ~half a semitone


# ------------------------------------------------------------------------------------ energy


def test_energy_loud_frames_and_scaling():
    rng = np.random.default_rng(0)
    wav = rng.standard_normal(SR).astype(np.float32) * 0.01
    wav[SR // 2:] *= 20
    e = frame_energy(wav, FB)
    t = len(e)
    assert e[t // 2 + 5:].min() > e[: t // 2 - 5].max()
    e2 = frame_energy(2 * wav, FB)
    np.testing.assert_allclose(e2 - e, math.log(2), atol=1e-4)
    assert frame_energy(torch.from_numpy(wav), FB).shape == (t,)


# ------------------------------------------------------------------------------------ phonemes


def test_phoneme_average_hand_built():
    values = np.array([1, 2, 3, 10, 20, 5, 7, 100], np.float32)
    dur = np.array([3, 0, 2, 2, 1])
    np.testing.assert_allclose(phoneme_average(values, dur), [2, 0, 15, 6, 100])
    mask = np.array([1, 0, 1, 0, 0, 1, 1, 0], bool)
    # phoneme 3 (frames 3,4) has no unmasked frame: mean over all its frames, or 0
    np.testing.assert_allclose(phoneme_average(values, dur, mask), [2, 0, 15, 6, 100])
    np.testing.assert_allclose(phoneme_average(values, dur, mask, empty="zero"), [2, 0, 0, 6, 0])
    mask2 = np.array([0, 1, 1, 1, 0, 0, 1, 1], bool)
    np.testing.assert_allclose(phoneme_average(values, dur, mask2), [2.5, 0, 10, 7, 100])


def test_phoneme_average_errors_and_edges():
    with pytest.raises(ValueError, match=r"sum\(durations\)=5.*T=4"):
        phoneme_average(np.zeros(4), [2, 3])
    with pytest.raises(ValueError, match="negative"):
        phoneme_average(np.zeros(2), [3, -1])
    with pytest.raises(ValueError, match="mask"):
        phoneme_average(np.zeros(2), [2], mask=np.ones(3, bool))
    assert phoneme_average(np.zeros(0), np.zeros(0, int)).shape == (0,)
    np.testing.assert_allclose(phoneme_average(np.zeros(0), [0, 0]), [0, 0])


def test_phoneme_average_long_matches_loop():
    rng = np.random.default_rng(1)
    dur = rng.integers(0, 12, size=5000)
    vals = rng.standard_normal(int(dur.sum()))
    mask = rng.random(len(vals)) > 0.3
    got = phoneme_average(vals, dur, mask, empty="zero")
    edges = np.concatenate([[0], np.cumsum(dur)])
    ref = [vals[a:b][mask[a:b]].mean() if mask[a:b].any() else 0.0 for a, b in zip(edges[:-1], edges[1:])]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------ stats


def test_stats_streaming_roundtrip_and_normalize(tmp_path):
    rng = np.random.default_rng(2)
    utts = []
    for n in (50, 300, 7, 1000):
        lf = (5.3 + 0.2 * rng.standard_normal(n)).astype(np.float32)
        v = rng.random(n) > 0.4
        e = (-2 + 1.5 * rng.standard_normal(n)).astype(np.float32)
        utts.append((lf, v, e))
    st = TargetStats.compute(utts)
    all_p = np.concatenate([lf[v] for lf, v, _ in utts]).astype(np.float64)
    all_e = np.concatenate([e for *_, e in utts]).astype(np.float64)
    assert st.pitch_count == len(all_p) and st.energy_count == len(all_e)
    assert st.pitch_mean == pytest.approx(all_p.mean(), abs=1e-9)
    assert st.pitch_std == pytest.approx(all_p.std(), rel=1e-9)
    assert st.energy_mean == pytest.approx(all_e.mean(), abs=1e-9)
    assert st.energy_std == pytest.approx(all_e.std(), rel=1e-9)
    st.save(tmp_path / "stats.json")
    back = TargetStats.load(tmp_path / "stats.json")
    assert back == st
    zp = back.normalize("pitch", all_p)
    ze = back.normalize("energy", all_e)
    assert abs(zp.mean()) < 1e-6 and abs(zp.std() - 1) < 1e-6
    assert abs(ze.mean()) < 1e-6 and abs(ze.std() - 1) < 1e-6
    np.testing.assert_allclose(back.denormalize("energy", ze), all_e)
    tz = back.normalize("pitch", torch.from_numpy(all_p))
    assert isinstance(tz, torch.Tensor)
    with pytest.raises(ValueError, match="kind"):
        back.normalize("duration", all_e)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        TargetStats.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="no data"):
        TargetStatsAccumulator().finalize()


def test_stats_welford_large_offset():
    acc = TargetStatsAccumulator()
    rng = np.random.default_rng(3)
    chunks = [1e6 + rng.standard_normal(1000) for _ in range(10)]
    for c in chunks:
        acc.update(c, np.ones(len(c), bool), c)
    st = acc.finalize()
    assert st.pitch_std == pytest.approx(np.concatenate(chunks).std(), rel=1e-8)


def test_semitone_ratio():
    assert semitone_shift_ratio(12) == pytest.approx(2.0)
    assert semitone_shift_ratio(-12) == pytest.approx(0.5)
    assert semitone_shift_ratio(0) == 1.0
    assert semitone_shift_ratio(1) ** 12 == pytest.approx(2.0)


# ------------------------------------------------------------------------------------ cache


@pytest.fixture
def audio_files(tmp_path):
    paths = {}
    for i, f in enumerate((150.0, 220.0, 260.0)):
        p = tmp_path / "wav" / f"utt{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, harmonic_tone(f, 0.3), SR)
        paths[f"utt{i}"] = p
    return paths


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = targets_mod.compute_targets

    def wrapper(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(targets_mod, "compute_targets", wrapper)
    return calls


def test_cache_hit_and_invalidation(tmp_path, audio_files, counted):
    cache = TargetCache(tmp_path / "cache", method="yin")
    first = cache.get_or_compute("utt0", audio_files["utt0"], FB)
    assert len(counted) == 1
    assert set(first) == {"log_f0", "voiced", "energy"}
    t = num_frames(int(0.3 * SR), FB)
    assert all(v.shape == (t,) for v in first.values())
    again = cache.get_or_compute("utt0", audio_files["utt0"], FB)
    assert len(counted) == 1  # served from disk
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])
    fb2 = dataclasses.replace(FB, hop_ms=5.0)
    other = cache.get_or_compute("utt0", audio_files["utt0"], fb2)
    assert len(counted) == 2 and other["energy"].shape == (num_frames(int(0.3 * SR), fb2),)
    assert cache.path("utt0", fb2) != cache.path("utt0", FB)
    # method / fmin changes use other files too
    assert TargetCache(tmp_path / "cache", method="pyin").path("utt0", FB) != cache.path("utt0", FB)
    assert TargetCache(tmp_path / "cache", method="yin", fmin=80).path("utt0", FB) != cache.path("utt0", FB)
    # ids with path separators stay inside the cache folder and do not collide
    pa, pb = cache.path("spk/a", FB), cache.path("spk_a", FB)
    assert pa != pb and pa.parent == pb.parent
    assert not list((tmp_path / "cache").rglob("*.tmp"))


@pytest.mark.parametrize("garbage", [b"not a zip", b""])
def test_corrupt_cache_recomputed(tmp_path, audio_files, counted, garbage):
    cache = TargetCache(tmp_path / "cache", method="yin")
    good = cache.get_or_compute("utt1", audio_files["utt1"], FB)
    path = cache.path("utt1", FB)
    path.write_bytes(garbage)
    with pytest.warns(UserWarning, match=str(path.name)):
        again = cache.get_or_compute("utt1", audio_files["utt1"], FB)
    assert len(counted) == 2
    np.testing.assert_array_equal(good["energy"], again["energy"])
    cache.get_or_compute("utt1", audio_files["utt1"], FB)  # repaired on disk
    assert len(counted) == 2


def test_inconsistent_cache_recomputed(tmp_path, audio_files, counted):
    cache = TargetCache(tmp_path / "cache", method="yin")
    cache.get_or_compute("utt1", audio_files["utt1"], FB)
    path = cache.path("utt1", FB)
    np.savez(path, log_f0=np.zeros(3), voiced=np.zeros(4, bool), energy=np.zeros(3))
    with pytest.warns(UserWarning, match="inconsistent"):
        cache.get_or_compute("utt1", audio_files["utt1"], FB)
    assert len(counted) == 2


def test_compute_all_skips_cached(tmp_path, audio_files, counted):
    cache = TargetCache(tmp_path / "cache", method="yin")
    cache.get_or_compute("utt0", audio_files["utt0"], FB)
    items = list(audio_files.items()) + [("missing", tmp_path / "nope.wav")]
    with pytest.warns(UserWarning, match="1 of 3 utterances failed"):
        res = cache.compute_all(items, FB, progress=False)
    assert res["cached"] == 1 and res["computed"] == 2 and set(res["failed"]) == {"missing"}
    assert len(counted) == 3
    res = cache.compute_all(list(audio_files.items()), FB, progress=False)
    assert res == {"cached": 3, "computed": 0, "failed": {}}
    assert len(counted) == 3


@pytest.mark.slow
def test_compute_all_two_workers(tmp_path, audio_files):
    cache = TargetCache(tmp_path / "cache", method="yin")
    items = list(audio_files.items())[:2]
    res = cache.compute_all(items, FB, workers=2, progress=False)
    assert res == {"cached": 0, "computed": 2, "failed": {}}
    for utt_id, _ in items:
        assert cache.path(utt_id, FB).is_file()
