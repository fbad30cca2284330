"""Transcriber: a trained ASR package applied to audio files or arrays."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from speech.audio import AudioError, load
from speech.decoding import ctc_greedy_decode
from speech.features import log_mel
from speech.pipelines.package import AsrPackage, load_asr_package


@dataclass
class Transcript:
    """Result for one input."""

    path: str
    text: str
    duration: float
    """Audio length in seconds."""

    def to_dict(self) -> dict:
        return {"path": self.path, "text": self.text, "duration": round(self.duration, 3)}


@dataclass
class Failure:
    """An input that could not be transcribed, with a one-line reason naming it."""

    path: str
    error: str


class Transcriber:
    """Greedy CTC transcription with a model package.

    Example::

        tr = Transcriber("exp/fsdd/model")
        print(tr.transcribe_file("seven.wav").text)
    """

    def __init__(self, package: str | Path | AsrPackage, device: str = "cpu", batch_size: int = 16):
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("--device cuda: CUDA is not available on this machine")
        self.pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
        self.pkg.model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0

    @property
    def sample_rate(self) -> int:
        return self.pkg.sample_rate

    @torch.inference_mode()
    def transcribe_arrays(self, wavs: Sequence[np.ndarray]) -> list[str]:
        """Mono float32 waveforms at :attr:`sample_rate` -> texts (batched, longest first)."""
        t0 = time.perf_counter()
        feats = [log_mel(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)), self.pkg.fbank) for w in wavs]
        order = sorted(range(len(feats)), key=lambda i: -feats[i].shape[0])
        texts: list[str] = [""] * len(feats)
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            x = torch.nn.utils.rnn.pad_sequence([feats[i] for i in idx], batch_first=True).to(self.device)
            lens = torch.tensor([feats[i].shape[0] for i in idx], device=self.device)
            log_probs, out_lens = self.pkg.model(x, lens)
            for i, ids in zip(idx, ctc_greedy_decode(log_probs, out_lens, blank=self.pkg.tokenizer.blank_id)):
                texts[i] = self.pkg.tokenizer.decode(ids)
        self.compute_seconds += time.perf_counter() - t0
        self.audio_seconds += sum(len(w) for w in wavs) / self.sample_rate
        return texts

    def transcribe_file(self, path: str | Path) -> Transcript:
        """One file -> :class:`Transcript`; raises :class:`~speech.audio.AudioError` naming an unreadable file."""
        wav, sr = load(path, self.sample_rate)
        return Transcript(str(path), self.transcribe_arrays([wav])[0], len(wav) / sr)

    def transcribe_files(self, paths: Iterable[str | Path], progress: bool = False) -> Iterator[Transcript | Failure]:
        """Transcribe many files in batches, yielding results in input order.

        A file that cannot be read yields a :class:`Failure` and the rest go on.
        """
        paths = [str(p) for p in paths]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), unit="file", disable=not progress, desc="transcribing")
        for s in range(0, len(paths), self.batch_size):
            chunk = paths[s:s + self.batch_size]
            loaded: dict[int, np.ndarray] = {}
            results: list[Transcript | Failure | None] = [None] * len(chunk)
            for i, p in enumerate(chunk):
                try:
                    loaded[i], _ = load(p, self.sample_rate)
                except AudioError as e:
                    results[i] = Failure(p, str(e))
            keys = list(loaded)
            for i, text in zip(keys, self.transcribe_arrays([loaded[i] for i in keys])):
                results[i] = Transcript(chunk[i], text, len(loaded[i]) / self.sample_rate)
            bar.update(len(chunk))
            yield from results  # type: ignore[misc]
        bar.close()

    @property
    def real_time_factor(self) -> float:
        """Compute time / audio time over everything transcribed so far (feature extraction included)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0
