"""The ASGI layer in front of every route: the API key, the request-size limit and the metrics.

- **API key**: with one set, every route but ``/healthz`` and the page's own static files (``/``,
  ``/static/...``, which hold no data and reach no model) needs ``Authorization: Bearer <key>``
  (what OpenAI's clients send) or ``X-API-Key: <key>``; otherwise 401.
- **Size**: a body longer than the limit is refused with 413 before it is read when its
  ``Content-Length`` says so, and cut off with 413 as soon as it passes the limit when it does not
  (chunked uploads), so that no request can make the server buffer more than the limit.
- **Metrics**: method, route template, status and latency of every request.
"""
from __future__ import annotations

import hmac
import json
import time

from speech.serve.errors import ApiError
from speech.serve.metrics import Metrics

OPEN_PATHS = ("/healthz", "/", "/favicon.ico")
OPEN_PREFIXES = ("/static/",)


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a body passes the limit (turned into a 413 below)."""


def _error_response(e: ApiError):
    body = json.dumps(e.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in e.headers.items()]
    return {"type": "http.response.start", "status": e.status, "headers": headers}, \
        {"type": "http.response.body", "body": body}


class Guard:
    """Pure ASGI middleware (see the module); ``metrics`` gets one observation per HTTP request."""

    def __init__(self, app, api_key: str | None, max_body: int, metrics: Metrics):
        self.app = app
        self.api_key = api_key
        self.max_body = int(max_body)
        self.metrics = metrics

    def _key_ok(self, scope, headers: dict[bytes, bytes]) -> bool:
        if not self.api_key:
            return True
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            return True
        given = headers.get(b"x-api-key", b"").decode("latin-1")
        auth = headers.get(b"authorization", b"").decode("latin-1")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_counted(message):
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            refusal = self._refusal(scope)
            if refusal is not None:
                for message in _error_response(refusal):
                    await send_counted(message)
                return
            received = 0

            async def receive_limited():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_body:
                        raise BodyTooLarge()
                return message

            try:
                await self.app(scope, receive_limited, send_counted)
            except BodyTooLarge:
                if status["started"]:
                    raise
                for message in _error_response(self._too_large()):
                    await send_counted(message)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("(static)" if scope.get("path", "").startswith("/static/")
                                                    else "(unknown)")
            self.metrics.observe(scope.get("method", "?"), name, status["code"], time.perf_counter() - t0)

    def _too_large(self) -> ApiError:
        return ApiError(413, f"request body larger than this server accepts ({round(self.max_body / 1048576, 2):g} MB); "
                             "send a shorter file", code="too_large")

    def _refusal(self, scope) -> ApiError | None:
        headers = dict(scope.get("headers") or [])
        if not self._key_ok(scope, headers):
            return ApiError(401, "missing or wrong API key: send 'Authorization: Bearer <key>' (the server's "
                                 "--api-key or $SPEECH_API_KEY)", code="invalid_api_key",
                            headers={"WWW-Authenticate": "Bearer"})
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return ApiError(400, f"Content-Length {length.decode('latin-1')!r}: expected a number of bytes")
            if n > self.max_body:
                return self._too_large()
        return None
