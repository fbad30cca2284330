"""The torch-free recognition path: numpy features, resampling and alignment held to the torch ones, and
``OnnxTranscriber`` giving the torch Transcriber's transcripts (bundled models, real test sets)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from speech.audio import save
from speech.audio.read import resample
from speech.decoding.align import viterbi_states
from speech.decoding.metrics import error_stats
from speech.export.api import export_model
from speech.features import FbankConfig, log_mel
from speech.packages.asr import load_asr_package
from speech.packages.format import PackageError
from speech.pipelines.transcriber import Transcriber
from speech.runtime.asr import OnnxTranscriber, decoding_settings
from speech.runtime.features import log_mel as np_log_mel
from speech.runtime.format import ExportFormatError

BLOCK = "import sys; sys.modules['torch'] = None; sys.modules['numba'] = None; sys.modules['omegaconf'] = None; "


@pytest.mark.parametrize("cfg", [FbankConfig(), FbankConfig(sample_rate=8000, n_mels=40),
                                 FbankConfig(sample_rate=22050, win_ms=46.44, hop_ms=11.61, f_min=0.0, f_max=8000.0,
                                             preemphasis=0.0),
                                 FbankConfig(sample_rate=8000, level_db=-20.0)])
@pytest.mark.parametrize("n", [1, 399, 400, 16000, 16123])
def test_numpy_features_equal_torch_features(cfg, n):
    wav = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    ref = log_mel(torch.from_numpy(wav), cfg).numpy()
    got = np_log_mel(wav, cfg.runtime_settings())
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-3


@pytest.mark.parametrize("rates", [(44100, 16000), (8000, 16000), (22050, 16000), (16000, 8000)])
def test_numpy_resampling_equals_torchaudio(rates):
    import torchaudio.functional as AF

    x = np.random.default_rng(0).standard_normal((2, 12345)).astype(np.float32) * 0.3
    ref = AF.resample(torch.from_numpy(x), *rates).numpy()
    got = resample(x, *rates)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-4
    t = resample(torch.from_numpy(x).double(), *rates)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64


def test_numpy_viterbi_matches_the_kernel():
    from speech.kernels.align import align_states

    rng = np.random.default_rng(1)
    for _ in range(30):
        t, length = int(rng.integers(1, 30)), int(rng.integers(1, 10))
        lp = np.log(rng.dirichlet(np.ones(6), size=t)).astype(np.float32)
        tok = [int(v) for v in rng.integers(1, 6, size=length)]
        states, score = viterbi_states(lp, tok)
        ref_states, ref_score = align_states(torch.from_numpy(lp).unsqueeze(1), torch.tensor([tok]),
                                             torch.tensor([t]), torch.tensor([length]))
        if not np.isfinite(float(ref_score[0])):
            assert not np.isfinite(score) and (states == -1).all()
            continue
        ext = np.zeros(2 * length + 1, dtype=int)
        ext[1::2] = tok
        path = lambda s: lp[np.arange(t), ext[s]].sum()  # noqa: E731 - ties may pick different paths
        assert abs(score - float(ref_score[0])) < 1e-3
        assert abs(path(states) - path(ref_states[0].numpy())) < 1e-3


def test_decoding_words_without_hydra():
    assert decoding_settings() is None
    beam = decoding_settings(["decoding.beam_size=4"], lm_weight=0.3)
    assert beam.beam_size == 4 and beam.lm_weight == 0.3
    assert type(decoding_settings(["decoding=greedy"])).__name__ == "GreedyCTCDecoder"
    with pytest.raises(ValueError, match="decoding.beam_size"):
        decoding_settings(["decoding.beam_size=0"])
    with pytest.raises(ValueError, match="decoding.nope"):
        decoding_settings(["decoding.nope=1"])


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory):
    return export_model("digits", tmp_path_factory.mktemp("exp") / "digits").path


def test_runtime_and_torch_loaders_refuse_each_others_models(digits_export):
    with pytest.raises(ExportFormatError, match=r"is a torch recognition \(ASR\) model package.*speech export"):
        OnnxTranscriber("digits")
    with pytest.raises(PackageError, match="is an ONNX export .*--runtime onnx"):
        load_asr_package(digits_export)


def _clips(data_root, n: int):
    rec = data_root / "fsdd" / "recordings"
    if not rec.is_dir():
        pytest.skip(f"FSDD not found under {data_root}")
    return sorted(str(p) for p in rec.glob("*.wav"))[:n]


@pytest.mark.data
def test_onnx_transcripts_and_word_times_match_torch(digits_export, data_root, tmp_path):
    clips = _clips(data_root, 24)
    long = np.concatenate([load_clip(c) for c in clips[:8]] * 4)  # ~20 s: the long-file path
    save(tmp_path / "long.wav", long, 8000)
    paths = clips + [str(tmp_path / "long.wav")]
    tr_t, tr_o = Transcriber("digits", batch_size=5), OnnxTranscriber(digits_export, batch_size=5, threads=1)
    tr_t.segment.max_seconds = tr_o.segment.max_seconds = 6.0
    ref = list(tr_t.transcribe_files(paths, timestamps=True))
    got = list(tr_o.transcribe_files(paths, timestamps=True))
    assert [r.text for r in got] == [r.text for r in ref]
    assert len(got[-1].segments) > 1
    for a, b in zip(got, ref):
        assert [w["word"] for w in a.words] == [w["word"] for w in b.words]
        assert all(abs(x["start"] - y["start"]) <= 0.03 and abs(x["end"] - y["end"]) <= 0.03
                   for x, y in zip(a.words, b.words))


def load_clip(path):
    from speech.audio import load

    return load(path, 8000)[0]


@pytest.mark.data
def test_transcribe_runtime_onnx_never_imports_torch(digits_export, data_root, tmp_path):
    clips = _clips(data_root, 2)
    argv = ["transcribe", *clips, "--runtime", "onnx", "--model", str(digits_export), "--format", "srt",
            "--output-dir", str(tmp_path / "out"), "--threads", "1"]
    r = subprocess.run([sys.executable, "-c", BLOCK + f"from speech.cli.main import main; raise SystemExit(main({argv!r}))"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    srts = sorted((tmp_path / "out").glob("*.srt"))
    assert len(srts) == 2 and all("-->" in p.read_text() for p in srts)
    r = subprocess.run([sys.executable, "-c", BLOCK + "from speech.cli.main import main; raise SystemExit(main("
                        f"['transcribe', {clips[0]!r}, '--model', 'digits']))"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 2 and "pip install 'speech[torch]'" in r.stderr and "Traceback" not in r.stderr


# ------------------------------------------------------------------- parity on the real test sets
def _wer_pair(model: str, export, manifest, limit=None):
    from speech.data.manifest import read_manifest

    utts = read_manifest(manifest)[:limit]
    paths, refs = [str(u.audio) for u in utts], [u.text for u in utts]
    hyp_t = [r.text for r in Transcriber(model, batch_size=16).transcribe_files(paths)]
    hyp_o = [r.text for r in OnnxTranscriber(export, batch_size=16, threads=1).transcribe_files(paths)]
    return error_stats(refs, hyp_t).rate, error_stats(refs, hyp_o).rate


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.parametrize("name,corpus", [("digits", "fsdd"), ("an4", "an4")])
def test_onnx_wer_equals_torch_on_the_test_sets(name, corpus, data_root, tmp_path):
    """The issue's parity: fp32 within 0.2 WER points of torch, int8 within 1 point."""
    from speech.data.prepare import prepare

    if not (data_root / corpus).is_dir():
        pytest.skip(f"{corpus} not found under {data_root}")
    test = prepare(corpus, data_root / corpus, tmp_path / "data")["test"]
    fp32 = export_model(name, tmp_path / "fp32", measure=False).path
    int8 = export_model(name, tmp_path / "int8", int8=True, measure=False).path
    wer_t, wer_fp32 = _wer_pair(name, fp32, test)
    _, wer_int8 = _wer_pair(name, int8, test)
    assert abs(wer_fp32 - wer_t) <= 0.002, (wer_t, wer_fp32)
    assert abs(wer_int8 - wer_t) <= 0.01, (wer_t, wer_int8)
