"""Tests for speech.audio.io: round trips, down-mixing, resampling, segments, ffmpeg fallback, errors."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.audio import (
    AUDIO_EXTENSIONS,
    AudioError,
    AudioInfo,
    AudioNotFoundError,
    CorruptAudioError,
    EmptyAudioError,
    info,
    load,
    resample,
    save,
)

HAVE_FFMPEG = shutil.which("ffmpeg") is not None
needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg is not on PATH (apt-get install ffmpeg)")


def sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(wav: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spec) * sr / len(wav))


def ffmpeg_convert(src, dst, *extra: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *extra, str(dst)],
                   check=True, capture_output=True)


def assert_one_line_naming(err: BaseException, path) -> None:
    msg = str(err)
    assert "\n" not in msg
    assert os.path.basename(str(path)) in msg
    assert isinstance(err, AudioError)
    assert err.path == str(path)


# ------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_lossless_round_trip_pcm16(tmp_path, ext):
    sr = 16000
    x = sine(440, sr, 0.5) + sine(1234, sr, 0.5, amp=0.2)
    path = tmp_path / f"a{ext}"
    save(path, x, sr)
    y, got_sr = load(path)
    assert got_sr == sr
    assert y.dtype == np.float32 and y.ndim == 1 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1.01 / 32768)  # PCM_16 quantisation only
    i = info(path)
    assert isinstance(i, AudioInfo)
    assert (i.sample_rate, i.num_frames, i.channels) == (sr, len(x), 1)
    assert i.duration == pytest.approx(0.5)
    assert i.format == ext[1:].upper()


def test_float_wav_is_exact_and_tensor_input_accepted(tmp_path):
    sr = 8000
    x = torch.from_numpy(sine(300, sr, 0.25))
    save(tmp_path / "f.wav", x, sr, subtype="FLOAT")
    y, _ = load(tmp_path / "f.wav")
    np.testing.assert_array_equal(y, x.numpy())


def test_ogg_round_trip_keeps_length_and_pitch(tmp_path):
    sr = 16000
    x = sine(440, sr, 1.0)
    save(tmp_path / "a.ogg", x, sr)
    y, got_sr = load(tmp_path / "a.ogg")
    assert got_sr == sr
    assert abs(len(y) - len(x)) <= 0.01 * sr
    assert peak_hz(y, sr) == pytest.approx(440, abs=2)
    n = min(len(x), len(y))
    assert np.corrcoef(x[:n], y[:n])[0, 1] > 0.95


def test_stereo_is_averaged_to_mono(tmp_path):
    sr = 16000
    left = sine(440, sr, 0.3)
    right = sine(880, sr, 0.3, amp=0.25)
    sf.write(tmp_path / "st.wav", np.stack([left, right], axis=1), sr, subtype="FLOAT")
    y, _ = load(tmp_path / "st.wav")
    assert y.shape == left.shape
    np.testing.assert_allclose(y, (left + right) / 2, atol=1e-7)
    assert info(tmp_path / "st.wav").channels == 2


def test_save_channels_first_stereo(tmp_path):
    sr = 8000
    x = np.stack([sine(200, sr, 0.2), sine(500, sr, 0.2, amp=0.1)])  # (C, N)
    save(tmp_path / "st.flac", x, sr)
    data, _ = sf.read(tmp_path / "st.flac", dtype="float32")
    assert data.shape == (x.shape[1], 2)
    np.testing.assert_allclose(data.T, x, atol=1.01 / 32768)


def test_int16_pcm_is_scaled_to_unit_range(tmp_path):
    pcm = np.array([0, 16384, -16384, -32768, 32767, 1], dtype=np.int16)
    sf.write(tmp_path / "i.wav", pcm, 8000, subtype="PCM_16")
    y, _ = load(tmp_path / "i.wav")
    np.testing.assert_array_equal(y, pcm.astype(np.float32) / 32768.0)


# ------------------------------------------------------------------------------------- resampling


def test_load_resamples_8k_to_16k_and_keeps_frequency(tmp_path):
    x = sine(440, 8000, 1.0)
    save(tmp_path / "a8k.wav", x, 8000, subtype="FLOAT")
    y, sr = load(tmp_path / "a8k.wav", sample_rate=16000)
    assert sr == 16000
    assert len(y) == 16000
    assert y.dtype == np.float32
    assert peak_hz(y, 16000) == pytest.approx(440, abs=1.5)
    # amplitude is preserved away from the edges
    assert np.abs(y[1000:-1000]).max() == pytest.approx(0.5, rel=0.02)


def test_resample_types_shapes_and_noop():
    x = sine(1000, 16000, 0.5)
    y = resample(x, 16000, 8000)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32 and y.shape == (4000,)
    assert peak_hz(y, 8000) == pytest.approx(1000, abs=3)
    t = torch.from_numpy(np.stack([x, -x]))  # (2, N)
    yt = resample(t, 16000, 22050)
    assert isinstance(yt, torch.Tensor) and yt.shape == (2, int(np.ceil(8000 * 22050 / 16000)))
    torch.testing.assert_close(yt[0], -yt[1])
    assert resample(x, 16000, 16000) is x
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


# ------------------------------------------------------------------------------------- segments


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_start_end_segment(tmp_path, ext):
    sr = 16000
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(sr) * 0.1).astype(np.float32)
    save(tmp_path / f"seg{ext}", x, sr)
    full, _ = load(tmp_path / f"seg{ext}")
    seg, got_sr = load(tmp_path / f"seg{ext}", start=0.25, end=0.5)
    assert got_sr == sr
    np.testing.assert_array_equal(seg, full[4000:8000])
    tail, _ = load(tmp_path / f"seg{ext}", start=0.75)
    np.testing.assert_array_equal(tail, full[12000:])
    head, _ = load(tmp_path / f"seg{ext}", end=0.1)
    np.testing.assert_array_equal(head, full[:1600])
    past, _ = load(tmp_path / f"seg{ext}", start=0.9, end=5.0)  # end clipped to the file
    np.testing.assert_array_equal(past, full[14400:])
    seg8k, sr8 = load(tmp_path / f"seg{ext}", 8000, start=0.25, end=0.5)
    assert sr8 == 8000 and len(seg8k) == 2000


def test_segment_errors(tmp_path):
    save(tmp_path / "s.wav", sine(100, 8000, 0.5), 8000)
    with pytest.raises(EmptyAudioError) as e:
        load(tmp_path / "s.wav", start=1.0, end=2.0)
    assert_one_line_naming(e.value, tmp_path / "s.wav")
    with pytest.raises(ValueError):
        load(tmp_path / "s.wav", start=0.3, end=0.2)
    with pytest.raises(ValueError):
        load(tmp_path / "s.wav", start=-1.0)


# ------------------------------------------------------------------------------------- compressed formats


def test_mp3_read(tmp_path):
    sr = 16000
    x = sine(440, sr, 1.0)
    path = tmp_path / "a.mp3"
    if "MP3" in sf.available_formats():
        sf.write(path, x, sr, format="MP3", subtype="MPEG_LAYER_III")
    elif HAVE_FFMPEG:
        sf.write(tmp_path / "src.wav", x, sr)
        ffmpeg_convert(tmp_path / "src.wav", path)
    else:
        pytest.skip("neither libsndfile MP3 support nor ffmpeg is available to create an mp3")
    y, got_sr = load(path)
    assert got_sr == sr
    assert abs(len(y) - len(x)) < 0.1 * sr  # encoder delay/padding only
    assert peak_hz(y, sr) == pytest.approx(440, abs=2)
    assert info(path).sample_rate == sr


@needs_ffmpeg
def test_m4a_decoded_through_ffmpeg(tmp_path):
    sr = 16000
    x = sine(440, sr, 1.0)
    sf.write(tmp_path / "src.wav", np.stack([x, x], axis=1), sr)
    path = tmp_path / "clip.m4a"
    ffmpeg_convert(tmp_path / "src.wav", path, "-c:a", "aac")
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(path))  # really a format only ffmpeg reads
    y, got_sr = load(path)
    assert got_sr == sr and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(x)) < 0.1 * sr
    assert peak_hz(y, sr) == pytest.approx(440, abs=2)
    y8, sr8 = load(path, sample_rate=8000)
    assert sr8 == 8000 and abs(len(y8) - len(y) / 2) <= 1
    seg, _ = load(path, start=0.25, end=0.75)
    assert abs(len(seg) - 8000) <= 2
    i = info(path)
    assert (i.sample_rate, i.channels, i.format) == (sr, 2, "M4A")
    assert i.duration == pytest.approx(1.0, abs=0.1)


@needs_ffmpeg
def test_damaged_m4a_stream_is_corrupt_not_silently_short(tmp_path):
    sf.write(tmp_path / "src.wav", sine(440, 16000, 1.0), 16000)
    good = tmp_path / "good.m4a"
    ffmpeg_convert(tmp_path / "src.wav", good, "-c:a", "aac")
    data = bytearray(good.read_bytes())
    # overwrite the middle third (AAC frames, not the container index) with noise
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = np.random.default_rng(3).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    path = tmp_path / "damaged.m4a"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptAudioError) as e:
        load(path)
    assert_one_line_naming(e.value, path)


@needs_ffmpeg
def test_m4a_without_ffmpeg_says_install_ffmpeg(tmp_path, monkeypatch):
    sf.write(tmp_path / "src.wav", sine(440, 16000, 0.3), 16000)
    path = tmp_path / "clip.m4a"
    ffmpeg_convert(tmp_path / "src.wav", path, "-c:a", "aac")
    empty = tmp_path / "empty_bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for fn in (load, info):
        with pytest.raises(CorruptAudioError) as e:
            fn(path)
        assert "ffmpeg" in str(e.value)
        assert_one_line_naming(e.value, path)


# ------------------------------------------------------------------------------------- errors




def test_missing_file(tmp_path, ffmpeg_mode):
    path = tmp_path / "nope.wav"
    for fn in (load, info):
        with pytest.raises(AudioNotFoundError) as e:
            fn(path)
        assert isinstance(e.value, FileNotFoundError)
        assert_one_line_naming(e.value, path)


def test_zero_byte_file(tmp_path, ffmpeg_mode):
    path = tmp_path / "empty.wav"
    path.touch()
    for fn in (load, info):
        with pytest.raises(EmptyAudioError) as e:
            fn(path)
        assert "empty" in str(e.value)
        assert_one_line_naming(e.value, path)


def test_header_only_zero_sample_wav(tmp_path, ffmpeg_mode):
    path = tmp_path / "zero.wav"
    sf.write(path, np.zeros(0, dtype=np.float32), 16000)
    assert path.stat().st_size > 0
    for fn in (load, info):
        with pytest.raises(EmptyAudioError) as e:
            fn(path)
        assert_one_line_naming(e.value, path)


@pytest.mark.parametrize("ext", [".wav", ".flac"])
def test_header_cut_in_half(tmp_path, ffmpeg_mode, ext):
    good = tmp_path / f"good{ext}"
    save(good, sine(440, 16000, 0.5), 16000)
    header_len = 44 if ext == ".wav" else 42  # RIFF/fmt/data header; fLaC + STREAMINFO block
    path = tmp_path / f"cut{ext}"
    path.write_bytes(good.read_bytes()[: header_len // 2])
    for fn in (load, info):
        with pytest.raises(CorruptAudioError) as e:
            fn(path)
        assert_one_line_naming(e.value, path)


def test_truncated_flac_stream(tmp_path, ffmpeg_mode):
    rng = np.random.default_rng(1)
    good = tmp_path / "good.flac"
    save(good, (rng.standard_normal(32000) * 0.3).astype(np.float32), 16000)
    path = tmp_path / "half.flac"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptAudioError) as e:
        load(path)
    assert_one_line_naming(e.value, path)


def test_truncated_ogg_never_loads_silently(tmp_path, ffmpeg_mode):
    good = tmp_path / "good.ogg"
    save(good, sine(440, 16000, 1.0), 16000)
    path = tmp_path / "half.ogg"
    data = good.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    try:
        y, _ = load(path)
    except AudioError as e:  # libsndfile cannot measure it; ffmpeg (when present) reports damage
        assert_one_line_naming(e, path)
    else:
        assert 0 < len(y) <= 16000


def test_garbage_bytes(tmp_path, ffmpeg_mode):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    for fn in (load, info):
        with pytest.raises(CorruptAudioError) as e:
            fn(path)
        assert_one_line_naming(e.value, path)


def test_directory_is_an_audio_error(tmp_path):
    with pytest.raises(AudioError) as e:
        load(tmp_path)
    assert "directory" in str(e.value)


def test_errors_pickle_and_keep_fields():
    err = EmptyAudioError("/x/bad.wav", "file is empty (0 bytes);\nexpected an audio file")
    assert str(err) == "/x/bad.wav: file is empty (0 bytes); expected an audio file"
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is EmptyAudioError and str(back) == str(err) and back.path == "/x/bad.wav"
    nf = pickle.loads(pickle.dumps(AudioNotFoundError("a.wav", "no such file")))
    assert isinstance(nf, FileNotFoundError) and str(nf) == "a.wav: no such file"


# ------------------------------------------------------------------------------------- save


def test_save_creates_parents_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "deep" / "er" / "out.flac"
    save(path, sine(440, 16000, 0.1), 16000)
    assert sorted(os.listdir(path.parent)) == ["out.flac"]
    save(path, sine(880, 16000, 0.2), 16000)  # overwrite
    assert sorted(os.listdir(path.parent)) == ["out.flac"]
    assert info(path).num_frames == 3200


def test_failed_save_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "keep.wav"
    save(path, sine(440, 16000, 0.1), 16000)
    before = path.read_bytes()

    def broken_write(file, data, *args, **kwargs):
        file.write(b"RIFF partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf, "write", broken_write)
    with pytest.raises(AudioError) as e:
        save(path, sine(100, 16000, 0.5), 16000)
    assert "disk full" in str(e.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["keep.wav"]


def test_save_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        save(tmp_path / "x.txt", sine(1, 8000, 0.1), 8000)
    with pytest.raises(ValueError):
        save(tmp_path / "x.wav", np.zeros((800, 2), np.float32), 8000)  # (N, C): expected (C, N)
    with pytest.raises(ValueError):
        save(tmp_path / "x.wav", sine(1, 8000, 0.1), 8000, subtype="VORBIS")
    assert os.listdir(tmp_path) == []


def test_save_clips_integer_pcm(tmp_path):
    save(tmp_path / "c.wav", np.array([2.0, -3.0, 0.5], np.float32), 8000, subtype="PCM_16")
    y, _ = load(tmp_path / "c.wav")
    np.testing.assert_allclose(y, [32767 / 32768, -1.0, 0.5])


def test_audio_extensions():
    assert all(e.startswith(".") and e == e.lower() for e in AUDIO_EXTENSIONS)
    assert {".wav", ".flac", ".mp3", ".m4a"} <= set(AUDIO_EXTENSIONS)


def test_header_reading_does_not_import_torch():
    """Manifest checks and corpus importers read headers through speech.audio without loading torch."""
    code = ("import sys, speech.audio, speech.data.prepare, speech.data.manifest; "
            "print(sorted(m for m in ('torch', 'torchaudio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_save_accepts_tensors_and_resample_keeps_numpy(tmp_path):
    wav = torch.from_numpy(sine(440, 16000, 0.1)).to(torch.float64)
    save(tmp_path / "t.wav", torch.stack([wav, -wav]), 16000, subtype="FLOAT")  # (C, N) tensor
    y, sr = load(tmp_path / "t.wav")
    assert sr == 16000 and y.shape == (1600,) and np.abs(y).max() < 1e-6  # the channels cancel out
    assert isinstance(resample(sine(440, 16000, 0.1), 16000, 8000), np.ndarray)
