"""A recognizer that holds each batch until the test lets it go: makes queueing observable without timing."""
from __future__ import annotations

import threading

from speech.runtime.segment import SegmentConfig
from speech.runtime.transcribe import Transcript
from speech.serve.models import TRANSCRIPTION, ModelSet, ServedModel


class GatedEngine:
    sample_rate = 8000

    def __init__(self):
        self.segment = SegmentConfig()
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batch_sizes: list[int] = []

    def transcribe_waveforms(self, items, timestamps=False):
        self.batch_sizes.append(len(items))
        self.entered.set()
        assert self.release.wait(60), "the test never released the batch"
        return [Transcript(name, f"{len(wav)} samples", len(wav) / self.sample_rate, words=[] if timestamps else None)
                for name, wav, _ in items]


def gated_models() -> tuple[ModelSet, GatedEngine]:
    engine = GatedEngine()
    return ModelSet([ServedModel("gated", TRANSCRIPTION, engine, "test")], []), engine
