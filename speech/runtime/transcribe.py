"""What transcription does around the model, shared by the torch :class:`~speech.pipelines.transcriber.Transcriber`
and the ONNX :class:`~speech.runtime.asr.OnnxTranscriber`: reading files, refusing silence, batching
short files, cutting long ones at pauses, decoding and word times. A subclass supplies the model:
:meth:`BaseTranscriber._log_probs` (waveforms -> log-probs) and :meth:`BaseTranscriber._words`.

Files are checked before the model sees them: audio too short to hold speech, or without a single
frame above the speech floor (:attr:`SegmentConfig.speech_floor_db`), gives an empty transcript and
a warning instead of whatever letters an acoustic model makes of silence. Warnings (these, and
truncated files) are one-line strings naming the file, in :attr:`Transcript.warnings`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from speech.audio import AudioError, info, load
from speech.decoding import ctc_greedy_decode
from speech.runtime.results import Failure
from speech.runtime.segment import SegmentConfig, loudest_frame_db, segments


def _secs(x: float) -> str:
    return f"{x:.1f}" if x >= 1 else f"{x:.3g}"


MIN_SPEECH_SECONDS = 0.1
"""Shortest audio worth sending to a recognizer, in seconds (no spoken word is shorter)."""


def min_speech_samples(sample_rate: int, win_length: int, hop_length: int, time_reduction: int = 1) -> int:
    """Fewest samples that may hold speech: :data:`MIN_SPEECH_SECONDS`, and at least enough feature
    frames for one model output frame (the model's time reduction)."""
    return max(int(round(MIN_SPEECH_SECONDS * sample_rate)), win_length + (int(time_reduction or 1) - 1) * hop_length)


def too_short_message(path, seconds: float, need_seconds: float) -> str:
    """The warning for audio too short to hold speech (offline and streaming alike)."""
    return (f"{path}: {_secs(seconds)} s of audio is too short to hold speech (at least {_secs(need_seconds)} s); "
            "nothing transcribed")


def no_speech_message(path, seconds: float, floor_db: float, loudest: float | None = None) -> str:
    """The warning for audio whose loudest frame stays under the speech floor (offline and streaming alike)."""
    level = f"its loudest frame is at {loudest:.0f} dB, " if loudest is not None else ""
    return f"{path}: no speech found in {_secs(seconds)} s of audio ({level}below the {floor_db:g} dB speech floor); " \
           "nothing transcribed"


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
    words: list[dict] | None = None
    """With timestamps: {"word", "start", "end", "confidence"} per word (seconds; confidence = exp of the
    mean log-probability of the word's frames)."""
    warnings: list[str] = field(default_factory=list)
    """One-line problems that did not stop transcription, each naming the file: a truncated file, no
    speech found, audio too short to hold speech."""

    def to_dict(self) -> dict:
        d = {"path": self.path, "text": self.text, "duration": round(self.duration, 3)}
        if self.words is not None:
            d["words"] = self.words
        if self.segments:
            d["segments"] = [{"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text} for s in self.segments]
        if self.warnings:
            d["warnings"] = list(self.warnings)
        return d


def word_dicts(spans) -> list[dict]:
    """Word spans -> the ``words`` entries of a :class:`Transcript`."""
    return [{"word": w.label, "start": round(w.start, 3), "end": round(w.end, 3),
             "confidence": round(float(np.exp(w.score)), 4)} for w in spans]


class BaseTranscriber:
    """Files and arrays in, :class:`Transcript` / :class:`Failure` out; the model is the subclass's.

    A subclass sets :attr:`sample_rate`, :attr:`win_length` / :attr:`hop_length` (feature frames,
    in samples), :attr:`time_reduction`, :attr:`tokenizer`, :attr:`decoder` (a callable
    ``(log_probs (B, T, V), lengths (B,)) -> texts``, or None for greedy) and implements
    :meth:`_log_probs` and :meth:`_words`.
    """

    sample_rate: int
    win_length: int
    hop_length: int
    time_reduction: int = 1
    tokenizer = None
    decoder = None

    def __init__(self, batch_size: int = 16, segment: SegmentConfig | None = None):
        self.batch_size = batch_size
        self.segment = segment or SegmentConfig()
        self.audio_seconds = 0.0
        self.compute_seconds = 0.0

    # -- the model (subclasses) ----------------------------------------------------------------
    def _log_probs(self, wavs: Sequence[np.ndarray]):
        """Waveforms (one batch) -> (log_probs (B, T, V), out_lens (B,)), torch or numpy."""
        raise NotImplementedError

    def _words(self, log_probs, text: str, offset: float) -> list[dict]:
        """Word times of ``text`` in one utterance's (T, V) log-probs, shifted by ``offset`` seconds."""
        raise NotImplementedError

    # -- checks ----------------------------------------------------------------------------------
    def min_speech_samples(self) -> int:
        """:func:`min_speech_samples` of this model."""
        return min_speech_samples(self.sample_rate, self.win_length, self.hop_length, self.time_reduction)

    def speech_problem(self, path: str | Path, wav: np.ndarray) -> str | None:
        """Why ``wav`` (at :attr:`sample_rate`) is not worth transcribing, as a one-line warning naming
        ``path``, or None when it may hold speech."""
        seconds = len(wav) / self.sample_rate
        need = self.min_speech_samples()
        if len(wav) < need:
            return too_short_message(path, seconds, need / self.sample_rate)
        frame = max(1, int(round(self.segment.frame_seconds * self.sample_rate)))
        loudest = loudest_frame_db(wav, frame)
        if loudest < self.segment.speech_floor_db:
            return self._no_speech(path, seconds, loudest)
        return None

    def _no_speech(self, path, seconds: float, loudest: float | None = None) -> str:
        return no_speech_message(path, seconds, self.segment.speech_floor_db, loudest)

    def decode(self, log_probs, out_lens) -> list[str]:
        """(B, T, V) log-probs and (B,) lengths -> texts: :attr:`decoder`, else greedy CTC."""
        if self.decoder is not None:
            return self.decoder(log_probs, out_lens)
        return [self.tokenizer.decode(ids) for ids in ctc_greedy_decode(log_probs, out_lens, blank=self.tokenizer.blank_id)]

    # -- batches ---------------------------------------------------------------------------------
    def transcribe_arrays(self, wavs: Sequence[np.ndarray]) -> list[str]:
        """Mono float32 waveforms at :attr:`sample_rate` -> texts (batched, longest first)."""
        return [text for text, _ in self._run(wavs)]

    def log_probs(self, wavs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Mono float32 waveforms at :attr:`sample_rate` -> each one's (T_i, V) float32 log-probs, the
        model run in batches as for transcription: for decoders run outside (e.g. choosing LM weights
        over stored outputs)."""
        out: list[np.ndarray] = [np.empty(0, np.float32)] * len(wavs)
        for idx, log_probs, out_lens in self._batches(wavs):
            for j, i in enumerate(idx):
                out[i] = np.ascontiguousarray(np.asarray(log_probs[j, : int(out_lens[j])], dtype=np.float32))
        return out

    def _batches(self, wavs: Sequence[np.ndarray]):
        """(indices, log_probs (B, T, V), out_lens (B,)) per batch of :attr:`batch_size`, longest first."""
        order = sorted(range(len(wavs)), key=lambda i: -len(wavs[i]))
        for s in range(0, len(order), self.batch_size):
            idx = order[s:s + self.batch_size]
            yield (idx, *self._log_probs([wavs[i] for i in idx]))

    def _run(self, wavs: Sequence[np.ndarray], offsets: Sequence[float] | None = None,
             timestamps: bool = False) -> list[tuple[str, list[dict] | None]]:
        t0 = time.perf_counter()
        out: list[tuple[str, list[dict] | None]] = [("", None)] * len(wavs)
        for idx, log_probs, out_lens in self._batches(wavs):
            decoded = self.decode(log_probs, out_lens)
            for j, (i, text) in enumerate(zip(idx, decoded)):
                words = None
                if timestamps:
                    words = self._words(log_probs[j, : int(out_lens[j])], text, offsets[i] if offsets else 0.0)
                out[i] = (text, words)
        self.compute_seconds += time.perf_counter() - t0
        self.audio_seconds += sum(len(w) for w in wavs) / self.sample_rate
        return out

    def transcribe_waveforms(self, items: Sequence[tuple[str, np.ndarray, Sequence[str]]],
                             timestamps: bool = False) -> list[Transcript]:
        """Named waveforms (mono float32 at :attr:`sample_rate`, each with the warnings reading it
        gave) -> one :class:`Transcript` each, in order, the model run in batches of :attr:`batch_size`.

        Like files, a waveform without speech (or too short to hold any) gets text ``""`` and the
        reason in its ``warnings``; the model never sees it. The HTTP server batches concurrent
        requests through here."""
        problems = [self.speech_problem(name, wav) for name, wav, _ in items]
        todo = [wav for (_, wav, _), problem in zip(items, problems) if problem is None]
        results = iter(self._run(todo, timestamps=timestamps) if todo else [])
        out = []
        for (name, wav, warnings), problem in zip(items, problems):
            seconds = len(wav) / self.sample_rate
            if problem is None:
                text, words = next(results)
                out.append(Transcript(name, text, seconds, words=words, warnings=list(warnings)))
            else:
                out.append(Transcript(name, "", seconds, words=[] if timestamps else None,
                                      warnings=list(warnings) + [problem]))
        return out

    # -- files -----------------------------------------------------------------------------------
    def transcribe_file(self, path: str | Path, progress: bool = False, timestamps: bool = False) -> Transcript:
        """One file of any length -> :class:`Transcript`; raises :class:`~speech.audio.AudioError` naming an
        unreadable file; silence and too-short audio give text ``""`` and a warning (see the module).
        Files longer than ``segment.max_seconds`` are read one window at a time and cut
        at pauses (:mod:`speech.runtime.segment`), so memory does not grow with the file."""
        head = info(path)
        if head.duration > self.segment.max_seconds:
            return self._transcribe_long(path, head.duration, progress, timestamps)
        warnings = list(head.warnings)
        wav, sr = load(path, self.sample_rate, warnings=warnings)
        problem = self.speech_problem(path, wav)
        if problem is not None:
            return Transcript(str(path), "", len(wav) / sr, words=[] if timestamps else None,
                              warnings=warnings + [problem])
        text, words = self._run([wav], timestamps=timestamps)[0]
        return Transcript(str(path), text, len(wav) / sr, words=words, warnings=warnings)

    def _transcribe_long(self, path, duration: float, progress: bool, timestamps: bool = False) -> Transcript:
        bar = tqdm(total=round(duration, 1), unit="s", desc=Path(path).name, disable=not progress, leave=False)
        pieces: list[Segment] = []
        words: list[dict] = []
        warnings: list[str] = []
        pending: list[tuple[float, np.ndarray]] = []

        def flush():
            if not pending:
                return
            results = self._run([w for _, w in pending], [s for s, _ in pending], timestamps)
            for (start, wav), (text, seg_words) in zip(pending, results):
                pieces.append(Segment(start, start + len(wav) / self.sample_rate, text))
                words.extend(seg_words or [])
                bar.update(round(len(wav) / self.sample_rate, 1))
            pending.clear()

        need = self.min_speech_samples()
        for start, wav in segments(path, self.sample_rate, self.segment, warnings=warnings):
            if len(wav) < need:  # a click between pauses: no word fits, the model would invent one
                continue
            pending.append((start, wav))
            if len(pending) == self.batch_size:
                flush()
        flush()
        bar.close()
        if not pieces:
            warnings.append(self._no_speech(path, duration))
        text = " ".join(p.text for p in pieces if p.text)
        return Transcript(str(path), text, duration, pieces, words if timestamps else None, warnings)

    def transcribe_files(self, paths: Iterable[str | Path], progress: bool = False,
                         timestamps: bool = False) -> Iterator[Transcript | Failure]:
        """Transcribe many files (short ones batched together), yielding results in input order.

        A file that cannot be read yields a :class:`Failure` and the rest go on. A file without speech
        (or too short to hold any) yields a :class:`Transcript` with text ``""`` and the reason in its
        ``warnings``; the model never sees it.
        """
        paths = [str(p) for p in paths]
        bar = tqdm(total=len(paths), unit="file", disable=not progress, desc="transcribing")
        batch: list[tuple[str, np.ndarray, list[str]]] = []  # (path, waveform, warnings reading it gave)

        def flush():
            if not batch:
                return []
            out = self.transcribe_waveforms(batch, timestamps=timestamps)
            bar.update(len(batch))
            batch.clear()
            return out

        for p in paths:
            try:
                head = info(p)
                if head.duration > self.segment.max_seconds:
                    yield from flush()
                    result = self._transcribe_long(p, head.duration, progress, timestamps)
                    bar.update(1)
                    yield result
                    continue
                warnings = list(head.warnings)
                wav = load(p, self.sample_rate, warnings=warnings)[0]
                batch.append((p, wav, warnings))
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
