"""Inputs that must not fool or hang audio reading: special files, headerless and garbage files,
non-finite samples, truncated files. Every failure is one AudioError line naming the file."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import threading

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from speech.audio import (
    AudioError,
    CorruptAudioError,
    EmptyAudioError,
    NonFiniteAudioError,
    UnsupportedAudioError,
    info,
    load,
)

SR = 8000
HAVE_FFMPEG = shutil.which("ffmpeg") is not None


def one_line(err: BaseException, path) -> str:
    msg = str(err)
    assert isinstance(err, AudioError)
    assert "\n" not in msg and msg.startswith(f"{path}: ")
    assert "expected" in msg
    return msg


def tone(seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (amp * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def within(seconds: float, fn, *args):
    """Run fn(*args) in a thread; fail (instead of hanging the suite) if it has not returned in time."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"{getattr(fn, '__name__', fn)}{args} still blocked after {seconds} s"
    return box




# ------------------------------------------------------------------------------ special files


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "input.wav"
    os.mkfifo(fifo)
    for fn in (load, info):
        box = within(10, fn, fifo)  # opening a FIFO with no writer would block forever
        err = box.get("error")
        assert err is not None, f"{fn.__name__} read a FIFO"
        msg = one_line(err, fifo)
        assert "FIFO" in msg and "not a regular file" in msg


def test_devices_and_sockets_are_refused(tmp_path):
    cases = [("/dev/null", "character device"), ("/dev/zero", "character device")]
    sock_path = tmp_path / "s.wav"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(sock_path))
        cases.append((str(sock_path), "socket"))
        for path, what in cases:
            if not os.path.exists(path):
                continue
            for fn in (load, info):
                box = within(10, fn, path)
                assert what in one_line(box["error"], path)
    finally:
        s.close()


def test_directory_is_refused(tmp_path):
    with pytest.raises(AudioError, match="is a directory"):
        load(tmp_path)


# ------------------------------------------------------------------------- undecodable files


@pytest.mark.parametrize("name", ["speech.raw", "SPEECH.RAW"])
def test_headerless_raw_is_unsupported_not_type_error(tmp_path, name, ffmpeg_mode):
    path = tmp_path / name
    path.write_bytes((tone(0.5) * 32767).astype("<i2").tobytes())
    for fn in (load, info):
        with pytest.raises(UnsupportedAudioError) as e:
            fn(path)
        msg = one_line(e.value, path)
        assert "headerless" in msg and "header" in msg.split("expected", 1)[1]
        assert isinstance(e.value, CorruptAudioError)


def wav_bytes(x: np.ndarray, subtype: str = "PCM_16") -> bytes:
    import io

    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype=subtype)
    return buf.getvalue()


def test_text_file_named_wav(tmp_path, ffmpeg_mode):
    path = tmp_path / "notes.wav"
    path.write_text("not audio at all\n" * 20)
    for fn in (load, info):
        with pytest.raises(CorruptAudioError) as e:
            fn(path)
        one_line(e.value, path)


def test_wrong_fmt_chunk_size(tmp_path, ffmpeg_mode):
    data = bytearray(wav_bytes(tone(0.5)))
    data[16:20] = struct.pack("<I", 1000)  # the fmt chunk claims to run past the data chunk
    path = tmp_path / "badfmt.wav"
    path.write_bytes(bytes(data))
    for fn in (load, info):
        with pytest.raises(CorruptAudioError) as e:
            fn(path)
        one_line(e.value, path)


def test_header_only_wav_promising_samples(tmp_path, ffmpeg_mode):
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(tone(2.0))[:44])  # the header promises 2 s; no sample follows
    for fn in (load, info):
        with pytest.raises(EmptyAudioError) as e:
            fn(path)
        msg = one_line(e.value, path)
        assert "truncated" in msg and "2.0 s" in msg


GARBAGE_PREFIXES = [b"", b"RIFF\x24\x00\x00\x00WAVE", b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00",
                    b"fLaC", b"OggS", b"ID3", b".snd", b"FORM\x00\x00\x00\x20AIFF"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(GARBAGE_PREFIXES), body=st.binary(min_size=0, max_size=300),
       use_header=st.booleans())
def test_garbage_is_one_audio_error_line(tmp_path, prefix, body, use_header):
    """Random bytes behind real and fake headers: a result or one AudioError line, nothing else."""
    path = tmp_path / "garbage.wav"
    head = wav_bytes(tone(0.05))[:44] if use_header else prefix
    path.write_bytes(head + body)
    for fn in (info, load):
        try:
            got = fn(path)
        except AudioError as e:
            one_line(e, path)
        else:
            if fn is load:
                wav, sr = got
                assert sr > 0 and wav.ndim == 1 and np.isfinite(wav).all()


# -------------------------------------------------------------------------- non-finite samples


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused(tmp_path, bad):
    x = tone(2.0)
    x[1000:1100] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    info(path)  # the header is fine
    with pytest.raises(NonFiniteAudioError) as e:
        load(path)
    msg = one_line(e.value, path)
    assert "100 samples are NaN or infinite" in msg and "expected finite audio" in msg
    with pytest.raises(NonFiniteAudioError, match="100 samples"):
        load(path, 16000)  # before and after resampling
    # a window holding part of the damage counts what it holds; a clean window reads fine
    with pytest.raises(NonFiniteAudioError, match="50 samples"):
        load(path, start=1050 / SR, end=1.0)
    wav, _ = load(path, start=0.5, end=1.5)
    assert np.isfinite(wav).all()
    wav, _ = load(path, 16000, start=0.5, end=1.5)
    assert np.isfinite(wav).all()


def test_one_nan_in_stereo_and_absurd_floats(tmp_path):
    x = np.stack([tone(1.0), tone(1.0)], axis=1)
    x[10, 1] = np.nan
    sf.write(tmp_path / "st.wav", x, SR, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match="1 sample is NaN or infinite"):
        load(tmp_path / "st.wav")
    y = tone(1.0)
    y[5] = 1e30  # finite, but its power overflows float32 features
    sf.write(tmp_path / "huge.wav", y, SR, subtype="FLOAT")
    with pytest.raises(NonFiniteAudioError, match="1e\\+30"):
        load(tmp_path / "huge.wav")
    y[5] = 1.5  # a clipped-but-sane float file still loads
    sf.write(tmp_path / "loud.wav", y, SR, subtype="FLOAT")
    assert load(tmp_path / "loud.wav")[0].max() == pytest.approx(1.5)


# ------------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("ext", [".wav", ".aiff", ".au"])
def test_truncated_file_is_read_with_a_warning(tmp_path, ext):
    full = tmp_path / f"full{ext}"
    sf.write(full, tone(4.0), SR)
    assert info(full).warnings == ()
    data = full.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) // 2])
    i = info(cut)
    assert len(i.warnings) == 1
    w = i.warnings[0]
    assert "\n" not in w and w.startswith(f"{cut}: truncated: ")
    assert "promises 4.0 s" in w and "holds 2.0 s" in w
    wav, _ = load(cut)
    assert len(wav) == i.num_frames and abs(len(wav) / SR - 2.0) < 0.01


def test_streamed_wav_with_unknown_size_is_not_truncated(tmp_path):
    data = bytearray(wav_bytes(tone(1.0)))
    data[4:8] = data[40:44] = b"\xff\xff\xff\xff"  # what streaming writers put before the length is known
    path = tmp_path / "stream.wav"
    path.write_bytes(bytes(data))
    assert info(path).warnings == ()
    assert len(load(path)[0]) == SR


def test_mp3_that_ends_early_warns_on_load(tmp_path):
    full = tmp_path / "full.mp3"
    sf.write(full, tone(6.0), SR)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    warnings: list[str] = []
    wav, _ = load(cut, warnings=warnings)
    assert 0 < len(wav) < 5 * SR
    assert len(warnings) == 1 and warnings[0].startswith(f"{cut}: truncated: the header promises 6.0 s")
    ok: list[str] = []
    load(full, warnings=ok)
    assert ok == []
