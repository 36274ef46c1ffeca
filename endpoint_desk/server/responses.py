"""The gateway's JSON answers: plain JSON, errors in OpenAI's or Anthropic's shape, the
HTTP answer of a desk error (with ``Retry-After``), and aiohttp's own errors translated.
Every route of every front door answers through these, and reads its JSON body with
:func:`read_json_body`.

Which shape an error takes depends on the front door: :func:`errors_for` gives the
:class:`ErrorShape` of a path (Anthropic's for ``/v1/messages...``, OpenAI's for the
rest), so the middleware's own errors (a wrong key, an unknown route, a body too large)
speak the client's language too."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import DeskError, NoEndpointAvailable
from endpoint_desk.engine.desk import Desk
from endpoint_desk.wire.anthropic import encode as anthropic_wire
from endpoint_desk.wire.openai import encode as wire

JSON_HEADERS = {"Content-Type": "application/json"}


async def read_json_body(request: web.Request) -> tuple[Any, web.Response | None]:
    """The request's body parsed as JSON, or the 400 to answer instead (empty body,
    invalid JSON): ``(body, None)`` or ``(None, error response)``."""
    raw = await request.read()
    if not raw:
        return None, error_response(400, "the request body is empty; send a JSON object")
    try:
        return orjson.loads(raw), None
    except orjson.JSONDecodeError as exc:
        return None, error_response(
            400, f"the request body is not valid JSON ({exc})", code="invalid_json"
        )


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialized with orjson."""
    hdrs = dict(JSON_HEADERS)
    if headers:
        hdrs.update(headers)
    return web.Response(body=orjson.dumps(data), status=status, headers=hdrs)


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in OpenAI's shape."""
    hdrs = dict(JSON_HEADERS)
    if headers:
        hdrs.update(headers)
    return web.Response(
        body=wire.error_body(message, type_, param, code), status=status, headers=hdrs
    )


def desk_error_response(desk: Desk, exc: DeskError) -> web.Response:
    """The HTTP answer for a desk error: its status, OpenAI's shape, ``Retry-After``
    on 429 and 503."""
    hdrs = dict(JSON_HEADERS)
    hdrs.update(_desk_error_headers(desk, exc))
    return web.Response(body=wire.error_of(exc), status=exc.http_status, headers=hdrs)


def _desk_error_headers(desk: Desk, exc: DeskError) -> dict[str, str]:
    """``Retry-After`` (429, 503) and ``x-desk-endpoint`` for a desk error."""
    headers = {}
    if exc.http_status in (429, 503):
        retry = exc.retry_after
        if retry is None and isinstance(exc, NoEndpointAvailable):
            retry = _soonest_retry(desk)
        headers["Retry-After"] = wire.retry_after_header(retry)
    if exc.endpoint:
        headers["x-desk-endpoint"] = exc.endpoint
    return headers


def _soonest_retry(desk: Desk) -> float | None:
    """Seconds until the first tripped endpoint may be tried again, if any."""
    now = time.time()
    waits = [v.until - now for v in desk.endpoints() if v.until is not None and v.until > now]
    return min(waits) if waits else None


def anthropic_error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An error in Anthropic's shape: ``{"type": "error", "error": {"type", "message"}}``
    (the type follows from the status, as Anthropic's API does)."""
    hdrs = dict(JSON_HEADERS)
    if headers:
        hdrs.update(headers)
    return web.Response(
        body=anthropic_wire.error_body(status, message), status=status, headers=hdrs
    )


def anthropic_desk_error_response(desk: Desk, exc: DeskError) -> web.Response:
    """The HTTP answer for a desk error in Anthropic's shape (headers as OpenAI's)."""
    return anthropic_error_response(exc.http_status, exc.one_line(), _desk_error_headers(desk, exc))


def _openai_error(
    status: int, message: str, code: str | None, headers: dict[str, str] | None
) -> web.Response:
    type_ = "api_error" if status >= 500 else "invalid_request_error"
    return error_response(status, message, type_, code=code, headers=headers)


def _anthropic_error(
    status: int, message: str, _code: str | None, headers: dict[str, str] | None
) -> web.Response:
    return anthropic_error_response(status, message, headers)


@dataclass(frozen=True, slots=True)
class ErrorShape:
    """How one front door words an error.

    Attributes:
        error: ``(status, message, code, headers)`` -> the answer (``code`` is OpenAI's
            ``error.code``; Anthropic's shape has none).
        desk_error: ``(desk, exc)`` -> the answer for a desk error.
    """

    error: Callable[[int, str, str | None, dict[str, str] | None], web.Response]
    desk_error: Callable[[Desk, DeskError], web.Response]


OPENAI_ERRORS = ErrorShape(_openai_error, desk_error_response)
ANTHROPIC_ERRORS = ErrorShape(_anthropic_error, anthropic_desk_error_response)


def errors_for(path: str) -> ErrorShape:
    """The error shape of the front door that serves ``path``."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return ANTHROPIC_ERRORS
    return OPENAI_ERRORS


def http_error_response(exc: web.HTTPException, shape: ErrorShape = OPENAI_ERRORS) -> web.Response:
    """aiohttp's own errors (404 route, 405, 413...) in the front door's shape."""
    status = exc.status
    if status == 413:
        message = "the request body is too large"
        text = exc.text or ""
        if "Maximum request body size" in text:
            message = f"the request body is too large ({text.strip()})"
        return shape.error(413, message, "request_too_large", None)
    if status == 404:
        return shape.error(404, "no such route", "not_found", None)
    if status == 405:
        return shape.error(405, "method not allowed on this route", "method_not_allowed", None)
    headers = {"Retry-After": exc.headers["Retry-After"]} if "Retry-After" in exc.headers else None
    return shape.error(status, exc.reason or "request failed", None, headers)
