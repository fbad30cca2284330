"""speech.runtime.stream: chunked features == offline, stacking, loudness, stdin PCM/WAV reading, the ONNX stream graph."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from speech.features import FbankConfig
from speech.features import log_mel as torch_log_mel
from speech.models.asr import bilstm_ctc
from speech.runtime.features import log_mel
from speech.runtime.segment import loudest_frame_db
from speech.runtime.stream import (
    FrameStacker,
    LogMelStream,
    LoudnessTracker,
    StreamFormatError,
    open_onnx_stream,
    pcm_chunks,
)


def _fb(sr: int = 8000) -> dict:
    c = FbankConfig(sample_rate=sr)
    return {"sample_rate": sr, "n_mels": c.n_mels, "win_length": c.win_length, "hop_length": c.hop_length,
            "fft_size": c.fft_size, "f_min": float(c.f_min), "f_max": c.mel_f_max, "log_floor": c.log_floor,
            "preemphasis": c.preemphasis}


def _feed(stream, wav, rng, hi):
    out, i = [], 0
    while i < len(wav):
        k = int(rng.integers(1, hi))
        out.append(stream.accept(wav[i:i + k]))
        i += k
    out.append(stream.finish())
    return np.concatenate(out)


@pytest.mark.parametrize("sr", [8000, 16000])
@pytest.mark.parametrize("n", [0, 1, 57, 199, 200, 201, 399, 401, 1000, 4321, 16000])
def test_streamed_features_equal_offline_log_mel(sr, n):
    fb = _fb(sr)
    rng = np.random.default_rng(n + sr)
    wav = (0.2 * rng.standard_normal(n)).astype(np.float32)
    ref = log_mel(wav, fb)
    for hi in (3, 160, 2000):  # tiny, frame-sized and large chunks
        s = LogMelStream(fb)
        got = _feed(s, wav, rng, hi)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        s.reset()
        np.testing.assert_allclose(_feed(s, wav, rng, hi), ref, rtol=1e-4, atol=1e-4)  # reset starts a new stream
    if n:
        torch_ref = torch_log_mel(torch.from_numpy(wav), FbankConfig(sample_rate=sr)).numpy()
        np.testing.assert_allclose(got, torch_ref, atol=5e-3)


def test_frame_stacker_groups_and_pads_the_last_group():
    st = FrameStacker(3, 2)
    frames = np.arange(14, dtype=np.float32).reshape(7, 2)
    x1, k1 = st.accept(frames[:2])
    x2, k2 = st.accept(frames[2:7])
    xl, kl = st.finish()
    assert x1.shape == (0, 6) and x2.shape == (2, 6) and k2.all()
    np.testing.assert_array_equal(x2.reshape(-1), frames[:6].reshape(-1))
    np.testing.assert_array_equal(xl, [[12, 13, 0, 0, 0, 0]])
    np.testing.assert_array_equal(kl, [[1, 1, 0, 0, 0, 0]])
    assert st.finish()[0].shape == (0, 6)


@pytest.mark.parametrize("n", [0, 50, 160, 161, 1234])
def test_loudness_tracker_equals_offline_rule(n):
    rng = np.random.default_rng(n)
    wav = (rng.standard_normal(n) * np.linspace(0.001, 0.5, n)).astype(np.float32)
    t = LoudnessTracker(160)
    i = 0
    while i < n:
        k = int(rng.integers(1, 300))
        t.accept(wav[i:i + k])
        i += k
    assert t.db() == pytest.approx(loudest_frame_db(wav, 160), abs=1e-6)


def _wav_bytes(x: np.ndarray, sr: int, size_known: bool = True) -> bytes:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    size = len(pcm) if size_known else 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, sr, sr * 2, 2, 16)
    return (b"RIFF" + struct.pack("<I", (36 + len(pcm)) & 0xFFFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
            + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO" + b"data" + struct.pack("<I", size) + pcm)


@pytest.mark.parametrize("size_known", [True, False])
def test_pcm_chunks_reads_a_wav_stream_and_raw_pcm(size_known):
    x = (0.3 * np.sin(np.arange(1001) / 7)).astype(np.float32)
    expect = (np.clip(x, -1, 1) * 32767).astype("<i2").astype(np.float32) / 32768
    got = list(pcm_chunks(io.BytesIO(_wav_bytes(x, 8000, size_known)), 8000, 300))
    assert [len(c) for c in got] == [300, 300, 300, 101]
    np.testing.assert_array_equal(np.concatenate(got), expect)
    raw = (expect * 32768).astype("<i2").tobytes()
    np.testing.assert_array_equal(np.concatenate(list(pcm_chunks(io.BytesIO(raw), 8000, 256))), expect)


def test_pcm_chunks_refuses_another_rate_in_one_line():
    with pytest.raises(StreamFormatError) as e:
        list(pcm_chunks(io.BytesIO(_wav_bytes(np.zeros(10, np.float32), 16000)), 8000, 100, "stdin"))
    assert "16000 Hz" in str(e.value) and "8000 Hz" in str(e.value) and "\n" not in str(e.value)


def _export(tmp_path, model, feats_fb):
    """A minimal ASR export folder holding only what the streaming runtime reads."""
    from speech.export.stream import export_stream_graph
    from speech.runtime.format import FORMAT, FORMAT_VERSION
    from speech.text.tokenizer import CharTokenizer

    out = tmp_path / "export"
    out.mkdir()
    entries = export_stream_graph(model, out, opset=17)
    CharTokenizer.build(["abc de"]).save(out / "tokenizer.json")
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "task": "asr", "precision": "fp32", "opset": 17,
            "features": feats_fb, **entries}
    (out / "meta.json").write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("stack", [1, 3])
def test_onnx_stream_graph_chunked_equals_offline_torch(tmp_path, stack):
    pytest.importorskip("onnxruntime")
    fb = _fb(8000)
    torch.manual_seed(0)
    model = bilstm_ctc(fb["n_mels"], 6, bidirectional=False, hidden_size=16, num_layers=2, stack_frames=stack,
                       dropout=0.0).eval()
    model.cmvn.set_stats(torch.full((80,), -6.0), torch.full((80,), 3.0))
    rec = open_onnx_stream(_export(tmp_path, model, fb), threads=1)
    rng = np.random.default_rng(stack)
    wav = (0.2 * rng.standard_normal(5003)).astype(np.float32)
    i = 0
    while i < len(wav):
        k = int(rng.integers(1, 1200))
        rec.accept(wav[i:i + k])
        i += k
    rec.finish()
    feats = torch.from_numpy(log_mel(wav, fb))[None]
    with torch.no_grad():
        ref, lens = model(feats, torch.tensor([feats.shape[1]]))
    got = rec.log_probs()
    assert got.shape == (int(lens[0]), 6)
    np.testing.assert_allclose(got, ref[0].numpy(), atol=1e-4)


def test_export_without_stream_graph_is_refused_in_one_line(tmp_path):
    from speech.runtime.format import FORMAT, FORMAT_VERSION, ExportFormatError

    out = tmp_path / "offline"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"")
    (out / "tokenizer.json").write_text(json.dumps({"type": "char", "vocab": ["<blank>", "a"]}))
    (out / "meta.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "task": "asr",
                                               "precision": "fp32", "graphs": {"model": "model.onnx"},
                                               "features": _fb()}))
    with pytest.raises(ExportFormatError) as e:
        open_onnx_stream(out)
    assert "bidirectional=false" in str(e.value) and "\n" not in str(e.value)


def test_runtime_stream_imports_no_torch():
    code = ("import sys; import speech.runtime.stream; bad = [m for m in ('torch', 'omegaconf', 'hydra') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_level_normalized_model_cannot_stream():
    """Level normalization (features.fbank.level_db) needs the whole utterance: refused in one line."""
    from speech.features import FbankConfig
    from speech.runtime.stream import StreamRecognizer

    fb = FbankConfig(sample_rate=8000, level_db=-20.0).runtime_settings()
    with pytest.raises(ValueError, match="level_db is -20.0: level normalization needs the whole utterance"):
        StreamRecognizer(fb, 3, 0, lambda ids: "", lambda lp: "", name="digits")
