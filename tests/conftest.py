"""Shared fixtures. Real-data tests take the corpora from $SPEECH_DATA (default ../shared/data
beside the repository); they skip when it is absent, or fail when SPEECH_REQUIRE_DATA=1 (CI)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    return Path(os.environ.get("SPEECH_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_root() -> Path:
    """Folder with the shared corpora (fsdd/, an4/, kathleen/, ...)."""
    root = shared_data_root()
    if not (root / "fsdd").is_dir():
        msg = (f"shared corpora not found at {root}: set SPEECH_DATA to the folder holding fsdd/, an4/, ... "
               "(see ../shared/data/README.md)")
        if os.environ.get("SPEECH_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return root


@pytest.fixture(autouse=True)
def _fresh_default_g2p(monkeypatch):
    """Each test builds its own shared G2P: the process-wide default remembers where it found its neural
    model, and tests move that place ($SPEECH_PRETRAINED_DIR, $SPEECH_G2P_MODEL)."""
    import speech.text.g2p

    monkeypatch.setattr(speech.text.g2p, "_DEFAULT", None)


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    """Keep every test on few threads: the CI machine has two cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(min(n, 2))
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_package(tmp_path_factory) -> Path:
    """An untrained 8 kHz BiLSTM-CTC model package (for plumbing tests; its transcripts are arbitrary)."""
    import torch

    from speech.config import compose, instantiate
    from speech.packages.asr import save_asr_package
    from speech.text.tokenizer import CharTokenizer

    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=16", "model.asr.num_layers=1"])
    tok = CharTokenizer.build(["zero", "one", "two", "three"])
    torch.manual_seed(0)
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    return save_asr_package(tmp_path_factory.mktemp("pkg") / "model", cfg, tok, model.state_dict(), {"steps": 0})


@pytest.fixture(scope="session")
def tiny_voice(tmp_path_factory) -> Path:
    """An untrained tiny voice package (for plumbing tests: inputs, outputs, errors; its audio is
    noise-like). meta.json names the corpus "nowhere"."""
    import numpy as np
    import torch

    from speech.models.tts import fastspeech2
    from speech.packages.voice import save_tts_package
    from speech.text.phonemes import PhonemeTokenizer
    from speech.features import tts_fbank
    from speech.features.prosody import TargetStats

    tok = PhonemeTokenizer()
    kw = dict(hidden_size=32, variance_hidden=32, encoder_layers=1, decoder_layers=1)
    torch.manual_seed(0)
    model = fastspeech2(vocab_size=len(tok), n_mels=80, **kw)
    return save_tts_package(
        tmp_path_factory.mktemp("voice") / "model", fbank=tts_fbank(),
        model_cfg={"_target_": "speech.models.tts.fastspeech2", **kw}, tokenizer=tok, state=model.state_dict(),
        stats=TargetStats(pitch_mean=5.3, pitch_std=0.2, energy_mean=0.0, energy_std=1.0),
        mel_mean=np.zeros(80), mel_std=np.ones(80), meta={"corpus": "nowhere"})


@pytest.fixture(params=["with_ffmpeg", "without_ffmpeg"])
def ffmpeg_mode(request, monkeypatch, tmp_path):
    """Run a test twice: with ffmpeg on PATH (skipped if it is not installed) and without it."""
    import shutil

    if request.param == "with_ffmpeg":
        if shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg is not on PATH (apt-get install ffmpeg)")
    else:
        empty = tmp_path / "empty_bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
    return request.param


@pytest.fixture(scope="session")
def tiny_vocoder(tmp_path_factory) -> Path:
    """An untrained small HiFi-GAN V3 vocoder package on the synthesis mel config (plumbing tests)."""
    import torch

    from speech.features import tts_fbank
    from speech.models.vocoders import hifigan_generator
    from speech.packages.vocoder import save_vocoder_package

    torch.manual_seed(0)
    gen = hifigan_generator(80, "v3", tts_fbank().hop_length, upsample_initial_channel=8)
    return save_vocoder_package(tmp_path_factory.mktemp("voc") / "model", tts_fbank(),
                                {"preset": "v3", "upsample_initial_channel": 8}, gen.state_dict())
