"""Copy synthesis: judge a vocoder on its own, without an acoustic model.

:func:`vocode_file` turns one recording into its log-mel (the vocoder's mel config) and back into audio,
or a saved log-mel (``.npy``, ``(T, n_mels)`` natural-log mel power) into audio;
:func:`evaluate_vocoder_on_voice` does it for a voice package's held-out recordings and scores the
result against them (:func:`speech.pipelines.evaluate_tts.evaluate_copy_synthesis`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from speech.audio import load, save
from speech.features import log_mel, tts_fbank
from speech.models.vocoders.base import Vocoder
from speech.packages.vocoder import HiFiGANVocoder, load_vocoder
from speech.packages.voice import load_tts_package
from speech.pipelines.evaluate_tts import evaluate_copy_synthesis

__all__ = ["Vocoded", "evaluate_vocoder_on_voice", "open_vocoder", "vocode_file"]

GRIFFIN_LIM_NAMES = ("griffin-lim", "griffinlim", "gl")


@dataclass
class Vocoded:
    """One copy-synthesized file."""

    path: Path
    duration: float
    """Seconds of audio written."""
    seconds: float
    """Vocoder time (mel -> waveform)."""
    mel_l1: float | None
    """Mean absolute log-mel difference between the input audio and the output (None for a .npy input)."""

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.duration, 1e-9)


def open_vocoder(spec: str, device: str = "cpu") -> Vocoder:
    """``griffin-lim`` (at the synthesis mel config, ``conf/features/tts22k.yaml``) or a vocoder package
    folder (at its own mel config), on ``device``."""
    if str(spec).strip().lower().replace("_", "-") in GRIFFIN_LIM_NAMES:
        return load_vocoder(spec, tts_fbank(), device=device)
    return HiFiGANVocoder.from_package(spec, device=device)


def _read_mel(src: Path, n_mels: int) -> torch.Tensor:
    """(T, n_mels) float32 log-mel from a .npy file."""
    try:
        mel = torch.from_numpy(np.load(src, allow_pickle=False)).float()
    except (OSError, ValueError) as e:
        raise ValueError(f"{src}: not a numpy array file ({e})") from None
    if mel.dim() != 2 or mel.shape[1] != n_mels:
        raise ValueError(f"{src}: mel has shape {tuple(mel.shape)}; expected (T, {n_mels})")
    return mel


def vocode_file(vocoder: Vocoder, src: str | Path, out: str | Path) -> Vocoded:
    """Audio file or ``.npy`` log-mel ``src`` -> ``vocoder`` -> audio file ``out``.

    Raises:
        FileNotFoundError / ValueError: one line naming ``src`` (missing, unreadable, a mel of the wrong shape).
    """
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"{src}: input not found (expected an audio file or a .npy log-mel)")
    from_audio = src.suffix.lower() != ".npy"
    if from_audio:
        wav, _ = load(src, sample_rate=vocoder.sample_rate)
        mel = log_mel(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), vocoder.fbank)
    else:
        mel = _read_mel(src, vocoder.fbank.n_mels)
    t0 = time.perf_counter()
    wav_out = vocoder(mel)
    seconds = time.perf_counter() - t0
    save(out, wav_out.cpu().numpy(), vocoder.sample_rate)
    l1 = None
    if from_audio:
        back = log_mel(wav_out.float().cpu(), vocoder.fbank)
        n = min(back.shape[0], mel.shape[0])
        l1 = float((back[:n] - mel[:n]).abs().mean())
    return Vocoded(Path(out), wav_out.numel() / vocoder.sample_rate, seconds, l1)


def evaluate_vocoder_on_voice(model: str | Path, vocoder: str = "griffin-lim", corpus: str | Path | None = None,
                              ids: Sequence[str] | None = None, limit: int | None = None,
                              out_dir: str | Path | None = None, recognizer: Any = "auto", progress: bool = True,
                              device: str = "cpu") -> dict[str, Any]:
    """Copy synthesis of a voice package's held-out recordings through ``vocoder``, scored like
    :func:`speech.pipelines.evaluate_tts.evaluate_voice`.

    Args:
        model: the voice package; its ``meta.json`` gives the default ``corpus`` and held-out ``test_ids``.
        ids: utterance ids instead of the package's ``test_ids``; ``limit``: at most this many of them.
        out_dir: report folder; default ``copy_synthesis_eval`` beside the package folder.

    Returns:
        ``evaluate_copy_synthesis``'s dict plus ``selection``, ``skipped`` (always empty) and ``wav_dir``.
    """
    pkg = load_tts_package(model)
    chosen = list(ids) if ids is not None else list(pkg.meta.get("test_ids", []))
    corpus = corpus or pkg.meta.get("corpus")
    if not corpus:
        raise ValueError(f"{pkg.path}: meta.json names no corpus; give --corpus")
    voc = load_vocoder(vocoder, tts_fbank(), device=device)  # checked against the synthesis mel config
    r = evaluate_copy_synthesis(voc, corpus, chosen[:limit] if limit else chosen,
                                out_dir if out_dir is not None else pkg.path.parent / "copy_synthesis_eval",
                                recognizer=recognizer, progress=progress)
    r.update({"vocoder": str(vocoder), "selection": "copy synthesis of the package's held-out recordings",
              "skipped": [], "wav_dir": str(Path(r["report_json"]).parent / "wavs")})
    return r
