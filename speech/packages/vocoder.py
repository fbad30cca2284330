"""HiFi-GAN behind the :class:`~speech.models.vocoders.base.Vocoder` interface, loaded from a vocoder package.

A vocoder package (written by :func:`save_vocoder_package`)::

    config.yaml        features.fbank (the mel config it was trained on), vocoder.generator (preset + overrides)
    model.safetensors  generator weights (state_dict of tensors, weight-norm parametrized);
                       ``model.pt`` in packages written before format version 2
    meta.json          format, format version, task "vocoder", training steps, time, device, dev mel L1

Loading builds only ``features.fbank`` (``speech.features.FbankConfig``) and the generator
(``speech.models.vocoders.hifigan_generator``; ``vocoder.generator`` names no class, only a preset and
HiFiGANConfig fields), each checked first against the allow-list of :mod:`speech.packages.format`
(no Hydra keys, no interpolation, plain values only). Weights are read by
:mod:`speech.packages.weights` (safetensors, or ``torch.load(weights_only=True)`` for a legacy
``model.pt``; never unpickled) and must be a mapping of names to tensors that fits the generator.
Weight norm is folded into plain weights and the generator runs under ``torch.inference_mode`` (a
lean inference path: no autograd state kept).
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch import Tensor

from speech.features import FbankConfig
from speech.fileio import atomic_write_text
from speech.models.vocoders.base import VOCODER_NAMES, Vocoder
from speech.models.vocoders.griffin_lim import GriffinLimVocoder
from speech.packages.format import (
    LEGACY_WEIGHTS_FILE,
    WEIGHTS_FILE,
    PackageError,
    build_node,
    check_node,
    open_package,
    weights_path,
)
from speech.packages.weights import build_with_weights, write_weights_and_meta

__all__ = ["HiFiGANVocoder", "is_vocoder_package", "load_vocoder", "read_vocoder_config", "save_vocoder_package"]

_GRIFFIN_LIM = ("griffin-lim", "griffinlim", "gl")


def is_vocoder_package(path: str | Path) -> bool:
    """Whether ``path`` looks like a package folder (``config.yaml`` and a weights file; new or legacy)."""
    p = Path(path)
    return p.is_dir() and (p / "config.yaml").is_file() and \
        ((p / WEIGHTS_FILE).is_file() or (p / LEGACY_WEIGHTS_FILE).is_file())


def _load_config(path: Path):
    """Open a vocoder package and check (without building anything) its ``features.fbank`` and
    ``vocoder.generator`` nodes; returns ``(PackageConfig, meta)``."""
    p, pc, meta = open_package(path, "vocoder", ("config.yaml", WEIGHTS_FILE), wrong_task=("tts", "asr"))
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
        """Load a vocoder package (new or legacy weights file) with its generator on ``device``."""
        p = Path(path)
        pc, meta = _load_config(p)
        fbank = build_node(pc, "features.fbank")
        gen = build_with_weights(lambda: build_node(pc, "vocoder.generator", n_mels=fbank.n_mels,
                                                    hop_length=fbank.hop_length), weights_path(p))
        gen.remove_weight_norm()
        return cls(fbank, gen, meta, device)

    def _synthesize(self, log_mel: Tensor, lengths: Tensor) -> Tensor:
        """``(B, T, n_mels)`` log-mel and ``(B,)`` lengths (any device) -> ``(B, T * hop)`` waveform on
        the input's device, computed on :attr:`device`, zero past ``lengths[b] * hop``."""
        wav = self.generator(log_mel.to(self.device)).squeeze(1).clamp(-1.0, 1.0)
        hop = self.hop_length
        idx = torch.arange(wav.shape[1], device=wav.device)
        wav = wav * (idx[None, :] < (lengths.to(wav.device) * hop)[:, None])
        return wav.to(log_mel.device)


def load_vocoder(spec: str | Path, fbank: FbankConfig, *, device: str | torch.device = "cpu",
                 **options) -> Vocoder:
    """Build a vocoder by name or package path.

    Args:
        spec: ``"griffin-lim"`` (no trained weights; :class:`GriffinLimVocoder`, which runs on the
            device of the mels it is given), or the folder of a vocoder package (a trained HiFi-GAN,
            :class:`HiFiGANVocoder`, loaded onto ``device``); its mel config must match ``fbank``.
        fbank: the mel config the features were computed with.
        device: torch device of a HiFi-GAN's generator (mels are moved there and the waveform back).
        **options: Griffin-Lim's constructor options (e.g. ``n_iter=64``); ignored for a HiFi-GAN.

    Raises:
        ValueError: ``spec`` is not a known vocoder, or the package's mel config differs from ``fbank``.
        PackageError: the package folder is missing, incomplete or unsafe (one line naming the file).
    """
    name = str(spec).strip().lower().replace("_", "-")
    if name in _GRIFFIN_LIM:
        return GriffinLimVocoder(fbank, **options)
    if Path(str(spec)).exists() or "/" in str(spec):
        voc = HiFiGANVocoder.from_package(spec, device=device)
        voc.check_compatible(fbank)
        return voc
    raise ValueError(f"load_vocoder: unknown vocoder spec={spec!r}; expected one of {list(VOCODER_NAMES)} "
                     "or the folder of a trained vocoder package (speech train-vocoder)")


def save_vocoder_package(out_dir: str | Path, fbank: FbankConfig, generator_cfg: dict, state: dict,
                         meta: dict | None = None) -> Path:
    """A vocoder package: ``config.yaml`` (mel config + generator), ``model.safetensors`` (``state``: the
    generator's ``state_dict()``), ``meta.json``; each file written atomically. Returns the folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {"features": {"fbank": {"_target_": "speech.features.FbankConfig", **asdict(fbank)}},
           "vocoder": {"kind": "hifigan", "generator": generator_cfg}}
    atomic_write_text(out / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(cfg)))
    return write_weights_and_meta(out, state, "speech-vocoder-package", "vocoder", meta)
