"""Audio without speech never reaches the model; bad inputs in a batch are reported one line each
while the rest are transcribed."""

from __future__ import annotations

import glob
import os
import threading

import numpy as np
import pytest
import soundfile as sf

from speech.audio import load
from speech.runtime.segment import SegmentConfig, has_speech, segments
from speech.pipelines.transcriber import Transcriber, Transcript
from speech.runtime.results import Failure

SR = 8000


@pytest.fixture()
def tr(tiny_package):
    """A Transcriber whose model counts its calls in ``tr.calls``."""
    t = Transcriber(tiny_package, batch_size=4)
    t.calls = []
    t.pkg.model.register_forward_hook(lambda m, args, out: t.calls.append(args[0].shape[0]))
    return t


def burst(seconds: float, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def no_speech(result: Transcript, path) -> None:
    assert isinstance(result, Transcript)
    assert result.text == "" and result.segments == []
    assert len(result.warnings) == 1
    w = result.warnings[0]
    assert w.startswith(f"{path}: ") and "\n" not in w and "no speech found" in w
    assert result.to_dict()["warnings"] == result.warnings


@pytest.mark.parametrize("seconds", [1.0, 5.0])
def test_digital_zeros_are_not_transcribed(tmp_path, tr, seconds):
    path = tmp_path / "zeros.wav"
    sf.write(path, np.zeros(int(seconds * SR), np.float32), SR)
    result = tr.transcribe_file(path)
    no_speech(result, path)
    assert result.duration == pytest.approx(seconds)
    assert tr.calls == []


@pytest.mark.parametrize("method", ["pause", "window"])
def test_ten_minutes_of_zeros_never_call_the_model(tmp_path, tiny_package, method):
    path = tmp_path / "ten_minutes.flac"
    sf.write(path, np.zeros(10 * 60 * SR, np.float32), SR)
    t = Transcriber(tiny_package, segment=SegmentConfig(method=method))
    calls = []
    t.pkg.model.register_forward_hook(lambda m, args, out: calls.append(1))
    result = t.transcribe_file(path, timestamps=True)
    no_speech(result, path)
    assert result.words == [] and result.duration == pytest.approx(600.0)
    assert calls == []
    assert list(segments(path, SR, SegmentConfig(method=method))) == []


def test_low_level_noise_is_not_speech(tmp_path, tr):
    noise = burst(2.0, amp=1e-4)  # -80 dBFS RMS: a quiet room through a closed microphone
    sf.write(tmp_path / "hiss.wav", noise, SR, subtype="FLOAT")
    no_speech(tr.transcribe_file(tmp_path / "hiss.wav"), tmp_path / "hiss.wav")
    long = burst(45.0, amp=1e-4, seed=1)
    sf.write(tmp_path / "long_hiss.wav", long, SR, subtype="FLOAT")
    no_speech(tr.transcribe_file(tmp_path / "long_hiss.wav"), tmp_path / "long_hiss.wav")
    assert tr.calls == []


def test_too_short_clip_gives_no_letter(tmp_path, tr):
    path = tmp_path / "click.wav"
    sf.write(path, burst(0.01), SR)
    result = tr.transcribe_file(path)
    assert result.text == "" and tr.calls == []
    assert result.warnings == [f"{path}: 0.01 s of audio is too short to hold speech (at least 0.1 s); "
                               "nothing transcribed"]


def test_speech_between_silences_is_found_in_long_files(tmp_path, tr):
    """A 2 s burst inside a minute of digital silence: only the burst is decoded, in both methods."""
    wav = np.zeros(60 * SR, np.float32)
    wav[25 * SR:27 * SR] = burst(2.0)
    path = tmp_path / "one_word.wav"
    sf.write(path, wav, SR)
    for method in ("pause", "window"):
        got = list(segments(path, SR, SegmentConfig(method=method, max_seconds=20, search_seconds=4)))
        assert got, method
        spans = [(s, s + len(w) / SR) for s, w in got]
        overlap = sum(max(0.0, min(e, 27.0) - max(s, 25.0)) for s, e in spans)
        assert overlap == pytest.approx(2.0, abs=1e-3), (method, spans)  # all of the burst, once
        assert all(has_speech(w, SR) for _, w in got)  # and no window of silence alone
    tr.segment = SegmentConfig(max_seconds=20)
    result = tr.transcribe_file(path)
    assert len(result.segments) == 1 and result.warnings == []
    assert result.segments[0].start == pytest.approx(24.9, abs=0.03)
    assert result.segments[0].end == pytest.approx(27.1, abs=0.03)
    assert sum(tr.calls) == 1


def test_truncated_file_is_transcribed_with_a_warning(tmp_path, tr):
    full = tmp_path / "full.wav"
    sf.write(full, burst(4.0), SR)
    data = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    result = tr.transcribe_file(cut)
    assert result.duration == pytest.approx(2.0, abs=0.01)
    assert len(result.warnings) == 1 and result.warnings[0].startswith(f"{cut}: truncated: ")
    assert sum(tr.calls) == 1
    assert "warnings" not in tr.transcribe_file(full).to_dict()


def test_quiet_real_speech_is_still_speech(data_root, tr):
    """Every FSDD recording made 15 dB quieter keeps a frame above the floor; the quietest one
    is still sent to the model."""
    files = sorted(glob.glob(str(data_root / "fsdd" / "recordings" / "*.wav")))
    assert len(files) > 1000
    gain = 10 ** (-15 / 20)
    levels = []
    for f in files:
        wav, _ = load(f)
        assert has_speech(gain * wav, SR), f
        levels.append((float(np.abs(wav).max()), f))
    quietest = min(levels)[1]
    wav, _ = load(quietest)
    assert tr.speech_problem(quietest, gain * wav) is None
    assert tr.transcribe_arrays([gain * wav]) is not None and len(tr.calls) == 1


def test_bad_items_in_a_batch_and_the_rest_transcribed(tmp_path, tr):
    good = [tmp_path / f"good{i}.wav" for i in range(3)]
    for i, p in enumerate(good):
        sf.write(p, burst(1.0, seed=i), SR)
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    zeros = tmp_path / "zeros.wav"
    sf.write(zeros, np.zeros(SR, np.float32), SR)
    short = tmp_path / "short.wav"
    sf.write(short, burst(0.01), SR)
    nan = tmp_path / "nan.wav"
    x = burst(1.0)
    x[:100] = np.nan
    sf.write(nan, x, SR, subtype="FLOAT")
    raw = tmp_path / "speech.raw"
    raw.write_bytes(b"\x00\x01" * 4000)
    order = [fifo, good[0], zeros, nan, good[1], raw, short, good[2]]

    box: dict = {}
    th = threading.Thread(target=lambda: box.setdefault("out", list(tr.transcribe_files(order))), daemon=True)
    th.start()
    th.join(60)
    assert not th.is_alive(), "transcribe_files blocked (on the FIFO?)"
    out = box["out"]
    assert [r.path for r in out] == [str(p) for p in order]
    kinds = [type(r).__name__ for r in out]
    assert kinds == ["Failure", "Transcript", "Transcript", "Failure", "Transcript", "Failure", "Transcript",
                     "Transcript"]
    for r in out:
        if isinstance(r, Failure):
            assert "\n" not in r.error and r.error.startswith(f"{r.path}: ")
    assert "FIFO" in out[0].error
    assert "100 samples are NaN or infinite" in out[3].error
    assert "headerless" in out[5].error
    assert "no speech found" in out[2].warnings[0]
    assert "too short" in out[6].warnings[0]
    for r in (out[1], out[4], out[7]):
        assert r.warnings == []
    assert sum(tr.calls) == 3  # the three good files, nothing else


def test_segment_config_rejects_a_bad_floor():
    with pytest.raises(ValueError, match="speech_floor_db"):
        SegmentConfig(speech_floor_db=5.0)


def test_long_mp3_that_ends_early_is_transcribed_with_one_warning(tmp_path, tr):
    rng = np.random.default_rng(0)
    word = np.concatenate([0.3 * rng.standard_normal(3 * SR), np.zeros(SR)]).astype(np.float32)
    full = tmp_path / "full.mp3"
    sf.write(full, np.tile(word, 6), SR)  # 24 s (a long file): 3 s of sound, 1 s of silence, ...
    data = full.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    result = tr.transcribe_file(cut)
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"{cut}: truncated: the header promises 24.0 s, the decoder found ")
    assert result.segments and all(s.end < 13 for s in result.segments)
