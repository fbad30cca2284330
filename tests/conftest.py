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
    from speech.pipelines import save_asr_package
    from speech.text.tokenizer import CharTokenizer

    cfg = compose(["experiment=fsdd", "model.asr.hidden_size=16", "model.asr.num_layers=1"])
    tok = CharTokenizer.build(["zero", "one", "two", "three"])
    torch.manual_seed(0)
    model = instantiate(cfg.model.asr, input_dim=cfg.features.fbank.n_mels, vocab_size=len(tok), specaugment=None)
    model.cmvn.set_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    return save_asr_package(tmp_path_factory.mktemp("pkg") / "model", cfg, tok, model.state_dict(), {"steps": 0})
