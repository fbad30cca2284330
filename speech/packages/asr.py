"""Recognizer packages (``speech-asr-package``): write one after training, load one for inference.

Layout::

    config.yaml        the resolved training config (features.fbank and model.asr are built)
    tokenizer.json     the vocabulary
    model.safetensors  weights (CMVN statistics are buffers in it); ``model.pt`` in older packages
    meta.json          format, format version, task "asr", training summary, toolkit version

Reading goes through the allow-list of :mod:`speech.packages.format`; the weights are read by
:mod:`speech.packages.weights` (never unpickled).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch
from omegaconf import DictConfig, OmegaConf

from speech.features import FbankConfig
from speech.fileio import atomic_write_text
from speech.packages.format import (
    FORMAT,
    WEIGHTS_FILE,
    PackageError,
    build_node,
    check_node,
    open_package,
    weights_path,
)
from speech.packages.weights import build_with_weights, write_weights_and_meta
from speech.text.tokenizer import CharTokenizer


def save_asr_package(out_dir: str | Path, cfg: DictConfig, tokenizer: CharTokenizer, model_state: dict,
                     meta: dict | None = None) -> Path:
    """Write a package folder (each file atomically; weights as ``model.safetensors``) and return its path.

    ``model_state``: the model's ``state_dict()`` (tensors on any device)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    tokenizer.save(out / "tokenizer.json")
    return write_weights_and_meta(out, model_state, FORMAT, "asr", meta)


@dataclass
class AsrPackage:
    """A loaded ASR package: model in eval mode plus what is needed to feed it."""

    path: Path
    model: torch.nn.Module
    tokenizer: CharTokenizer
    fbank: FbankConfig
    config: DictConfig
    meta: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return self.fbank.sample_rate

    def log_probs(self, feats: Sequence[torch.Tensor], device: str | torch.device = "cpu"):
        """The model on a batch of (T_i, F) log-mel matrices, padded together: (log_probs (B, T', V),
        out_lens (B,)), on ``device``."""
        x = torch.nn.utils.rnn.pad_sequence(list(feats), batch_first=True).to(device)
        lens = torch.tensor([f.shape[0] for f in feats], device=device)
        return self.model(x, lens)


def load_asr_package(path: str | Path, device: str | torch.device = "cpu") -> AsrPackage:
    """Load a package folder written by :func:`save_asr_package` (or one of an older version, with
    ``model.pt``): only ``features.fbank`` and ``model.asr`` are built, through :data:`ALLOWED_TARGETS`,
    and the model is put on ``device`` in eval mode."""
    p, pc, meta = open_package(path, "model", ("config.yaml", "tokenizer.json", WEIGHTS_FILE),
                               wrong_task=("tts", "vocoder"))
    if not (pc.has("model.asr") and pc.has("features.fbank")):
        raise PackageError(f"{pc.file}: expected sections model.asr and features.fbank")
    check_node(pc, "features.fbank")  # every built node is checked before anything is called
    check_node(pc, "model.asr", ("input_dim", "vocab_size", "specaugment"))
    tokenizer = CharTokenizer.load(p / "tokenizer.json")
    fbank = build_node(pc, "features.fbank")
    model = build_with_weights(lambda: build_node(pc, "model.asr", input_dim=fbank.n_mels, vocab_size=len(tokenizer),
                                                  specaugment=None), weights_path(p))
    model.to(device).eval()
    return AsrPackage(p, model, tokenizer, fbank, pc.cfg, meta)
