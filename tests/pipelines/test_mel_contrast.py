"""The synthesis post-filter: mel contrast (over-smoothing undone) and Griffin-Lim's magnitude power,
set by a voice's meta.json, the same in the torch synthesizer and the ONNX runtime."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from speech.runtime.synthesis import SYNTHESIS_DEFAULTS, mel_contrast, synthesis_defaults

TEXT = "A short test."


def test_mel_contrast_scales_variation_and_keeps_each_bands_mean():
    rng = np.random.default_rng(0)
    mel = rng.normal(-4, 1.5, (50, 80)).astype(np.float32)
    out = mel_contrast(mel, 1.3)
    assert np.allclose(out.mean(0), mel.mean(0), atol=1e-5)
    assert np.allclose(out.std(0), 1.3 * mel.std(0), rtol=1e-4)
    assert np.array_equal(mel_contrast(mel, 1.0), mel) and mel_contrast(mel, 1.0) is not mel
    assert mel_contrast(np.zeros((0, 80), np.float32), 1.3).shape == (0, 80)


def test_synthesis_defaults_read_and_checked():
    assert synthesis_defaults({}, "m.json") == SYNTHESIS_DEFAULTS
    assert synthesis_defaults({"synthesis": {"mel_contrast": 1.2}}, "m.json") == {"mel_contrast": 1.2,
                                                                                  "griffin_lim_power": 1.0}
    with pytest.raises(ValueError, match=r"m.json: synthesis.loudness: unknown setting"):
        synthesis_defaults({"synthesis": {"loudness": 2}}, "m.json")
    with pytest.raises(ValueError, match=r"m.json: synthesis.mel_contrast: 'high'; expected a number in"):
        synthesis_defaults({"synthesis": {"mel_contrast": "high"}}, "m.json")
    with pytest.raises(ValueError, match=r"synthesis.griffin_lim_power: 9; expected a number in \[0.5, 3.0\]"):
        synthesis_defaults({"synthesis": {"griffin_lim_power": 9}}, "m.json")
    with pytest.raises(ValueError, match="synthesis: expected an object"):
        synthesis_defaults({"synthesis": [1.2]}, "m.json")


def _voice_with(tiny_voice: Path, tmp_path: Path, synthesis) -> Path:
    dst = tmp_path / "voice"
    shutil.copytree(tiny_voice, dst)
    meta = json.loads((dst / "meta.json").read_text())
    meta["synthesis"] = synthesis
    (dst / "meta.json").write_text(json.dumps(meta))
    return dst


def test_torch_synthesizer_applies_the_contrast_per_utterance(tiny_voice):
    from speech.pipelines.synthesizer import Synthesizer

    plain = Synthesizer(tiny_voice)
    assert plain.mel_contrast == 1.0 and plain.vocoder.power == 1.0  # no synthesis object: off
    ref = plain.synthesize(TEXT)
    got = Synthesizer(tiny_voice, mel_contrast=1.3).synthesize(TEXT)
    assert len(ref.pieces) == 1 and got.mel.shape == ref.mel.shape
    assert np.allclose(got.mel, mel_contrast(ref.mel, 1.3), atol=1e-4)
    assert not np.allclose(got.wav, ref.wav)
    with pytest.raises(ValueError, match=r"^mel_contrast: 5; expected a number in \[0.5, 2.0\]$"):
        Synthesizer(tiny_voice, mel_contrast=5)


def test_package_settings_are_the_default_and_travel_to_the_onnx_export(tiny_voice, tmp_path):
    pytest.importorskip("onnxruntime")
    from speech.export.voice import export_voice
    from speech.pipelines.synthesizer import Synthesizer
    from speech.runtime.tts import OnnxSynthesizer

    voice = _voice_with(tiny_voice, tmp_path, {"mel_contrast": 1.3, "griffin_lim_power": 1.5})
    torch_synth = Synthesizer(voice)
    assert torch_synth.mel_contrast == 1.3 and torch_synth.vocoder.power == 1.5
    assert Synthesizer(voice, mel_contrast=1.0).mel_contrast == 1.0  # the caller's value wins
    onnx = export_voice(voice, tmp_path / "onnx", int8=False, opset=17, measure=False).path
    meta = json.loads((onnx / "meta.json").read_text())
    assert meta["voice"]["mel_contrast"] == 1.3 and meta["vocoder"]["power"] == 1.5
    runtime = OnnxSynthesizer(onnx, threads=1)
    assert runtime.mel_contrast == 1.3 and runtime.vocoder.power == 1.5
    ref, got = torch_synth.synthesize(TEXT), runtime.synthesize(TEXT)
    assert got.mel.shape == ref.mel.shape and float(np.abs(got.mel - ref.mel).mean()) <= 1e-3


def test_malformed_settings_are_one_line_errors(tiny_voice, tmp_path):
    from speech.pipelines.synthesizer import Synthesizer

    voice = _voice_with(tiny_voice, tmp_path, {"mel_contrast": 0.1})
    with pytest.raises(ValueError, match=r"voice/meta.json: synthesis.mel_contrast: 0.1; expected a number"):
        Synthesizer(voice)


def test_training_config_checks_the_settings_it_writes():
    from speech.train.tts import TtsDataConfig

    assert TtsDataConfig(corpus="x", mel_contrast=1.2).synthesis() == {"mel_contrast": 1.2, "griffin_lim_power": 1.0}
    with pytest.raises(ValueError, match=r"^tts.griffin_lim_power: 0.0; expected a number in \[0.5, 3.0\]$"):
        TtsDataConfig(corpus="x", griffin_lim_power=0.0)
