"""The gateway's JSON answers: plain JSON, errors in OpenAI's shape, the HTTP answer of
a desk error (with ``Retry-After``), and aiohttp's own errors translated. Every route
of every front door answers through these, and reads its JSON body with
:func:`read_json_body`."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import DeskError, NoEndpointAvailable
from endpoint_desk.engine.desk import Desk
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
    headers = {}
    if exc.http_status in (429, 503):
        retry = exc.retry_after
        if retry is None and isinstance(exc, NoEndpointAvailable):
            retry = _soonest_retry(desk)
        headers["Retry-After"] = wire.retry_after_header(retry)
    if exc.endpoint:
        headers["x-desk-endpoint"] = exc.endpoint
    hdrs = dict(JSON_HEADERS)
    hdrs.update(headers)
    return web.Response(body=wire.error_of(exc), status=exc.http_status, headers=hdrs)


def _soonest_retry(desk: Desk) -> float | None:
    """Seconds until the first tripped endpoint may be tried again, if any."""
    now = time.time()
    waits = [v.until - now for v in desk.endpoints() if v.until is not None and v.until > now]
    return min(waits) if waits else None


def http_error_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404 route, 405, 413...) in OpenAI's shape."""
    status = exc.status
    if status == 413:
        message = "the request body is too large"
        text = exc.text or ""
        if "Maximum request body size" in text:
            message = f"the request body is too large ({text.strip()})"
        return error_response(413, message, code="request_too_large")
    if status == 404:
        return error_response(404, "no such route", code="not_found")
    if status == 405:
        return error_response(405, "method not allowed on this route", code="method_not_allowed")
    headers = {"Retry-After": exc.headers["Retry-After"]} if "Retry-After" in exc.headers else None
    return error_response(
        status, exc.reason or "request failed", "invalid_request_error", headers=headers
    )
