"""Evaluate an ASR package on a manifest: WER, CER and real-time factor."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig
from tqdm.auto import tqdm

from speech.audio import AudioError, load
from speech.data.manifest import read_manifest
from speech.decoding import ErrorStats, error_stats
from speech.pipelines.transcriber import Transcriber


@dataclass
class EvalReport:
    """Corpus-level scores plus per-utterance results."""

    manifest: str
    utterances: int
    words: ErrorStats
    chars: ErrorStats
    audio_seconds: float
    compute_seconds: float
    wall_seconds: float
    failures: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    @property
    def wer(self) -> float:
        return self.words.rate

    @property
    def cer(self) -> float:
        return self.chars.rate

    @property
    def rtf(self) -> float:
        """Model compute time (features + network + decoding) / audio duration."""
        return self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def summary(self) -> dict:
        return {
            "manifest": self.manifest, "utterances": self.utterances, "failed": len(self.failures),
            "wer": round(self.wer, 5), "cer": round(self.cer, 5),
            "word_errors": self.words.errors, "words": self.words.reference_length,
            "substitutions": self.words.substitutions, "deletions": self.words.deletions,
            "insertions": self.words.insertions,
            "audio_seconds": round(self.audio_seconds, 2), "compute_seconds": round(self.compute_seconds, 3),
            "rtf": round(self.rtf, 5), "wall_seconds": round(self.wall_seconds, 2),
        }


def evaluate_manifest(model, manifest: str | Path, device: str = "cpu", batch_size: int = 16,
                      output: str | Path | None = None, progress: bool = True,
                      decoding: DictConfig | None = None) -> EvalReport:
    """Transcribe every utterance of ``manifest`` with ``model`` (a package path or Transcriber) and score it.

    ``decoding``: a decoding config node (:func:`speech.pipelines.transcriber.decoding_config`) for a
    ``model`` given as a path (None: the package's recommended decoding, else greedy); a Transcriber
    brings its own decoder."""
    t0 = time.perf_counter()
    if isinstance(model, Transcriber):
        if decoding is not None:
            raise ValueError("evaluate_manifest: decoding is for a package path; this Transcriber has its decoder")
        tr = model
    else:
        tr = Transcriber(model, device=device, batch_size=batch_size, decoding=decoding)
    utts = read_manifest(manifest, normalize=True)  # references normalized like training transcripts
    words, chars = ErrorStats(), ErrorStats()
    failures, rows = [], []
    bar = tqdm(total=len(utts), unit="utt", desc="evaluating", disable=not progress)
    for s in range(0, len(utts), tr.batch_size):
        chunk = utts[s:s + tr.batch_size]
        ok, wavs = [], []
        for u in chunk:
            try:
                wavs.append(load(u.audio, tr.sample_rate, start=u.start, end=u.end)[0])
                ok.append(u)
            except AudioError as e:
                failures.append(f"{u.origin}: {e}")
        for u, hyp in zip(ok, tr.transcribe_arrays(wavs)):
            words += error_stats([u.text], [hyp], "word")
            chars += error_stats([u.text], [hyp], "char")
            rows.append({"id": u.id, "ref": u.text, "hyp": hyp})
        bar.update(len(chunk))
    bar.close()
    report = EvalReport(str(manifest), len(utts), words, chars, tr.audio_seconds, tr.compute_seconds,
                        time.perf_counter() - t0, failures, rows)
    if output is not None:
        out = Path(output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return report
