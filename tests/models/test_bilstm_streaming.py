"""The unidirectional (streaming) BiLSTM-CTC: config switch, chunked states == offline, torch streaming recognizer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from speech.config import compose, instantiate
from speech.features import log_mel
from speech.models.asr import bilstm_ctc
from speech.models.asr.bilstm import BiLSTMConfig, StreamingStep
from speech.packages.asr import save_asr_package
from speech.pipelines.streaming import NotStreamableError, TorchStreamRecognizer
from speech.pipelines.transcriber import Transcriber
from speech.text.tokenizer import CharTokenizer


def _uni_model(stack: int = 3, proj: int = 0, layers: int = 2) -> torch.nn.Module:
    torch.manual_seed(1)
    m = bilstm_ctc(20, 7, bidirectional=False, hidden_size=12, num_layers=layers, stack_frames=stack,
                   projection_size=proj, dropout=0.0)
    m.cmvn.set_stats(torch.randn(20), torch.rand(20) + 0.5)
    return m.eval()


def test_default_is_bidirectional_with_the_old_keys():
    assert BiLSTMConfig().bidirectional is True
    keys = set(bilstm_ctc(20, 7, hidden_size=8, num_layers=2).state_dict())
    assert "encoder.layers.0.weight_ih_l0_reverse" in keys
    uni = set(bilstm_ctc(20, 7, hidden_size=8, num_layers=2, bidirectional=False).state_dict())
    assert uni == {k for k in keys if "_reverse" not in k}


@pytest.mark.parametrize("bad, words", [
    ({"utterance_cmn": True}, ("model.asr.utterance_cmn", "model.asr.bidirectional=false")),
    ({"cell": "mi_lstm"}, ("model.asr.cell", "cell=lstm")),
    ({"subsample": [1, 2]}, ("model.asr.subsample", "stack_frames")),
])
def test_streaming_config_refuses_what_needs_the_whole_utterance(bad, words):
    with pytest.raises(ValueError) as e:
        BiLSTMConfig(bidirectional=False, num_layers=2, **bad)
    assert all(w in str(e.value) for w in words) and "\n" not in str(e.value)


def test_composed_streaming_experiments_are_unidirectional():
    for name in ("fsdd_stream", "an4_stream"):
        cfg = compose([f"experiment={name}"])
        model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=5, specaugment=None)
        assert model.cfg.bidirectional is False and not model.cfg.utterance_cmn


@pytest.mark.parametrize("stack, proj, frames", [(3, 0, 31), (1, 0, 17), (2, 0, 40), (3, 5, 29)])
def test_chunked_step_with_states_equals_offline(stack, proj, frames):
    model = _uni_model(stack, proj)
    feats = torch.randn(1, frames, 20) * 2 - 3
    with torch.no_grad():
        ref, ref_lens = model(feats, torch.tensor([frames]))
    step = StreamingStep(model).eval()
    h, c = step.initial_state()
    groups = frames // stack
    x = feats[0, : groups * stack].reshape(groups, stack * 20)
    rest = feats[0, groups * stack:]
    outs, rng, i = [], np.random.default_rng(stack + frames), 0
    with torch.no_grad():
        while i < groups:  # chunks of 1..4 groups
            k = int(rng.integers(1, 5))
            chunk = x[i:i + k][None]
            lp, h, c = step(chunk, torch.ones_like(chunk), h, c)
            outs.append(lp[0])
            i += k
        if len(rest):  # the last, partial group: zero padding marked keep = 0
            last = torch.zeros(1, 1, stack * 20)
            keep = torch.zeros_like(last)
            last[0, 0, : rest.numel()] = rest.reshape(-1)
            keep[0, 0, : rest.numel()] = 1
            lp, h, c = step(last, keep, h, c)
            outs.append(lp[0])
    got = torch.cat(outs)
    assert got.shape[0] == int(ref_lens[0])
    torch.testing.assert_close(got, ref[0], atol=1e-5, rtol=1e-5)


def test_step_refuses_a_bidirectional_model():
    with pytest.raises(ValueError, match="bidirectional=false"):
        StreamingStep(bilstm_ctc(20, 7, hidden_size=8, num_layers=1))


@pytest.fixture(scope="module")
def stream_package(tmp_path_factory):
    cfg = compose(["experiment=fsdd_stream", "model.asr.hidden_size=24", "model.asr.num_layers=2"])
    tok = CharTokenizer.build(["zero", "one", "two", "three"])
    torch.manual_seed(3)
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    with torch.no_grad():  # a strong output bias on a few letters: the untrained model says something
        model.output.bias.copy_(torch.linspace(-1, 1, len(tok)))
    return save_asr_package(tmp_path_factory.mktemp("stream") / "model", cfg, tok, model.state_dict(), {"steps": 0})


def _speechlike(seconds: float, sr: int = 8000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * env * np.sin(2 * np.pi * (200 + 300 * t) * t) + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("seconds, seed", [(1.3, 0), (0.73, 1), (0.05, 2)])
def test_torch_stream_recognizer_equals_offline(stream_package, seconds, seed):
    wav = _speechlike(seconds, seed=seed)
    tr = Transcriber(stream_package)
    rec = TorchStreamRecognizer(tr)
    rng = np.random.default_rng(seed)
    i, partials = 0, []
    while i < len(wav):
        k = int(rng.integers(1, 1500))
        p = rec.accept(wav[i:i + k])
        if p is not None:
            partials.append(p)
        i += k
    result = rec.finish()
    problem = tr.speech_problem("<stream>", wav)
    expect = "" if problem else tr.transcribe_arrays([wav])[0]
    assert result.text == expect and bool(result.warnings) == bool(problem)
    if not problem:
        with torch.no_grad():
            f = log_mel(torch.from_numpy(wav), tr.pkg.fbank)[None]
            ref, _ = tr.pkg.model(f, torch.tensor([f.shape[1]]))
        np.testing.assert_allclose(rec.log_probs(), ref[0].numpy(), atol=2e-4)
        assert len(set(partials)) == len(partials)  # a partial is reported only when it changes
        assert abs(result.audio_seconds - seconds) < 1e-3


def test_bidirectional_package_is_refused_with_the_training_command(tiny_package):
    with pytest.raises(NotStreamableError) as e:
        TorchStreamRecognizer(tiny_package)
    msg = str(e.value)
    assert "model.asr.bidirectional=false" in msg and "--streaming" in msg and "\n" not in msg
