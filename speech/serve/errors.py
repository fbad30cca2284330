"""Errors of the HTTP API, in the shape OpenAI's clients parse: ``{"error": {"message", "type", "param",
"code"}}`` with the matching status code. Every message is one line that names what was wrong and
what was expected; no traceback ever reaches a client (an unexpected failure is a 500 whose message
says only that, while the server's log has the details)."""
from __future__ import annotations


class ApiError(Exception):
    """A request the server answers with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str | None = None, headers: dict[str, str] | None = None):
        self.status = int(status)
        self.message = " ".join(str(message).split())
        self.param = param
        self.code = code
        self.kind = kind or _KINDS.get(self.status, "server_error")
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


_KINDS = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    422: "invalid_request_error",
    503: "overloaded_error",
}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def too_large(message: str, param: str | None = None) -> ApiError:
    return ApiError(413, message, param=param, code="too_large")


def overloaded(queue: str, size: int, retry_after: int = 1) -> ApiError:
    """503: the ``queue`` already holds ``size`` waiting requests (the server's back-pressure)."""
    return ApiError(503, f"server busy: the {queue} queue is full ({size} requests waiting); retry in a moment",
                    code="queue_full", headers={"Retry-After": str(retry_after)})
