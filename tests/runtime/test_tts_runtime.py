"""The torch-free synthesis runtime: numpy Griffin-Lim and length regulation against torch, the ONNX
G2P against the torch one, refusals between the two runtimes, and `speech synthesize --runtime onnx`
in a process where torch cannot be imported."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.export.voice import export_voice
from speech.packages.format import PackageError
from speech.runtime.format import ExportFormatError
from speech.runtime.griffin_lim import GriffinLim, torch_rand
from speech.runtime.tts import OnnxSynthesizer, regulate, round_durations

pytest.importorskip("onnxruntime")

BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None; "


@pytest.fixture(scope="module")
def voice_onnx(tiny_voice, tmp_path_factory) -> Path:
    return export_voice(tiny_voice, tmp_path_factory.mktemp("rt") / "voice-onnx", int8=False, opset=17,
                        measure=False).path


def test_torch_rand_is_reproduced():
    g = torch.Generator().manual_seed(7)
    assert np.array_equal(torch.rand(5, 33, generator=g).numpy(), torch_rand((5, 33), 7))


@pytest.mark.parametrize("preset", ["tts", "asr"])
def test_griffin_lim_equals_torch(preset):
    from speech.features import FbankConfig, tts_fbank
    from speech.models.vocoders.griffin_lim import GriffinLimVocoder

    fb = tts_fbank() if preset == "tts" else FbankConfig()  # the second has pre-emphasis 0.97
    g = torch.Generator().manual_seed(0)
    mel = torch.randn(3, 30, fb.n_mels, generator=g) * 2.0 - 6.0
    lens = torch.tensor([30, 17, 1])
    ref = GriffinLimVocoder(fb, n_iter=8)(mel, lens).numpy()
    got = GriffinLim(fb.runtime_settings(), n_iter=8)(mel.numpy(), lens.numpy())
    assert got.shape == ref.shape and np.abs(got - ref).max() < 1e-4
    assert not got[1, 17 * fb.hop_length:].any()


def test_length_regulation_equals_the_model():
    from speech.models.tts.fastspeech2 import FastSpeech2, FastSpeech2Config, length_regulate

    g = torch.Generator().manual_seed(3)
    logd = torch.randn(4, 9, generator=g) * 1.5
    logd[3] = -5.0  # every phoneme rounds to 0 frames: the longest gets one
    lens = torch.tensor([9, 5, 1, 4])
    model = FastSpeech2(10, 80, FastSpeech2Config(hidden_size=8))
    for speed in (1.0, 1.7):
        ref = model._round_durations(logd, lens, speed).numpy()
        got = round_durations(logd.numpy(), lens.numpy(), speed)
        assert np.array_equal(ref, got)
    hidden = torch.randn(4, 9, 6, generator=g)
    frames, mel_lens, _ = length_regulate(hidden, torch.from_numpy(got))
    f2, positions, l2 = regulate(hidden.numpy(), got)
    assert np.array_equal(mel_lens.numpy(), l2) and np.array_equal(frames.numpy(), f2)
    assert ((positions[..., 0] > 0) & (positions[..., 0] < 1))[0, :l2[0]].all()


def test_onnx_g2p_reads_unknown_words_like_torch(voice_onnx):
    from speech.text.g2p import G2P

    synth = OnnxSynthesizer(voice_onnx, threads=1)
    if synth.voice.g2p is None:
        pytest.skip("no neural G2P fallback is installed (the rule table guesses on both paths)")
    words = ["zyxqwt", "blorptastic", "kathleenish", "onnxruntime"]
    assert synth.voice.g2p.predict(words) == G2P().model.predict(words)


def test_torch_package_given_to_the_runtime_and_the_reverse(tiny_voice, voice_onnx):
    from speech.pipelines.synthesis import open_synthesizer
    from speech.pipelines.synthesizer import Synthesizer

    with pytest.raises(ExportFormatError, match="is a torch voice .*speech export .* --format onnx"):
        OnnxSynthesizer(tiny_voice)
    with pytest.raises(PackageError, match="is an ONNX export .*--runtime onnx"):
        open_synthesizer(voice_onnx)
    with pytest.raises(PackageError, match="is an ONNX export .*--runtime onnx"):
        Synthesizer(voice_onnx)
    (voice_onnx / "decoder.onnx").rename(voice_onnx / "decoder.bak")
    try:
        with pytest.raises(ExportFormatError, match="decoder.onnx: missing"):
            OnnxSynthesizer(voice_onnx)
    finally:
        (voice_onnx / "decoder.bak").rename(voice_onnx / "decoder.onnx")


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = BLOCK + f"from speech.cli.main import main; raise SystemExit(main({args!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_synthesize_runtime_onnx_never_imports_torch(voice_onnx, tmp_path):
    r = _cli(["synthesize", "Hello, world. Bye.", "-o", "hello.flac", "--runtime", "onnx", "--model", str(voice_onnx),
              "--threads", "1", "--sentence-silence", "0.1", "--speed", "1.2"], tmp_path)
    assert r.returncode == 0, r.stderr
    wav, sr = sf.read(tmp_path / "hello.flac")
    assert sr == 22050 and len(wav) > 0 and r.stdout.startswith("hello.flac\t")
    batch = tmp_path / "lines.jsonl"
    batch.write_text(json.dumps({"text": "One."}) + "\n" + json.dumps({"text": "...", "id": "x"}) + "\n"
                     + json.dumps({"text": "Two.", "output": "two.wav"}) + "\n")
    r = _cli(["synthesize", "--batch", str(batch), "-o", "out", "--runtime", "onnx", "--model", str(voice_onnx)],
             tmp_path)
    assert r.returncode == 1 and "lines.jsonl:2: x: nothing to synthesize" in r.stderr
    assert (tmp_path / "out" / "1.wav").is_file() and (tmp_path / "out" / "two.wav").is_file()
    assert "Traceback" not in r.stderr


def test_cli_refusals_are_one_line(tiny_voice, voice_onnx, tmp_path):
    r = _cli(["synthesize", "Hi.", "-o", "a.wav", "--runtime", "onnx", "--model", str(tiny_voice)], tmp_path)
    assert r.returncode == 2 and "needs an ONNX export" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = _cli(["synthesize", "Hi.", "-o", "a.wav", "--runtime", "onnx"], tmp_path)
    assert r.returncode == 2 and "--runtime onnx needs --model EXPORT_DIR" in r.stderr
    r = subprocess.run([sys.executable, "-m", "speech.cli.main", "synthesize", "Hi.", "-o", "a.wav", "--model",
                        str(voice_onnx)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 2 and "is an ONNX export" in r.stderr and "Traceback" not in r.stderr


def test_griffin_lim_threads_share_rows_without_changing_them():
    from speech.runtime.griffin_lim import GriffinLim

    fb = dict(sample_rate=22050, n_mels=80, win_length=1024, hop_length=256, fft_size=1024, f_min=0.0, f_max=8000.0,
              log_floor=1e-5, preemphasis=0.0)
    x = np.random.default_rng(0).normal(-4, 2, (5, 60, 80)).astype(np.float32)
    lens = np.array([60, 31, 44, 12, 60])
    one = GriffinLim(fb, n_iter=4, threads=1)(x, lens)
    two = GriffinLim(fb, n_iter=4, threads=2)(x, lens)
    assert one.shape == two.shape == (5, 60 * 256)
    assert np.array_equal(one, two)
    assert not one[3, 12 * 256:].any()  # nothing past a row's length
