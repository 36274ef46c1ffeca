"""Errors in each protocol's own JSON shape, and the exception that answers with one.

``proto`` (:data:`OPENAI`, :data:`ANTHROPIC`, :data:`GEMINI`, :data:`OLLAMA` or
:data:`PLAIN` for the job and custom APIs) picks the error shape, and in
:mod:`endpoint_desk.sim.gate` also how the key is sent.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from endpoint_desk.sim.writers import json_response
from endpoint_desk.wire.anthropic.encode import error_object as anthropic_error

__all__ = [
    "ANTHROPIC",
    "GEMINI",
    "OLLAMA",
    "OPENAI",
    "PLAIN",
    "Reply",
    "error_response",
    "fail",
]

OPENAI, ANTHROPIC, GEMINI, OLLAMA, PLAIN = "openai", "anthropic", "gemini", "ollama", "plain"

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class Reply(Exception):
    """Raised inside a handler to answer at once with ``response``."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


def error_response(
    proto: str,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the protocol's own JSON shape."""
    body: Any
    if proto == OPENAI:
        etype = _OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    elif proto == ANTHROPIC:
        body = anthropic_error(status, message)
    elif proto == GEMINI:
        gstatus = _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        err: dict[str, Any] = {"code": status, "message": message, "status": gstatus}
        if code:
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": code,
                    "domain": "googleapis.com",
                }
            ]
        body = {"error": err}
    elif proto == OLLAMA:
        body = {"error": message}
    else:
        body = {"error": {"message": message, "code": code or status}}
    return json_response(body, status, headers)


def fail(proto: str, status: int, message: str, **kw: Any) -> Reply:
    """A :class:`Reply` carrying :func:`error_response` (``raise fail(...)``)."""
    return Reply(error_response(proto, status, message, **kw))
