"""Voice packages: a folder with everything needed to synthesize with a trained acoustic model.

Layout::

    config.yaml        features.fbank (the mel config a vocoder must share), model.tts, frontend
    tokenizer.json     the phoneme inventory
    stats.json         pitch / energy normalization statistics and per-band mel mean / std
    model.safetensors  weights (a state_dict of tensors only); ``model.pt`` in packages before format 2
    meta.json          format, format version, task "tts", training summary, held-out test ids

Loading builds only ``features.fbank`` (``speech.features.FbankConfig``) and ``model.tts``
(``speech.models.tts.fastspeech2``), each checked against the allow-list of
:mod:`speech.packages.format` (:data:`~speech.packages.format.ALLOWED_TARGETS`) before anything is
called: no other target, no Hydra keys (``_args_``, ``_partial_``, ...), no nested ``_target_``, no
``${...}`` interpolation, plain values only. ``frontend`` is read as data. Weights are read by
:mod:`speech.packages.weights` (safetensors, or ``torch.load(weights_only=True)`` for a legacy
``model.pt``; never unpickled) and must be a mapping of names to tensors that fits the model.
Every refusal is one :class:`~speech.packages.format.PackageError` line naming the file and key.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from speech.features import FbankConfig
from speech.features.prosody import TargetStats
from speech.fileio import atomic_write_text
from speech.packages.format import (
    WEIGHTS_FILE,
    PackageError,
    build_node,
    check_node,
    open_package,
    weights_path,
)
from speech.packages.weights import build_with_weights, write_weights_and_meta
from speech.text.phonemes import PhonemeTokenizer

FORMAT = "speech-tts-package"

__all__ = ["TtsPackage", "load_tts_package", "save_tts_package"]


def save_tts_package(out_dir: str | Path, *, fbank: FbankConfig, model_cfg: dict, tokenizer: PhonemeTokenizer,
                     state: dict, stats: TargetStats, mel_mean, mel_std, frontend: dict | None = None,
                     meta: dict | None = None) -> Path:
    """Write a voice package (each file atomically; weights as ``model.safetensors``) and return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fb = {"_target_": "speech.features.FbankConfig", **asdict(fbank)}
    cfg = {"features": {"fbank": fb}, "model": {"tts": model_cfg}, "frontend": frontend or {}}
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(cfg)))
    tokenizer.save(out / "tokenizer.json")
    atomic_write_text(out / "stats.json", json.dumps({
        **stats.to_dict(), "mel_mean": [float(x) for x in np.asarray(mel_mean)],
        "mel_std": [float(x) for x in np.asarray(mel_std)]}, indent=2) + "\n")
    return write_weights_and_meta(out, state, FORMAT, "tts", meta)


@dataclass
class TtsPackage:
    """A loaded voice: the acoustic model (eval mode) and what feeding it needs."""

    path: Path
    model: torch.nn.Module
    tokenizer: PhonemeTokenizer
    fbank: FbankConfig
    stats: TargetStats
    mel_mean: torch.Tensor
    mel_std: torch.Tensor
    config: DictConfig
    meta: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return self.fbank.sample_rate


def load_tts_package(path: str | Path, device: str | torch.device = "cpu") -> TtsPackage:
    """Load a folder written by :func:`save_tts_package` (or an older one with ``model.pt``) onto
    ``device``; errors name the file at fault."""
    p, pc, meta = open_package(path, "voice", ("config.yaml", "tokenizer.json", "stats.json", WEIGHTS_FILE),
                               wrong_task=("asr", "vocoder"))
    if not (pc.has("model.tts") and pc.has("features.fbank")):
        raise PackageError(f"{pc.file}: expected sections model.tts and features.fbank")
    check_node(pc, "features.fbank")  # every built node is checked before anything is called
    check_node(pc, "model.tts", ("vocab_size", "n_mels"))
    try:
        st = json.loads((p / "stats.json").read_text(encoding="utf-8"))
        stats = TargetStats(**{k: float(st[k]) for k in ("pitch_mean", "pitch_std", "energy_mean", "energy_std")})
        mel_mean = torch.tensor(st["mel_mean"], dtype=torch.float32)
        mel_std = torch.tensor(st["mel_std"], dtype=torch.float32)
        if mel_mean.dim() != 1 or mel_std.dim() != 1:
            raise ValueError("mel_mean / mel_std are not flat lists")
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise PackageError(f"{p / 'stats.json'}: malformed ({type(e).__name__}: {' '.join(str(e).split())}); "
                           "expected pitch_mean, pitch_std, energy_mean, energy_std, mel_mean, mel_std") from None
    tokenizer = PhonemeTokenizer.load(p / "tokenizer.json")
    fbank = build_node(pc, "features.fbank")
    if len(mel_mean) != fbank.n_mels or len(mel_std) != fbank.n_mels:
        raise PackageError(f"{p / 'stats.json'}: mel_mean/mel_std have {len(mel_mean)}/{len(mel_std)} bands, "
                           f"features.fbank.n_mels is {fbank.n_mels}")
    model = build_with_weights(lambda: build_node(pc, "model.tts", vocab_size=len(tokenizer), n_mels=fbank.n_mels),
                               weights_path(p))
    model.to(device).eval()
    return TtsPackage(p, model, tokenizer, fbank, stats, mel_mean.to(device), mel_std.to(device), pc.cfg, meta)
