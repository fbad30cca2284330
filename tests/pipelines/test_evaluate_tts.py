"""Objective TTS measures: MCD with DTW, F0 RMSE / voicing error, RTF, recognizer WER, reports."""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest

from speech.features.quality import MCD_CONST, dtw_path, f0_metrics, mcd_dtw, mel_cepstrum
from speech.pipelines.evaluate_tts import PocketSphinxRecognizer, SynthesisItem, evaluate_synthesis, recognizer_wer, write_report

SR = 16000


def tone(f0: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    """Harmonic tone (5 partials, 1/k amplitudes) at ``f0`` Hz."""
    t = np.arange(int(seconds * sr)) / sr
    return sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)).astype(np.float32)


def noise(seconds: float = 1.0, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return (level * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


@pytest.fixture(scope="module")
def harvard(request):
    """The Harvard-sentence clips: list of (id, wav, sr, text); skip (or fail under
    SPEECH_REQUIRE_DATA=1) when the corpus is absent."""
    root = request.getfixturevalue("data_root") / "harvard"
    if not (root / "manifest.tsv").is_file():
        msg = f"Harvard sentences not found at {root} (see ../shared/data/README.md)"
        if os.environ.get("SPEECH_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    from speech.audio import load

    clips = []
    for line in (root / "manifest.tsv").read_text().splitlines()[1:]:
        uid, path, _, _, text = line.split("\t")
        wav, sr = load(root / path)
        clips.append((uid, wav, sr, text))
    return clips


# ------------------------------------------------------------------------------------ cepstra / MCD

def test_mel_cepstrum_shape_and_c0_is_mean_log_amplitude():
    x = tone(150) + noise(level=0.05)  # broadband: no mel band sits at the 1e-6 power floor
    c = mel_cepstrum(x, SR, n_coeffs=13)
    assert c.shape[1] == 13 and c.shape[0] == 1 + (len(x) - 742) // 186  # 46.4 / 11.6 ms at 16 kHz
    # doubling the amplitude shifts only c0, by ln 2 (mean of ln A); the shape terms are unchanged
    c2 = mel_cepstrum(2 * x, SR, n_coeffs=13)
    np.testing.assert_allclose(c2[:, 0] - c[:, 0], math.log(2), atol=1e-6)
    np.testing.assert_allclose(c2[:, 1:], c[:, 1:], atol=1e-6)
    assert mcd_dtw(x, 2 * x, SR) < 1e-6  # loudness is not distortion


def test_dtw_path_is_monotone_and_anchored():
    a = np.arange(5.0)[:, None]
    b = np.repeat(np.arange(5.0), 2)[:, None]  # every frame of a twice
    ia, ib = dtw_path(a, b)
    assert (ia[0], ib[0]) == (0, 0) and (ia[-1], ib[-1]) == (4, 9)
    assert np.all(np.diff(ia) >= 0) and np.all(np.diff(ib) >= 0)
    np.testing.assert_array_equal(a[ia], b[ib])  # the zero-cost alignment is found


def test_mcd_self_is_zero_and_grows_with_noise():
    x = tone(180, 1.5) * np.hanning(int(1.5 * SR)).astype(np.float32)
    assert mcd_dtw(x, x, SR) == pytest.approx(0.0, abs=1e-9)
    scores = [mcd_dtw(x, x + noise(1.5, level, seed=1), SR) for level in (0.001, 0.01, 0.05, 0.2)]
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    assert scores[0] > 0.0


def test_mcd_dtw_aligns_time_stretched_speech(harvard):
    import librosa

    _, a, sr, _ = harvard[0]
    _, other, sr2, _ = harvard[1]  # same speaker, another sentence
    assert sr == sr2
    stretched = librosa.effects.time_stretch(a, rate=1.2)
    same, diff = mcd_dtw(a, stretched, sr), mcd_dtw(a, other, sr)
    # measured on spk1_snt1 vs its 1.2x stretch / spk1_snt2: 2.3 dB vs 5.5 dB
    assert same < 0.6 * diff, (same, diff)
    assert same < 3.5


def test_mcd_formula_constant():
    assert MCD_CONST == pytest.approx(6.14185, abs=1e-5)  # 10 / ln 10 * sqrt(2)


# ------------------------------------------------------------------------------------ F0

def test_f0_rmse_of_detuned_tone():
    m = f0_metrics(tone(200), tone(212), SR)
    assert m["f0_rmse_hz"] == pytest.approx(12.0, abs=1.0)
    assert m["f0_rmse_cents"] == pytest.approx(1200 * math.log2(212 / 200), abs=5.0)  # ~100.9
    assert m["vde"] < 0.05


def test_f0_same_tone_is_zero():
    m = f0_metrics(tone(200), tone(200), SR)
    assert m["f0_rmse_hz"] < 0.5 and m["f0_rmse_cents"] < 5 and m["vde"] < 0.05


def test_vde_tone_against_noise_and_silence():
    assert f0_metrics(tone(200), noise(), SR)["vde"] > 0.8
    m = f0_metrics(tone(200), np.zeros(SR, np.float32), SR)
    assert m["vde"] == pytest.approx(1.0)
    assert math.isnan(m["f0_rmse_hz"]) and math.isnan(m["f0_rmse_cents"])  # no frame voiced in both


# ------------------------------------------------------------------------------------ bad input

def test_bad_input_errors():
    x = tone(200, 0.5)
    with pytest.raises(ValueError, match="syn_wav: empty audio"):
        mcd_dtw(x, np.zeros(0, np.float32), SR)
    with pytest.raises(ValueError, match="ref_wav: integer samples"):
        mcd_dtw((x * 32767).astype(np.int16), x, SR)
    with pytest.raises(ValueError, match="sample rate"):
        f0_metrics(x, x, 0)
    with pytest.raises(ValueError, match="NaN"):
        mcd_dtw(x, np.full(100, np.nan, np.float32), SR)
    item = {"id": "u1", "text": "hi", "ref_wav": x, "syn_wav": x, "ref_sr": 22050, "syn_sr": 16000,
            "synth_seconds": 0.1}
    with pytest.raises(ValueError, match="'u1': sample-rate mismatch: ref_sr=22050 but syn_sr=16000"):
        evaluate_synthesis([item])
    with pytest.raises(ValueError, match="'u2': syn_wav: empty audio"):
        evaluate_synthesis([dict(item, id="u2", ref_sr=SR, syn_sr=SR, syn_wav=np.zeros(0))])
    with pytest.raises(ValueError, match="no items"):
        evaluate_synthesis([])


# ------------------------------------------------------------------------------------ WER

def test_recognizer_wer_normalizes_both_sides():
    # numbers and currency are spelled out, case and punctuation dropped; "Dr." stays "dr"
    assert recognizer_wer(["Dr. Smith paid $5."], ["dr smith paid five dollars"]) == 0.0
    assert recognizer_wer(["It's 42, no: the 21st!"], ["its forty two no the twenty first"]) == \
        pytest.approx(1 / 7)  # only it's/its differs
    assert recognizer_wer(["Dr. Smith paid 5 dollars", "a b"], ["doctor smith paid five dollars", ""]) == \
        pytest.approx(3 / 7)  # dr->doctor (1 sub) + 2 deletions over 5 + 2 words
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        recognizer_wer(["a", "b"], ["a"])


def test_missing_pocketsphinx_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # makes `import pocketsphinx` fail
    with pytest.raises(ImportError, match=r"pip install 'speech\[eval\]'"):
        PocketSphinxRecognizer()


def test_pocketsphinx_on_real_recordings(harvard):
    pytest.importorskip("pocketsphinx", reason="needs the eval extra: pip install 'speech[eval]'")
    rec = PocketSphinxRecognizer()
    texts = [text for _, _, _, text in harvard]
    hyps = [rec.transcribe(wav, sr) for _, wav, sr, _ in harvard]
    w = recognizer_wer(texts, hyps)
    # measured: 0.29 over the 12 Harvard clips (pocketsphinx 5.1.1, bundled en-us model)
    assert w < 0.45, list(zip(texts, hyps))
    junk = rec.transcribe(noise(3.0), SR)
    assert recognizer_wer([texts[0]], [junk]) >= 0.9, junk


# ------------------------------------------------------------------------------------ evaluation

class FakeRecognizer:
    """Returns the prompt for real audio (longer than 0.7 s) and garbage otherwise."""

    def transcribe(self, wav, sr):
        return "a tone" if len(wav) / sr > 0.7 else "noise"


def test_evaluate_synthesis_and_report(tmp_path):
    items = [
        SynthesisItem("t1", "a tone", tone(200), tone(212, 0.5), SR, synth_seconds=0.25),
        {"id": "t2", "text": "a tone", "ref_wav": tone(150), "syn_wav": np.zeros(SR // 2, np.float32),
         "sr": SR, "synth_seconds": 0.75},
    ]
    res = evaluate_synthesis(items, recognizer=FakeRecognizer(), pitch_method="yin")
    assert res["utterances"] == 2
    assert res["rtf"] == pytest.approx(1.0 / 1.0)  # 1 s of compute for 2 x 0.5 s of audio
    r1, r2 = res["rows"]
    assert r1["f0_rmse_cents"] == pytest.approx(100.9, abs=8)
    assert math.isnan(r2["f0_rmse_hz"]) and r2["vde"] == pytest.approx(1.0)
    assert res["f0_utterances"] == 1 and res["f0_rmse_cents"] == r1["f0_rmse_cents"]  # NaN skipped
    assert res["vde"] == pytest.approx((r1["vde"] + 1.0) / 2)
    assert res["mcd_db"] == pytest.approx((r1["mcd_db"] + r2["mcd_db"]) / 2)
    assert res["wer_real"] == 0.0 and res["wer_synth"] == 1.0
    assert (r1["hyp_real"], r1["hyp_synth"]) == ("a tone", "noise")

    json_path, tsv_path = write_report(res, tmp_path / "out")
    data = json.loads(json_path.read_text())  # strict JSON: NaN written as null
    assert data["rows"][1]["f0_rmse_hz"] is None and data["wer_synth"] == 1.0
    lines = tsv_path.read_text().splitlines()
    assert lines[0].split("\t")[:6] == ["id", "mcd_db", "mcd_world_db", "f0_rmse_hz", "f0_rmse_cents", "vde"]
    assert len(lines) == 3 and lines[2].split("\t")[3] == "nan"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["tts_eval.json", "tts_eval.tsv"]


# ------------------------------------------------------------------------- the standard (WORLD/SPTK) MCD


def test_mcd_from_cepstra_by_hand():
    """Two frame pairs at distances 1 and 2: mean 1.5 * 10 / ln 10 * sqrt(2) = 9.2128 dB."""
    from speech.features.quality import mcd_from_cepstra

    cr = np.array([[1.0, 0.0], [0.0, 2.0]])
    cs = np.zeros((2, 2))
    assert mcd_from_cepstra(cr, cs, np.array([0, 1]), np.array([0, 1])) == pytest.approx(9.2128, abs=1e-4)


def _voice_like(sr: int = SR) -> np.ndarray:
    """A harmonic source with a gliding 120 Hz F0 through one resonance (WORLD needs periodic input)."""
    import scipy.signal as ss

    n = np.arange(sr)
    phase = np.cumsum(2 * np.pi * 120 * (1 + 0.05 * np.sin(2 * np.pi * 2 * n / sr)) / sr)
    x = sum(np.cos(k * phase) / k for k in range(1, 60) if k * 120 < 0.48 * sr)
    x = ss.lfilter([1.0], [1.0, -1.3, 0.8], x)
    return 0.1 * x / np.abs(x).max()


@pytest.mark.parametrize("a", [0.3, 0.5])
def test_world_mcd_of_a_known_filter_equals_its_cepstral_distance(a):
    """y = x through 1 / (1 - a z^-1), whose log-amplitude cepstrum is a^n / n: the standard MCD of
    (x, y) must be the distance of that cepstrum warped to the mel scale (SPTK freqt), computed here
    by hand, within WORLD's analysis error (measured 4-5%)."""
    pysptk = pytest.importorskip("pysptk")
    pytest.importorskip("pyworld")
    import scipy.signal as ss

    from speech.features.quality import mcd_world

    x = _voice_like()
    y = ss.lfilter([1.0], [1.0, -a], x)
    c = np.zeros(2048)
    c[1:] = a ** np.arange(1, 2048) / np.arange(1, 2048)
    expected = MCD_CONST * np.linalg.norm(pysptk.freqt(c, 24, pysptk.util.mcepalpha(SR))[1:])
    assert mcd_world(x, y, SR, trim=False) == pytest.approx(expected, rel=0.1)
    assert mcd_world(x, x, SR) == pytest.approx(0.0, abs=1e-9)


def test_evaluate_synthesis_reports_both_mcds_named_apart():
    pytest.importorskip("pyworld")
    pytest.importorskip("pysptk")
    import scipy.signal as ss

    x = _voice_like().astype(np.float32)
    y = ss.lfilter([1.0], [1.0, -0.5], x).astype(np.float32)
    res = evaluate_synthesis([SynthesisItem("u1", "a", x, y, SR, 0.1)], pitch_method="yin")
    assert res["mcd_world_db"] > 1.0 and res["mcd_db"] > 0
    assert res["rows"][0]["mcd_world_db"] == pytest.approx(res["mcd_world_db"])
