"""What the model workers run: a batch of recognition requests, or one synthesis.

Each function takes the requests of one batch and returns one result per request, or the exception
that request should answer with, so that a bad request never fails the others in its batch.
"""
from __future__ import annotations

from dataclasses import dataclass

from speech.audio import AudioError
from speech.serve.audio import Upload, as_client_file
from speech.serve.errors import ApiError, bad_request
from speech.serve.models import ServedModel


@dataclass
class AsrJob:
    model: ServedModel
    audio: Upload
    timestamps: bool


@dataclass
class TtsJob:
    model: ServedModel
    text: str
    speaker: int | None
    speed: float


def run_asr_batch(jobs: list[AsrJob]) -> list:
    """Short uploads of one model (and one timestamp setting) go through the model together; a long
    upload is read and cut at pauses on its own."""
    results: list = [None] * len(jobs)
    groups: dict[tuple[str, bool], list[int]] = {}
    for i, job in enumerate(jobs):
        if job.audio.wav is None:
            results[i] = _long(job)
        else:
            groups.setdefault((job.model.id, job.timestamps), []).append(i)
    for (_, timestamps), idx in groups.items():
        engine = jobs[idx[0]].model.engine
        items = [(jobs[i].audio.name, jobs[i].audio.wav, jobs[i].audio.warnings) for i in idx]
        try:
            for i, t in zip(idx, engine.transcribe_waveforms(items, timestamps=timestamps)):
                results[i] = t
        except Exception as e:  # noqa: BLE001 - the group's requests answer with it; the others go on
            for i in idx:
                results[i] = e
    return results


def _long(job: AsrJob):
    try:
        t = job.model.engine.transcribe_file(job.audio.path, timestamps=job.timestamps)
    except AudioError as e:
        return bad_request(f"file {job.audio.name!r}: {e.message}", param="file")
    except Exception as e:  # noqa: BLE001 - see run_asr_batch
        return e
    t.path = job.audio.name
    t.warnings = [as_client_file(w, job.audio.path, job.audio.name) for w in t.warnings]
    return t


def run_tts_batch(jobs: list[TtsJob]) -> list:
    """Each text synthesized (the synthesizer batches a long text's sentences itself); a text the
    voice cannot say, or a control out of range, answers 400 with the synthesizer's one-line reason."""
    out: list = []
    for job in jobs:
        try:
            out.append(job.model.engine.synthesize(job.text, speed=job.speed, speaker=job.speaker))
        except ValueError as e:
            param = "speed" if str(e).startswith("speed") else "input"
            out.append(ApiError(400, str(e), param=param))
        except Exception as e:  # noqa: BLE001 - see run_asr_batch
            out.append(e)
    return out
