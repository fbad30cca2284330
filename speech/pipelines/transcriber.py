"""Transcriber: a trained ASR package applied to audio files or arrays."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from speech.audio import AudioError, info, load
from speech.decoding import ctc_greedy_decode
from speech.features import log_mel
from speech.pipelines.package import AsrPackage, load_asr_package
from speech.pipelines.segment import SegmentConfig, segments


@dataclass
class Segment:
    """A piece of a long recording and its text."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """Result for one input."""

    path: str
    text: str
    duration: float
    """Audio length in seconds."""
    segments: list[Segment] = field(default_factory=list)
    """For recordings longer than one segment: the pieces they were cut into."""

    def to_dict(self) -> dict:
        d = {"path": self.path, "text": self.text, "duration": round(self.duration, 3)}
        if self.segments:
            d["segments"] = [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in self.segments]
        return d


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

    def __init__(self, package: str | Path | AsrPackage, device: str = "cpu", batch_size: int = 16,
                 segment: SegmentConfig | None = None, decoder=None):
        """``decoder``: callable (log_probs (B, T, V), lengths (B,)) -> texts, e.g. a
        :class:`~speech.decoding.beam.CTCPrefixBeamSearch`; default greedy CTC decoding."""
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError("--device cuda: CUDA is not available on this machine")
        self.pkg = package if isinstance(package, AsrPackage) else load_asr_package(package, device)
        self.pkg.model.to(device).eval()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.segment = segment or SegmentConfig()
        self.decoder = decoder
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
            if self.decoder is not None:
                decoded = self.decoder(log_probs.cpu(), out_lens.cpu())
            else:
                decoded = [self.pkg.tokenizer.decode(ids)
                           for ids in ctc_greedy_decode(log_probs, out_lens, blank=self.pkg.tokenizer.blank_id)]
            for i, text in zip(idx, decoded):
                texts[i] = text
        self.compute_seconds += time.perf_counter() - t0
        self.audio_seconds += sum(len(w) for w in wavs) / self.sample_rate
        return texts

    def transcribe_file(self, path: str | Path, progress: bool = False) -> Transcript:
        """One file of any length -> :class:`Transcript`; raises :class:`~speech.audio.AudioError` naming an
        unreadable file. Files longer than ``segment.max_seconds`` are cut at quiet points and read one
        window at a time, so memory does not grow with the file."""
        duration = info(path).duration
        if duration > self.segment.max_seconds:
            return self._transcribe_long(path, duration, progress)
        wav, sr = load(path, self.sample_rate)
        return Transcript(str(path), self.transcribe_arrays([wav])[0], len(wav) / sr)

    def _transcribe_long(self, path, duration: float, progress: bool) -> Transcript:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(duration, 1), unit="s", desc=Path(path).name, disable=not progress, leave=False)
        pieces: list[Segment] = []
        pending: list[tuple[float, np.ndarray]] = []

        def flush():
            for (start, wav), text in zip(pending, self.transcribe_arrays([w for _, w in pending])):
                pieces.append(Segment(start, start + len(wav) / self.sample_rate, text))
                bar.update(round(len(wav) / self.sample_rate, 1))
            pending.clear()

        for start, wav in segments(path, self.sample_rate, self.segment):
            pending.append((start, wav))
            if len(pending) == self.batch_size:
                flush()
        flush()
        bar.close()
        text = " ".join(p.text for p in pieces if p.text)
        return Transcript(str(path), text, pieces[-1].end if pieces else 0.0, pieces)

    def transcribe_files(self, paths: Iterable[str | Path], progress: bool = False) -> Iterator[Transcript | Failure]:
        """Transcribe many files (short ones batched together), yielding results in input order.

        A file that cannot be read yields a :class:`Failure` and the rest go on.
        """
        paths = [str(p) for p in paths]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths), unit="file", disable=not progress, desc="transcribing")
        batch: list[tuple[str, np.ndarray]] = []

        def flush():
            texts = self.transcribe_arrays([w for _, w in batch])
            out = [Transcript(p, t, len(w) / self.sample_rate) for (p, w), t in zip(batch, texts)]
            bar.update(len(batch))
            batch.clear()
            return out

        for p in paths:
            try:
                duration = info(p).duration
                if duration > self.segment.max_seconds:
                    yield from flush()
                    result = self._transcribe_long(p, duration, progress)
                    bar.update(1)
                    yield result
                    continue
                batch.append((p, load(p, self.sample_rate)[0]))
            except AudioError as e:
                yield from flush()
                bar.update(1)
                yield Failure(p, str(e))
                continue
            if len(batch) == self.batch_size:
                yield from flush()
        yield from flush()
        bar.close()

    @property
    def real_time_factor(self) -> float:
        """Compute time / audio time over everything transcribed so far (feature extraction included)."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0
