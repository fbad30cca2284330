"""Voice and vocoder export to ONNX: parity with torch (fp32 mel within 1e-3 on the bundled voice and on
a tiny LSTM voice), batch padding, int8, and the one-line refusals."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from speech.export.common import ExportError
from speech.export.vocoder import export_vocoder
from speech.export.voice import export_voice
from speech.runtime.format import read_export
from speech.runtime.tts import OnnxSynthesizer, OnnxVoice
from speech.runtime.vocoder import OnnxVocoder, open_vocoder

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TEXT = "Author of the danger trail, Philip Steels, etc. It was the best of times; blorptastic words are read too."


@pytest.fixture(scope="module")
def kathleen_onnx(tmp_path_factory) -> Path:
    from speech.pretrained import pretrained_path

    return export_voice(pretrained_path("kathleen"), tmp_path_factory.mktemp("k") / "kathleen-onnx", int8=False,
                        opset=17).path


@pytest.fixture(scope="module")
def lstm_voice(tmp_path_factory) -> Path:
    """A tiny untrained voice with every optional part the conv voice lacks: LSTM encoder and decoder,
    conv value embeddings, a postnet and two speakers."""
    from speech.features import tts_fbank
    from speech.features.prosody import TargetStats
    from speech.models.tts import fastspeech2
    from speech.packages.voice import save_tts_package
    from speech.text.phonemes import PhonemeTokenizer

    tok = PhonemeTokenizer()
    kw = dict(hidden_size=16, variance_hidden=16, encoder="lstm", decoder="lstm", encoder_layers=2, decoder_layers=1,
              variance_embedding="conv", postnet=True, postnet_channels=16, n_speakers=2)
    torch.manual_seed(1)
    model = fastspeech2(vocab_size=len(tok), n_mels=80, **kw)
    with torch.no_grad():  # about 3 frames per phoneme, so the decoder sees real sequences
        model.duration_predictor.out.bias.fill_(1.4)
    rng = np.random.default_rng(0)
    return save_tts_package(
        tmp_path_factory.mktemp("lstm") / "model", fbank=tts_fbank(),
        model_cfg={"_target_": "speech.models.tts.fastspeech2", **kw}, tokenizer=tok, state=model.state_dict(),
        stats=TargetStats(pitch_mean=5.3, pitch_std=0.2, energy_mean=0.0, energy_std=1.0),
        mel_mean=rng.normal(-5, 1, 80), mel_std=rng.uniform(0.5, 2, 80), meta={"corpus": "nowhere"})


def _mels(synth, text: str = TEXT) -> np.ndarray:
    return synth.synthesize(text).mel


def test_kathleen_fp32_parity(kathleen_onnx):
    from speech.pipelines.synthesizer import Synthesizer

    meta = read_export(kathleen_onnx, "tts").meta
    assert set(meta["graphs"]) == {"encoder", "decoder", "g2p"}
    assert meta["parity"]["fp32_mel_mad"] <= 1e-3 and meta["parity"]["fp32_duration_agreement"] == 1.0
    assert meta["parity"]["fp32_g2p_words_equal"] == "5/5"
    assert "fp32_mel_mad" in (kathleen_onnx / "card.md").read_text()
    ref = Synthesizer("kathleen").synthesize(TEXT)
    got = OnnxSynthesizer(kathleen_onnx, threads=1).synthesize(TEXT)
    assert got.mel.shape == ref.mel.shape  # same durations, so the same number of frames
    assert float(np.abs(got.mel - ref.mel).mean()) <= 1e-3
    assert got.warnings == ref.warnings == ["not in the dictionary, guessed: blorptastic"]
    assert [list(p["durations"]) for p in got.pieces] == [list(p["durations"]) for p in ref.pieces]
    assert np.abs(got.wav - ref.wav).max() < 1e-2  # Griffin-Lim in numpy with torch's random phase


def test_lstm_voice_parity_and_speakers(lstm_voice, tmp_path):
    from speech.pipelines.synthesizer import Synthesizer

    out = export_voice(lstm_voice, tmp_path / "lstm-onnx", int8=False, opset=17)
    assert out.parity["fp32_mel_mad"] <= 1e-3 and out.parity["fp32_duration_agreement"] == 1.0
    onnx_synth, torch_synth = OnnxSynthesizer(out.path, threads=1), Synthesizer(lstm_voice)
    assert onnx_synth.n_speakers == 2
    for speaker in (0, 1):
        ref = torch_synth.synthesize("Hello there, world.", speaker=speaker, speed=1.3, pitch_shift=2.0,
                                     energy_scale=1.2)
        got = onnx_synth.synthesize("Hello there, world.", speaker=speaker, speed=1.3, pitch_shift=2.0,
                                    energy_scale=1.2)
        assert got.mel.shape == ref.mel.shape and float(np.abs(got.mel - ref.mel).mean()) <= 1e-3
        assert np.allclose(got.pieces[0]["f0_hz"], ref.pieces[0]["f0_hz"], rtol=1e-4)
    with pytest.raises(ValueError, match="speaker=2: voice .* has 2 speakers"):
        onnx_synth.synthesize("Hello.", speaker=2)


def test_batch_padding_gives_the_mel_of_one_at_a_time(lstm_voice, kathleen_onnx, tmp_path):
    out = export_voice(lstm_voice, tmp_path / "lstm-onnx", int8=False, opset=17, measure=False)
    for folder in (out.path, kathleen_onnx):
        voice = OnnxVoice(folder, read_export(folder).meta, threads=1)
        ids = [[5, 6, 7, 8, 9, 10, 11, 3], [12, 13, 3], [20, 21, 22, 23, 3]]
        batch = voice.acoustic(ids, speaker=1)
        for q, b in zip(ids, batch):
            alone = voice.acoustic([q], speaker=1)[0]
            assert np.array_equal(alone["durations"], b["durations"])
            assert np.abs(alone["mel"] - b["mel"]).max() < 1e-4


def test_int8_export_works_and_is_close(lstm_voice, tmp_path):
    import onnx

    out = export_voice(lstm_voice, tmp_path / "int8", int8=True, opset=17)
    meta = read_export(out.path, "tts").meta
    assert meta["precision"] == "int8" and "int8_mel_mad" in meta["parity"]
    ops = {n.op_type for n in onnx.load(str(out.path / "encoder.onnx")).graph.node}
    assert "DynamicQuantizeLSTM" in ops  # the LSTMs hold int8 weights
    assert out.parity["int8_mel_mad"] < 0.2  # an untrained voice's mel spans several log units
    res = OnnxSynthesizer(out.path, threads=1).synthesize("Hello, world.")
    assert res.wav.dtype == np.float32 and len(res.wav) > 0 and np.isfinite(res.wav).all()


def test_package_missing_a_file_is_one_line(tiny_voice, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_voice, broken)
    (broken / "stats.json").unlink()
    with pytest.raises(ExportError, match="stats.json") as e:
        export_voice(broken, tmp_path / "out", int8=False, opset=17)
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_an_export_is_not_exported_again(tiny_voice, tmp_path):
    out = export_voice(tiny_voice, tmp_path / "once", int8=False, opset=17, measure=False).path
    with pytest.raises(ExportError, match="is an ONNX export already"):
        export_voice(out, tmp_path / "twice", int8=False, opset=17)


def test_vocoder_export_parity_and_mel_config_check(tiny_vocoder, tmp_path):
    out = export_vocoder(tiny_vocoder, tmp_path / "voc-onnx", int8=False, opset=17)
    assert out.parity["fp32_wav_mad"] < 1e-5
    exp = read_export(out.path, "vocoder")
    voc = open_vocoder(out.path, exp.meta["features"], {})
    assert isinstance(voc, OnnxVocoder)
    wav = voc(np.full((1, 10, 80), -5.0, np.float32), np.array([7]))
    assert wav.shape == (1, 10 * voc.hop_length) and not wav[0, 7 * voc.hop_length:].any()
    other = dict(exp.meta["features"], n_mels=40)
    with pytest.raises(ValueError, match="n_mels=40"):
        open_vocoder(out.path, other, {})
    with pytest.raises(ValueError, match="not of a"):  # a vocoder export is not a voice
        OnnxSynthesizer(out.path)


def test_voice_with_exported_vocoder(tiny_voice, tiny_vocoder, tmp_path):
    voice = export_voice(tiny_voice, tmp_path / "v", int8=False, opset=17, measure=False).path
    voc = export_vocoder(tiny_vocoder, tmp_path / "voc", int8=False, opset=17, measure=False).path
    res = OnnxSynthesizer(voice, vocoder=str(voc), threads=1).synthesize("Hello.")
    assert len(res.wav) == res.mel.shape[0] * 256 and json.loads((voc / "meta.json").read_text())["task"] == "vocoder"
