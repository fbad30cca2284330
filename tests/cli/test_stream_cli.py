"""speech transcribe --stream: partials then a final equal to offline transcription; stdin; refusals."""
from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speech.cli.errors import BAD_INPUT, OK
from speech.cli.main import main
from speech.config import compose, instantiate
from speech.packages.asr import save_asr_package
from speech.text.tokenizer import CharTokenizer

SR = 8000


@pytest.fixture(scope="module")
def stream_model(tmp_path_factory) -> Path:
    """An untrained unidirectional 8 kHz package whose output bias makes it say letters."""
    cfg = compose(["experiment=fsdd_stream", "model.asr.hidden_size=24", "model.asr.num_layers=2"])
    tok = CharTokenizer.build(["zero", "one", "two", "three"])
    torch.manual_seed(5)
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    with torch.no_grad():
        model.output.bias.copy_(torch.linspace(-1, 1.5, len(tok)))
    return save_asr_package(tmp_path_factory.mktemp("stream_cli") / "model", cfg, tok, model.state_dict(), {})


def _signal(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (150 + 400 * t) * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))
            + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("clips") / "clip.wav"
    sf.write(p, _signal(), SR, subtype="PCM_16")
    return p


def _offline(capsys, model, clip) -> str:
    assert main(["transcribe", str(clip), "--model", str(model)]) == OK
    return capsys.readouterr().out.rstrip("\n")


def test_stream_prints_partials_then_the_offline_text(capsys, stream_model, clip):
    offline = _offline(capsys, stream_model, clip)
    assert offline  # the untrained model says something, so equality is not "" == ""
    assert main(["transcribe", "--stream", str(clip), "--model", str(stream_model), "--chunk-ms", "100"]) == OK
    cap = capsys.readouterr()
    assert cap.out == offline + "\n"
    partials = [ln.removeprefix("partial: ") for ln in cap.err.splitlines() if ln.startswith("partial: ")]
    assert partials and len(partials) == len(cap.err.splitlines())  # stderr: not a terminal, one line per change
    assert all(a != b for a, b in zip(partials, partials[1:]))


def test_stream_json_lines(capsys, stream_model, clip):
    offline = _offline(capsys, stream_model, clip)
    assert main(["transcribe", "--stream", str(clip), "--model", str(stream_model), "--format", "json",
                 "--chunk-ms", "250"]) == OK
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert [r["type"] for r in rows][-1] == "final" and {r["type"] for r in rows[:-1]} <= {"partial"}
    assert rows[-1]["text"] == offline and rows[-1]["audio_seconds"] == pytest.approx(1.5, abs=1e-3)
    secs = [r["audio_seconds"] for r in rows]
    assert secs == sorted(secs) and len(rows) >= 2


def test_resampled_file_gives_the_offline_text(capsys, stream_model, tmp_path):
    p = tmp_path / "clip16k.flac"
    sig = _signal(1.2, seed=3)
    sf.write(p, np.interp(np.arange(0, len(sig), 0.5), np.arange(len(sig)), sig).astype(np.float32), 16000)
    offline = _offline(capsys, stream_model, p)
    assert main(["transcribe", "--stream", str(p), "--model", str(stream_model)]) == OK
    assert capsys.readouterr().out == offline + "\n"


class _Stdin:
    def __init__(self, data: bytes):
        self.buffer = io.BytesIO(data)

    def isatty(self) -> bool:
        return False


def test_raw_pcm_on_stdin(capsys, monkeypatch, stream_model, clip):
    offline = _offline(capsys, stream_model, clip)
    pcm, _ = sf.read(clip, dtype="int16")
    monkeypatch.setattr(sys, "stdin", _Stdin(pcm.astype("<i2").tobytes()))
    assert main(["transcribe", "--stream", "-", "--model", str(stream_model), "--format", "json"]) == OK
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert rows[-1] == {"type": "final", "text": offline, "audio_seconds": 1.5}


def test_wav_stream_on_stdin_of_the_command(stream_model, clip):
    r = subprocess.run([sys.executable, "-m", "speech.cli.main", "transcribe", "--stream", "-", "--model",
                        str(stream_model)], input=clip.read_bytes(), capture_output=True, timeout=300)
    off = subprocess.run([sys.executable, "-m", "speech.cli.main", "transcribe", str(clip), "--model",
                          str(stream_model)], capture_output=True, timeout=300)
    assert r.returncode == 0 and off.returncode == 0, r.stderr.decode() + off.stderr.decode()
    assert r.stdout == off.stdout
    assert b"partial: " in r.stderr


def test_bidirectional_model_is_refused(capsys, tiny_package, clip):
    assert main(["transcribe", "--stream", str(clip), "--model", str(tiny_package)]) == BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "model.asr.bidirectional=false" in err[0] and "--streaming" in err[0]


@pytest.mark.parametrize("extra, word", [(["--format", "srt"], "--format srt"), (["--timestamps"], "--timestamps"),
                                         (["second.wav"], "expected one audio file")])
def test_usage_errors(capsys, stream_model, clip, extra, word):
    assert main(["transcribe", "--stream", str(clip), "--model", str(stream_model), *extra]) == BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and word in err[0]


def test_stdin_at_another_rate_is_one_line(capsys, monkeypatch, stream_model):
    buf = io.BytesIO()
    sf.write(buf, _signal(0.5), 16000, format="WAV", subtype="PCM_16")
    monkeypatch.setattr(sys, "stdin", _Stdin(buf.getvalue()))
    assert main(["transcribe", "--stream", "-", "--model", str(stream_model)]) == BAD_INPUT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "16000 Hz" in err[0] and "8000 Hz" in err[0]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_partials_on_a_terminal_are_rewritten_in_place():
    from speech.cli.stream import PartialPrinter

    out = _Tty()
    p = PartialPrinter(out)
    p.show("o")
    p.show("one\x1b[2J")
    p.clear()
    assert out.getvalue() == "\r\x1b[Ko\r\x1b[Kone\\x1b[2J\r\x1b[K"  # control characters escaped, no newline


def test_onnx_export_streams_the_same_text(capsys, stream_model, clip, tmp_path):
    pytest.importorskip("onnxruntime")
    offline = _offline(capsys, stream_model, clip)
    out = tmp_path / "onnx"
    assert main(["export", str(stream_model), "--format", "onnx", "-o", str(out)]) == OK
    assert (out / "stream.onnx").is_file()
    capsys.readouterr()
    assert main(["transcribe", "--stream", str(clip), "--model", str(out), "--runtime", "onnx", "--format",
                 "json"]) == OK
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert rows[-1]["text"] == offline and len(rows) >= 2
    # decoding words reach the ONNX stream's final text as they reach offline transcription
    capsys.readouterr()
    beam = ["--beam-size", "4", "--word-bonus", "0.5"]
    assert main(["transcribe", str(clip), "--model", str(out), "--runtime", "onnx", *beam]) == OK
    offline_beam = capsys.readouterr().out.strip()
    assert main(["transcribe", "--stream", str(clip), "--model", str(out), "--runtime", "onnx", "--format", "json",
                 *beam]) == OK
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["text"] == offline_beam
