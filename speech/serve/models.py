"""The models one server holds: loaded once at start, looked up by id on every request.

A model's id is a bundled model's name (``digits``, ``an4``, ``kathleen``) or its folder's name. The
ids OpenAI's clients send by default (``whisper-1``, ``tts-1``, ...) stand for this server's default
recognizer and voice, so an existing client works unchanged; the voice names of OpenAI's API
(``alloy``, ``nova``, ...) mean a voice's default speaker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speech.packages.registry import default_voice, is_model_name, list_models
from speech.runtime.asr import OnnxTranscriber
from speech.runtime.tts import OnnxSynthesizer
from speech.serve.errors import ApiError

TRANSCRIPTION = "transcription"
SPEECH = "speech"
OPENAI_ASR_IDS = ("whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe")
OPENAI_TTS_IDS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
OPENAI_VOICES = ("alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin", "nova", "onyx", "sage",
                 "shimmer", "verse")


@dataclass
class ServedModel:
    """One loaded model: its id, task and engine (a transcriber or a synthesizer)."""

    id: str
    task: str
    engine: Any
    source: str
    runtime: str = "torch"
    description: str = ""
    numbers: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return int(self.engine.sample_rate)

    def voices(self) -> list[str]:
        """The voice names a speech request may give (one per speaker; ``<id>-<k>`` for several)."""
        n = int(getattr(self.engine, "n_speakers", 1) or 1)
        return [self.id] if n == 1 else [f"{self.id}-{k}" for k in range(n)]

    def card(self, default: bool) -> dict:
        d = {"id": self.id, "object": "model", "created": 0, "owned_by": "speech", "task": self.task,
             "default": default, "runtime": self.runtime, "sample_rate": self.sample_rate,
             "description": self.description}
        if self.numbers:
            d["measured"] = dict(self.numbers)
        if self.task == SPEECH:
            d["voices"] = self.voices()
        return d


def model_id(spec: str | Path) -> str:
    """The id a ``--asr`` / ``--tts`` value is served under: a bundled name, or the folder's name."""
    if is_model_name(spec) and not Path(spec).exists():
        return str(spec)
    return Path(spec).resolve().name


def _bundled_info(spec: str | Path) -> tuple[str, dict]:
    if Path(spec).exists() or not is_model_name(spec):
        return "", {}
    info = next((m for m in list_models() if m.name == str(spec)), None)
    return (info.domain, dict(info.numbers)) if info is not None else ("", {})


def open_recognizer(spec: str | Path, runtime: str = "torch", device: str = "cpu", batch_size: int = 16,
                    threads: int | None = None):
    """A transcriber for ``spec`` (a package folder or a bundled name; with ``runtime="onnx"``, an export)."""
    if runtime == "onnx":
        return OnnxTranscriber(spec, batch_size=batch_size, threads=threads)
    # torch only on the torch path: a server of ONNX exports runs in a runtime-only install
    from speech.pipelines.transcriber import Transcriber

    return Transcriber(spec, device=device, batch_size=batch_size)


def open_voice(spec: str | Path | None, runtime: str = "torch", device: str = "cpu", vocoder: str = "griffin-lim"):
    """A synthesizer for ``spec`` (None: the default voice; with ``runtime="onnx"``, an export folder)."""
    if runtime == "onnx":
        return OnnxSynthesizer(spec, vocoder=vocoder)
    from speech.pipelines.synthesis import open_synthesizer  # torch only on the torch path (see above)

    return open_synthesizer(spec, vocoder=vocoder, device=device)


class ModelSet:
    """The recognizers and voices of one server, the first of each being the default."""

    def __init__(self, recognizers: list[ServedModel], voices: list[ServedModel]):
        if not recognizers and not voices:
            raise ValueError("nothing to serve: give at least one recognizer (--asr) or voice (--tts)")
        self.by_id: dict[str, ServedModel] = {}
        for m in [*recognizers, *voices]:
            if m.id in self.by_id:
                raise ValueError(f"two models would be served as {m.id!r} ({self.by_id[m.id].source} and "
                                 f"{m.source}); serve one of them, or rename a package folder")
            self.by_id[m.id] = m
        self.recognizers = recognizers
        self.voices = voices

    @classmethod
    def load(cls, asr: list[str] | None = None, tts: list[str] | None = None, runtime: str = "torch",
             device: str = "cpu", batch_size: int = 16, threads: int | None = None,
             vocoder: str = "griffin-lim") -> "ModelSet":
        """Loads every model once. ``asr`` / ``tts`` None: the bundled recognizers and the default voice
        (``[]``: none of that kind)."""
        if asr is None:
            asr = [m.name for m in sorted(list_models("asr"), key=lambda m: m.name != "an4")]
        if tts is None:
            tts = [str(default_voice())] if list_models("tts") else []
        recognizers = []
        for spec in asr:
            domain, numbers = _bundled_info(spec)
            engine = open_recognizer(spec, runtime, device, batch_size, threads)
            recognizers.append(ServedModel(model_id(spec), TRANSCRIPTION, engine, str(spec), runtime, domain, numbers))
        voices = []
        for spec in tts:
            engine = open_voice(spec, runtime, device, vocoder)
            name = getattr(engine, "voice_name", "") or ""
            vid = name if is_model_name(name) else model_id(spec)
            domain, numbers = _bundled_info(vid)
            voices.append(ServedModel(vid, SPEECH, engine, str(spec), runtime, domain, numbers))
        return cls(recognizers, voices)

    def listing(self) -> list[dict]:
        """The ``data`` of ``GET /v1/models``: recognizers, then voices, each default first."""
        return [m.card(i == 0) for group in (self.recognizers, self.voices) for i, m in enumerate(group)]

    def ids(self, task: str | None = None) -> list[str]:
        return [m.id for m in self.by_id.values() if task is None or m.task == task]

    def get(self, model: str | None, task: str) -> ServedModel:
        """The model a request names (None or an OpenAI id: the default of ``task``).

        Raises:
            ApiError: 404 listing the models of ``task``, or 400 when the id is a model of the other task.
        """
        group = self.recognizers if task == TRANSCRIPTION else self.voices
        aliases = OPENAI_ASR_IDS if task == TRANSCRIPTION else OPENAI_TTS_IDS
        what = "recognition" if task == TRANSCRIPTION else "speech"
        if model in (None, "") or model in aliases:
            if not group:
                raise ApiError(404, f"model: this server has no {what} model; it serves {', '.join(self.ids())}",
                               param="model", code="model_not_found")
            return group[0]
        found = self.by_id.get(model)
        if found is not None and found.task == task:
            return found
        served = ", ".join(self.ids(task)) or "none"
        if found is not None:
            raise ApiError(400, f"model {model!r} is a {found.task} model, not a {what} model; {what} models here: "
                                f"{served}", param="model", code="wrong_model_task")
        raise ApiError(404, f"model {model!r} is not served here; {what} models: {served} (GET /v1/models lists them)",
                       param="model", code="model_not_found")

    def speaker(self, voice_model: ServedModel, voice: str | None) -> int | None:
        """The speaker id a speech request's ``voice`` means for ``voice_model``: None (the default
        speaker) for no voice, ``default``, the model's own id or an OpenAI voice name.

        Raises:
            ApiError: 400 listing the model's voices.
        """
        if voice in (None, "", "default", voice_model.id) or voice in OPENAI_VOICES:
            return None
        names = voice_model.voices()
        if voice in names and len(names) > 1:
            return names.index(voice)
        raise ApiError(400, f"voice {voice!r}: model {voice_model.id!r} speaks as {', '.join(names)} "
                            f"(or any OpenAI voice name, meaning its default speaker)", param="voice",
                       code="unknown_voice")
