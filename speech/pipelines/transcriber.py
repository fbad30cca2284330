"""Transcriber: a trained ASR package applied to audio files or arrays with torch.

Everything around the model (silence checks, batching, long files, decoding, word times) is
:class:`speech.runtime.transcribe.BaseTranscriber`'s, shared with the ONNX runtime; this module adds
the torch model, and the decoding settings read from configs and packages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from speech.config import compose, validate
from speech.decoding.build import build_decoder
from speech.device import resolve_device
from speech.features import log_mel
from speech.features.channel import is_warp, warp_logmel
from speech.packages.asr import AsrPackage, load_asr_package
from speech.packages.format import PackageError
from speech.pipelines.alignment import align_log_probs
from speech.runtime.segment import SegmentConfig
from speech.runtime.transcribe import BaseTranscriber, Segment, Transcript, word_dicts

__all__ = ["Segment", "Transcriber", "Transcript", "decoding_config", "package_decoding"]


def decoding_config(overrides: Sequence[str] = (), **values: Any) -> DictConfig:
    """The ``decoding`` node of the composed config: ``conf/decoding/<option>.yaml`` with Hydra overrides,
    then ``values`` set on it (options the caller holds as Python values, e.g. a path that Hydra's
    override grammar would have to quote), checked like every composed config.

    Example::

        decoding_config(["decoding=beam", "decoding.beam_size=8"], lm="exp/lm/digits.arpa")

    Raises:
        ConfigError: one line naming the key (``config: decoding.beam_size: 0 is out of range; ...``).
    """
    cfg = compose(list(overrides), check=not values)
    for key, value in values.items():
        OmegaConf.update(cfg, f"decoding.{key}", value, force_add=True)
    if values:
        validate(cfg)
    return cfg.decoding


_PACKAGE_DECODING_KEYS = frozenset({"beam_size", "lm_weight", "word_bonus", "prune_logp", "lm", "lexicon"})


def package_decoding(pkg: AsrPackage) -> DictConfig | None:
    """The decoding a package recommends (``meta.json`` key ``decoding``; a bundled recognizer that
    carries its n-gram LM has one), as a decoding config node, or None when it has none.

    File names in it (``lm``, ``lexicon``) name files of the package folder itself.

    Raises:
        PackageError: the entry is not an object, or names a file outside the package or not there.
    """
    rec = pkg.meta.get("decoding")
    if rec is None:
        return None
    where = pkg.path / "meta.json"
    if not isinstance(rec, dict):
        raise PackageError(f"{where}: decoding: expected an object of decoding settings, got {type(rec).__name__}")
    values = dict(rec)
    choice = values.pop("decoding", "beam")
    if choice not in ("greedy", "beam"):
        raise PackageError(f"{where}: decoding.decoding: {choice!r}; expected 'greedy' or 'beam'")
    for key, value in values.items():  # data from a stranger: plain settings only, never a node to build
        if key not in _PACKAGE_DECODING_KEYS or not isinstance(value, (int, float, str, type(None))) \
                or isinstance(value, bool):
            raise PackageError(f"{where}: decoding.{key}: not a setting a package may recommend; expected "
                               f"plain values of {', '.join(sorted(_PACKAGE_DECODING_KEYS))}")
    for key in ("lm", "lexicon"):
        name = values.get(key)
        if name is None:
            continue
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith(".") \
                or not (pkg.path / name).is_file():
            raise PackageError(f"{where}: decoding.{key}: {name!r}; expected the name of a file in the package")
        values[key] = str(pkg.path / name)
    try:
        return decoding_config([f"decoding={choice}"], **values)
    except ValueError as e:
        raise PackageError(f"{where}: decoding: {e}") from None


class Transcriber(BaseTranscriber):
    """CTC transcription with a model package: greedy, or as a decoding config says.

    Example::

        tr = Transcriber("exp/fsdd/model")
        print(tr.transcribe_file("seven.wav").text)
        beam = Transcriber("exp/fsdd/model", decoding=decoding_config(["decoding=beam"], lm="digits.arpa"))
    """

    def __init__(self, package: str | Path | AsrPackage, device: str = "cpu", batch_size: int = 16,
                 segment: SegmentConfig | None = None, decoder=None, decoding: DictConfig | None = None,
                 warp: float = 1.0):
        """``decoding``: a decoding config node (:func:`decoding_config`, config group ``decoding/``),
        built for this model by :func:`speech.decoding.build.build_decoder`. ``decoder``: a ready
        callable (log_probs (B, T, V), lengths (B,)) -> texts instead. Neither: the package's
        recommended decoding (:func:`package_decoding`: a bundled recognizer's LM and beam), else greedy
        CTC decoding; ``decoding_config(["decoding=greedy"])`` asks for greedy decoding whatever the package says.
        ``warp``: a vocal tract length normalization factor (0.5-2.0; 1.0: none) applied to every input's
        log-mel frames (:func:`speech.features.channel.warp_logmel`), e.g. one speaker's estimate from
        :func:`speech.pipelines.vtln.estimate_warp`."""
        if not is_warp(warp):
            raise ValueError(f"Transcriber: warp {warp!r}; expected a factor from 0.5 to 2.0 (1.0: no warp)")
        super().__init__(batch_size, segment)
        self.warp = float(warp)
        resolve_device(device)  # one line (DeviceError) before anything is loaded
        self.pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
        self.pkg.model.to(device).eval().requires_grad_(False)  # inference only: no call records autograd state
        self.device = torch.device(device)
        if decoder is not None and decoding is not None:
            raise ValueError("Transcriber: give decoder or decoding, not both")
        if decoding is None and decoder is None:
            decoding = package_decoding(self.pkg)
        self.decoding = decoding
        self.decoder = build_decoder(decoding, self.pkg.tokenizer) if decoding is not None else decoder

    @property
    def sample_rate(self) -> int:
        return self.pkg.sample_rate

    @property
    def win_length(self) -> int:
        return self.pkg.fbank.win_length

    @property
    def hop_length(self) -> int:
        return self.pkg.fbank.hop_length

    @property
    def time_reduction(self) -> int:
        return int(getattr(self.pkg.model, "time_reduction", 1) or 1)

    @property
    def tokenizer(self):
        return self.pkg.tokenizer

    @torch.inference_mode()
    def _log_probs(self, wavs: Sequence[np.ndarray]):
        feats = [log_mel(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), self.pkg.fbank) for w in wavs]
        if self.warp != 1.0:
            feats = [warp_logmel(f, self.pkg.fbank, self.warp) for f in feats]
        log_probs, out_lens = self.pkg.log_probs(feats, self.device)
        return log_probs.cpu(), out_lens.cpu()

    @torch.inference_mode()
    def _words(self, log_probs, text: str, offset: float) -> list[dict]:
        spans, _ = align_log_probs(self.pkg, log_probs, text, offset)
        return word_dicts(spans)
