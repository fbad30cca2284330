"""Flite's and eSpeak NG's voices reading a word list at several pitches, accents and rates
(speech.recipes.synthetic_voices)."""
import shutil

import librosa
import numpy as np
import pytest
import soundfile as sf

from speech.pipelines.intelligibility import FliteSystem, TextItem
from speech.recipes.synthetic_voices import espeak_word_utterances, flite_word_utterances, trim_silence

needs_flite = pytest.mark.skipif(shutil.which("flite") is None,
                                 reason="CMU Flite not installed (the README's set-up installs it)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="eSpeak NG not installed (the README's set-up installs it)")


def test_trim_keeps_the_sound_and_a_margin():
    sr = 8000
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(sr // 2) / sr)
    wav = np.concatenate([np.zeros(sr), tone, 1e-5 * np.ones(sr)]).astype(np.float32)
    out = trim_silence(wav, sr, margin=0.03)
    assert abs(len(out) - (len(tone) + 2 * 0.03 * sr)) <= 2 * sr // 100
    assert np.abs(out).max() == pytest.approx(0.3, rel=1e-3)
    silent = np.zeros(800, np.float32)
    assert trim_silence(silent, sr) is silent


def test_flite_settings_must_be_numbers():
    if shutil.which("flite") is None:
        pytest.skip("CMU Flite not installed (the README's set-up installs it)")
    for bad in ({"duration_stretch": "slow"}, {"int_f0_target_mean": float("nan")}, {"a b": 1.0}):
        with pytest.raises(ValueError, match="flite setting"):
            FliteSystem("kal", settings=bad)
    with pytest.raises(ValueError, match="must be > 0"):
        flite_word_utterances(["one"], "unused", sample_rate=8000, voices={"kal": (0.0,)})


def median_f0(wav, sr):
    f0, voiced, _ = librosa.pyin(wav.astype(np.float64), fmin=50, fmax=400, sr=sr)
    return float(np.nanmedian(f0[voiced]))


@needs_flite
def test_pitch_and_rate_settings_change_the_voice():
    def say(**settings):
        return FliteSystem("kal", settings=settings).synthesize(TextItem("t", "seven nine", ""))

    low, sr = say(int_f0_target_mean=85, duration_stretch=1.0)
    high, _ = say(int_f0_target_mean=140, duration_stretch=1.0)
    slow, _ = say(int_f0_target_mean=110, duration_stretch=1.25)
    fast, _ = say(int_f0_target_mean=110, duration_stretch=0.8)
    assert median_f0(high, sr) > 1.3 * median_f0(low, sr)
    assert len(trim_silence(slow, sr)) > 1.3 * len(trim_silence(fast, sr))


@needs_flite
def test_word_clips_are_written_once_at_the_corpus_rate(tmp_path):
    utts = flite_word_utterances(["one", "two"], tmp_path, sample_rate=8000,
                                 voices={"kal": (100.0,), "slt": (180.0,)}, rates=(1.0,), progress=False)
    assert [(u.text, u.speaker) for u in utts] == [("one", "flite-kal-100"), ("two", "flite-kal-100"),
                                                   ("one", "flite-slt-180"), ("two", "flite-slt-180")]
    assert len({u.id for u in utts}) == 4
    stamps = {}
    for u in utts:
        wav, sr = sf.read(u.audio)
        assert sr == 8000 and 0.15 < len(wav) / sr < 1.5 and u.duration == pytest.approx(len(wav) / sr)
        stamps[u.audio] = (tmp_path / u.audio).stat().st_mtime_ns
    again = flite_word_utterances(["one", "two"], tmp_path, sample_rate=8000,
                                  voices={"kal": (100.0,), "slt": (180.0,)}, rates=(1.0,), progress=False)
    assert again == utts and all((tmp_path / u.audio).stat().st_mtime_ns == stamps[u.audio] for u in again)


@needs_espeak
def test_espeak_clips_are_written_once_per_accent_variant_and_rate(tmp_path):
    kw = dict(sample_rate=8000, accents=("en-us", "en-gb-scotland"), variants=("m1", "f2"), rates=(130, 230),
              progress=False)
    utts = espeak_word_utterances(["six", "nine"], tmp_path, **kw)
    assert len(utts) == 2 * 2 * 2 * 2 and len({u.id for u in utts}) == 16
    assert {u.speaker for u in utts} == {"espeak-en-us-m1", "espeak-en-us-f2", "espeak-en-gb-scotland-m1",
                                         "espeak-en-gb-scotland-f2"}
    wavs = {}
    for u in utts:
        wav, sr = sf.read(u.audio)
        assert sr == 8000 and 0.15 < len(wav) / sr < 1.5 and u.duration == pytest.approx(len(wav) / sr)
        assert u.text in ("six", "nine") and u.id.endswith(u.text)
        wavs[u.id] = wav
    # the rate, the variant and the accent each change the sound
    slow, fast = wavs["espeak-en-us-m1-130-six"], wavs["espeak-en-us-m1-230-six"]
    assert len(slow) > 1.3 * len(fast)
    assert median_f0(wavs["espeak-en-us-f2-130-nine"], 8000) > 1.3 * median_f0(wavs["espeak-en-us-m1-130-nine"], 8000)
    a, b = wavs["espeak-en-us-m1-130-nine"], wavs["espeak-en-gb-scotland-m1-130-nine"]
    assert len(a) != len(b) or not np.allclose(a, b)
    stamps = {u.audio: (tmp_path / u.audio).stat().st_mtime_ns for u in utts}
    again = espeak_word_utterances(["six", "nine"], tmp_path, **kw)
    assert again == utts and all((tmp_path / u.audio).stat().st_mtime_ns == stamps[u.audio] for u in again)


@needs_espeak
def test_espeak_refuses_voices_it_would_silently_replace(tmp_path):
    # espeak-ng itself falls back to its default voice for an unknown name, exit status 0
    for bad, match in (({"accents": ("en-xx",)}, "accent en-xx unknown"), ({"variants": ("zz",)}, "variant zz unknown"),
                       ({"variants": ("m1;x",)}, "plain voice names"), ({"rates": (20,)}, "rate 20")):
        with pytest.raises(ValueError, match=match):
            espeak_word_utterances(["six"], tmp_path, sample_rate=8000, progress=False, **bad)
    assert not any(tmp_path.iterdir())


def test_espeak_missing_program_is_one_line(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        espeak_word_utterances(["six"], tmp_path, sample_rate=8000, binary="no-such-espeak", progress=False)
