"""What every REST adapter shares besides the transport (``adapters/transport/``):
the mapping of HTTP statuses onto desk errors, the translation of failures, JSON
parsing, stream parsers (server-sent events, newline-delimited JSON), and the pooled
aiohttp session that discovery's probes use.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from endpoint_desk.adapters.transport import Response, translate
from endpoint_desk.adapters.transport.base import iter_lines
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    DeskError,
    ModelNotFound,
    NotFound,
    ProtocolError,
    RateLimited,
    UpstreamError,
)

__all__ = [
    "Response",
    "error_for_status",
    "iter_ndjson",
    "iter_sse",
    "loads",
    "parse_retry_after",
    "shared_session",
    "translate_exception",
    "translated",
]

_SESSIONS: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def shared_session() -> aiohttp.ClientSession:
    """A pooled aiohttp session for the running event loop (created on first use), for
    discovery's probes; the adapters go through ``adapters.transport`` instead."""
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
        )
        session = aiohttp.ClientSession(
            connector=connector,
            json_serialize=lambda o: orjson.dumps(o).decode(),
            auto_decompress=True,
            trust_env=False,
        )
        _SESSIONS[loop] = session
        _register()
    return session


def _register() -> None:
    from endpoint_desk.adapters.base import register_shared_closer

    register_shared_closer(close_shared_session)


async def close_shared_session() -> None:
    """Close the running loop's pooled session and transports (the engine calls the
    shared closers at shutdown; tests call this)."""
    from endpoint_desk.adapters.transport import close_shared_transports

    loop = asyncio.get_running_loop()
    session = _SESSIONS.pop(loop, None)
    if session is not None and not session.closed:
        await session.close()
    # forget sessions of loops that are gone (tests create many loops)
    for other in [lp for lp in _SESSIONS if lp.is_closed()]:
        _SESSIONS.pop(other, None)
    await close_shared_transports()


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_text(body: bytes) -> str:
    """A short, single-line message from an upstream error body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return " ".join(text.split())[:300] or "no details"
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or err.get("error")
            if msg:
                return str(msg)[:300]
        elif isinstance(err, str):
            return err[:300]
        if "detail" in data:
            return str(data["detail"])[:300]
    return " ".join(body.decode("utf-8", "replace").split())[:300]


def error_for_status(
    status: int,
    body: bytes,
    headers: Any,
    *,
    endpoint: str,
    model: str | None = None,
    what: str = "request",
) -> DeskError:
    """The desk error for an upstream HTTP status."""
    detail = _error_text(body)
    if status in (401, 403):
        return AuthFailed(
            f"{endpoint} refused the credentials ({status}): {detail}",
            endpoint=endpoint,
            status=status,
        )
    if status == 404:
        if model:
            return ModelNotFound(
                f"{endpoint} does not serve model {model!r} ({detail})",
                endpoint=endpoint,
                status=status,
            )
        return NotFound(f"{endpoint}: {what} not found (404): {detail}", endpoint=endpoint)
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After") if headers else None)
        return RateLimited(
            f"{endpoint} is rate limiting: {detail}",
            endpoint=endpoint,
            retry_after=retry_after,
            status=status,
        )
    if 300 <= status < 400 and headers and headers.get("Location"):
        where = urlsplit(headers["Location"].strip())
        shown = where._replace(query="", fragment="").geturl()
        return UpstreamError(
            f"{endpoint} redirected the {what} to {shown} ({status}); the desk follows a "
            "redirect only within the same origin and never from https to http, so "
            "credentials stay where they were configured: point the endpoint's URL there "
            "if you trust it",
            endpoint=endpoint,
            status=status,
        )
    if status in (400, 413, 422):
        return BadRequest(
            f"{endpoint} rejected the {what}: {detail}", endpoint=endpoint, status=status
        )
    return UpstreamError(
        f"{endpoint} answered {status}: {detail}", endpoint=endpoint, status=status
    )


def translate_exception(
    exc: BaseException, *, endpoint: str, started_body: bool = False
) -> DeskError:
    """Map a library or parsing exception onto the desk's hierarchy (the transport's
    one translation; ``started_body``: the response had begun, so a broken connection
    is a truncated reply)."""
    return translate(exc, endpoint=endpoint, started=started_body)


@contextlib.contextmanager
def translated(endpoint: str) -> Iterator[None]:
    """``with translated(name): ...`` re-raises library errors as desk errors."""
    try:
        yield
    except DeskError:
        raise
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
        raise translate_exception(exc, endpoint=endpoint) from exc


def loads(data: bytes | str, *, endpoint: str) -> Any:
    """Parse JSON or raise ``ProtocolError`` naming the endpoint."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        preview = data[:80] if isinstance(data, str) else data[:80].decode("utf-8", "replace")
        raise ProtocolError(
            f"{endpoint} sent invalid JSON ({exc}); it began {preview!r}", endpoint=endpoint
        ) from exc


def _lines(resp: Response | aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    """The body's lines, from a transport response or a bare aiohttp one (tools and
    tests read aiohttp responses with the same parsers)."""
    if isinstance(resp, aiohttp.ClientResponse):
        return iter_lines(resp.content.iter_any())
    return resp.iter_lines()


async def iter_sse(resp: Response | aiohttp.ClientResponse) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(event, data)`` for each server-sent event of a response.

    ``event`` is ``""`` when the event has no name. Multi-line data is joined with
    newlines; comments are skipped.
    """
    event = ""
    data: list[str] = []
    async for raw in _lines(resp):
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield event, "\n".join(data)


async def iter_ndjson(
    resp: Response | aiohttp.ClientResponse, *, endpoint: str
) -> AsyncIterator[Any]:
    """Yield each JSON object of a newline-delimited JSON response."""
    async for raw in _lines(resp):
        line = raw.strip()
        if line:
            yield loads(line, endpoint=endpoint)
