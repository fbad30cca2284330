"""HiFi-GAN behind the :class:`~speech.vocoders.Vocoder` interface, loaded from a vocoder package.

A vocoder package (written by :func:`speech.train.vocoder.save_vocoder_package`)::

    config.yaml   features.fbank (the mel config it was trained on), vocoder.generator (preset + overrides)
    model.pt      generator weights (state_dict of tensors, weight-norm parametrized)
    meta.json     format, training steps, time, device, dev mel L1

Loading builds only ``features.fbank`` (``speech.features.FbankConfig``) and the generator
(``speech.models.vocoders.hifigan_generator``; ``vocoder.generator`` names no class, only a preset and
HiFiGANConfig fields), each checked first against the allow-list of :mod:`speech.pipelines.package`
(no Hydra keys, no interpolation, plain values only). Weights are read with
``torch.load(weights_only=True)`` and must be a mapping of names to tensors. Weight norm is folded
into plain weights and the generator runs under ``torch.inference_mode`` (a lean inference path: no
autograd state kept).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from speech.features import FbankConfig
from speech.vocoders.base import Vocoder

__all__ = ["HiFiGANVocoder", "is_vocoder_package", "read_vocoder_config"]


def is_vocoder_package(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / "config.yaml").is_file() and (p / "model.pt").is_file()


def _load_config(path: Path):
    """Open a vocoder package and check (without building anything) its ``features.fbank`` and
    ``vocoder.generator`` nodes; returns ``(PackageConfig, meta)``."""
    from speech.pipelines.package import PackageError, check_node, open_package

    p, pc, meta = open_package(path, "vocoder", ("config.yaml", "model.pt"), wrong_task=("tts", "asr"))
    if not (pc.has("vocoder.generator") and pc.has("features.fbank")):
        raise PackageError(f"{pc.file}: expected sections vocoder.generator and features.fbank "
                           "(is this a vocoder package?)")
    kind = pc.raw["vocoder"].get("kind", "hifigan")
    if kind != "hifigan":
        raise pc.error(["vocoder", "kind"], f"{kind!r}; expected 'hifigan'")
    check_node(pc, "features.fbank")
    check_node(pc, "vocoder.generator", ("n_mels", "hop_length"))
    return pc, meta


def read_vocoder_config(path: str | Path) -> tuple[str, dict]:
    """``(preset, generator overrides)`` of a vocoder package (checked against the allow-list)."""
    from speech.pipelines.package import check_node

    pc, _ = _load_config(Path(path))
    gen = dict(check_node(pc, "vocoder.generator", ("n_mels", "hop_length"))[2])
    preset = gen.pop("preset", "v1")
    return preset, gen


class HiFiGANVocoder(Vocoder):
    """A trained HiFi-GAN generator: log-mel (the package's mel config) -> waveform."""

    def __init__(self, fbank: FbankConfig, generator: torch.nn.Module, meta: dict | None = None,
                 device: str | torch.device = "cpu"):
        super().__init__(fbank)
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.meta = meta or {}

    @classmethod
    def from_package(cls, path: str | Path, device: str | torch.device = "cpu") -> "HiFiGANVocoder":
        from speech.pipelines.package import build_node, build_with_weights

        p = Path(path)
        pc, meta = _load_config(p)
        fbank = build_node(pc, "features.fbank")
        gen = build_with_weights(lambda: build_node(pc, "vocoder.generator", n_mels=fbank.n_mels,
                                                    hop_length=fbank.hop_length), p / "model.pt")
        gen.remove_weight_norm()
        return cls(fbank, gen, meta, device)

    def _synthesize(self, log_mel: Tensor, lengths: Tensor) -> Tensor:
        wav = self.generator(log_mel.to(self.device)).squeeze(1).clamp(-1.0, 1.0)
        hop = self.hop_length
        idx = torch.arange(wav.shape[1], device=wav.device)
        wav = wav * (idx[None, :] < (lengths.to(wav.device) * hop)[:, None])
        return wav.to(log_mel.device)
