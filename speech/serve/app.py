"""The FastAPI application of ``speech serve``: OpenAI's audio API over the toolkit's models.

Routes:
    ``POST /v1/audio/transcriptions``  multipart ``file`` (+ ``model``, ``response_format``, ``language``)
    ``POST /v1/audio/speech``          JSON ``input``, ``model``, ``voice``, ``speed``, ``response_format``
    ``GET /v1/models``, ``GET /v1/models/{id}``, ``GET /healthz``, ``GET /metrics``, ``GET /`` (the page)

Models are loaded once (:class:`~speech.serve.models.ModelSet`); no model runs on the event loop:
recognition requests wait in a bounded queue and run in batches on a worker thread
(:mod:`speech.serve.batching`), synthesis requests in a queue of their own; a full queue answers 503.

Example::

    app = create_app(ModelSet.load(["digits"], []), ServeSettings(max_upload_mb=10))
    uvicorn.run(app, host="127.0.0.1", port=8000)
"""
from __future__ import annotations

import contextlib
import json
import logging
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from speech import __version__
from speech.serve.audio import AUDIO_FORMATS, encode_audio, read_upload
from speech.serve.batching import BatchQueue, QueueFull
from speech.serve.errors import ApiError, bad_request, overloaded
from speech.serve.formats import TIMED_FORMATS, TRANSCRIPTION_FORMATS, transcription_body
from speech.serve.guard import Guard
from speech.serve.jobs import AsrJob, TtsJob, run_asr_batch, run_tts_batch
from speech.serve.metrics import Metrics
from speech.serve.models import SPEECH, TRANSCRIPTION, ModelSet
from speech.serve.settings import ServeSettings

log = logging.getLogger("speech.serve")
STATIC = resources.files("speech.serve") / "static"


def _field(form, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if isinstance(value, UploadFile):
        raise bad_request(f"{name}: expected a text field, got a file", param=name)
    return value.strip()


def _choice(value: str | None, name: str, choices, default: str) -> str:
    value = value or default
    if not isinstance(value, str) or value not in choices:
        raise bad_request(f"{name} {value!r}: expected one of {', '.join(choices)}", param=name)
    return value


def create_app(models: ModelSet, settings: ServeSettings | None = None) -> FastAPI:
    """The application serving ``models`` under ``settings`` (limits, queues, API key)."""
    settings = (settings or ServeSettings()).check()
    metrics = Metrics()
    asr_queue = BatchQueue("asr", run_asr_batch, settings.max_batch, settings.batch_wait_ms / 1000.0,
                           settings.asr_queue)
    tts_queue = BatchQueue("tts", run_tts_batch, 1, 0.0, settings.tts_queue)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        asr_queue.start()
        tts_queue.start()
        try:
            yield
        finally:
            await asr_queue.stop()
            await tts_queue.stop()

    app = FastAPI(title="speech", version=__version__, lifespan=lifespan,
                  description="Speech recognition and synthesis, shaped like OpenAI's audio API.")
    app.state.models, app.state.settings, app.state.metrics = models, settings, metrics
    app.state.queues = {"asr": asr_queue, "tts": tts_queue}
    app.add_middleware(Guard, api_key=settings.api_key, max_body=settings.max_upload_bytes, metrics=metrics)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, e: ApiError):
        return JSONResponse(e.body(), status_code=e.status, headers=e.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException):
        message = e.detail if isinstance(e.detail, str) else "request failed"
        if e.status_code == 404:
            message = f"{request.method} {request.url.path}: no such route; the API is under /v1 (GET /docs lists it)"
        elif e.status_code == 405:
            message = f"{request.method} {request.url.path}: method not allowed"
        return JSONResponse(ApiError(e.status_code, message).body(), status_code=e.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError):
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        return JSONResponse(bad_request(f"{where}: {first.get('msg', 'invalid')}", param=where).body(), 400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, e: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse(ApiError(500, f"internal error ({type(e).__name__}); the server's log has the "
                                          "details").body(), status_code=500)

    # -- the page, health, models, metrics ------------------------------------------------------
    app.mount("/static", StaticFiles(directory=str(STATIC), check_dir=False), name="static")

    @app.get("/", include_in_schema=False)
    async def page():
        index = STATIC / "index.html"
        if not index.is_file():
            raise ApiError(404, "the web page is not installed with this copy of the toolkit; the API is under /v1")
        return FileResponse(str(index), media_type="text/html")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "version": __version__, "models": models.ids(),
                "queues": {name: {"waiting": q.depth, "capacity": q.capacity} for name, q in app.state.queues.items()}}

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": models.listing()}

    @app.get("/v1/models/{model_id}")
    async def get_model(model_id: str):
        for card in models.listing():
            if card["id"] == model_id:
                return card
        raise ApiError(404, f"model {model_id!r} is not served here; models: {', '.join(models.ids())}",
                       param="model", code="model_not_found")

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        return PlainTextResponse(metrics.render(app.state.queues.values()),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- recognition ----------------------------------------------------------------------------
    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request):
        form = await request.form(max_files=1, max_fields=32)
        try:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise bad_request("file: missing; expected a multipart/form-data field 'file' holding the audio",
                                  param="file")
            served = models.get(_field(form, "model"), TRANSCRIPTION)
            fmt = _choice(_field(form, "response_format"), "response_format", TRANSCRIPTION_FORMATS, "json")
            language = (_field(form, "language") or "en").lower()
            if language not in ("en", "english"):
                raise bad_request(f"language {language!r}: the models here recognize English ('en')", param="language")
            data = await upload.read()
        finally:
            await form.close()
        engine = served.engine
        audio = await run_in_threadpool(read_upload, data, upload.filename, engine.sample_rate,
                                        settings.max_audio_seconds, engine.segment.max_seconds)
        try:
            transcript = await asr_queue.submit(AsrJob(served, audio, fmt in TIMED_FORMATS))
        except QueueFull as e:
            raise overloaded("recognition", e.capacity) from None
        finally:
            audio.cleanup()
        metrics.add_audio("transcribed", transcript.duration)
        body = transcription_body(transcript, fmt)
        if isinstance(body, dict):
            return JSONResponse(body)
        return Response(body, media_type=TRANSCRIPTION_FORMATS[fmt])

    # -- synthesis ------------------------------------------------------------------------------
    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        try:
            body = json.loads(await request.body() or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            raise bad_request(f"request body: not JSON ({e}); expected an object with 'input', 'model', "
                              "'voice'") from None
        if not isinstance(body, dict):
            raise bad_request("request body: expected a JSON object with 'input', 'model', 'voice'")
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            raise bad_request("input: empty; expected the text to speak" if isinstance(text, str) or text is None
                              else f"input: expected text, got {type(text).__name__}", param="input")
        if len(text) > settings.max_text_chars:
            raise bad_request(f"input: {len(text)} characters; this server speaks at most {settings.max_text_chars} "
                              "per request", param="input", code="text_too_long")
        model, voice = body.get("model"), body.get("voice")
        for name, value in (("model", model), ("voice", voice)):
            if value is not None and not isinstance(value, str):
                raise bad_request(f"{name}: expected a string, got {type(value).__name__}", param=name)
        if (model in (None, "") or model not in models.by_id) and voice in models.ids(SPEECH):
            model = voice  # OpenAI's clients name the voice: model="tts-1", voice="kathleen"
        served = models.get(model, SPEECH)
        speaker = models.speaker(served, voice)
        speed = body.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise bad_request(f"speed: expected a number, got {json.dumps(speed)}", param="speed")
        fmt = _choice(body.get("response_format"), "response_format", AUDIO_FORMATS, "mp3")
        if body.get("stream_format") not in (None, "audio"):
            raise bad_request(f"stream_format {body.get('stream_format')!r}: only 'audio' is supported",
                              param="stream_format")
        try:
            result = await tts_queue.submit(TtsJob(served, text, speaker, float(speed)))
        except QueueFull as e:
            raise overloaded("synthesis", e.capacity) from None
        metrics.add_audio("synthesized", result.duration)
        audio = await run_in_threadpool(encode_audio, result.wav, result.sample_rate, fmt)
        headers = {"X-Sample-Rate": str(result.sample_rate), "X-Audio-Duration": f"{result.duration:.3f}"}
        if result.warnings:
            headers["X-Warnings"] = " | ".join(result.warnings).encode("ascii", "replace").decode()
        return Response(audio, media_type=AUDIO_FORMATS[fmt], headers=headers)

    return app
