"""What every REST adapter shares: one pooled HTTP client per event loop, error
translation from aiohttp and HTTP statuses into desk errors, and stream parsers
(server-sent events, newline-delimited JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson

from endpoint_desk.adapters.h1 import ConnectFailed, Disconnected, H1Response
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    DeskError,
    ModelNotFound,
    NotFound,
    ProtocolError,
    RateLimited,
    Unreachable,
    UpstreamError,
    UpstreamTimeout,
)

Response = aiohttp.ClientResponse | H1Response
"""A response of either upstream client: ``status``, ``headers``, ``read()``,
``content.iter_any()`` and ``async for line in content``."""

_SESSIONS: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession] = {}


def shared_session() -> aiohttp.ClientSession:
    """The pooled client for the running event loop (created on first use)."""
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
    """Close the running loop's pooled client (the engine calls this at shutdown)."""
    loop = asyncio.get_running_loop()
    session = _SESSIONS.pop(loop, None)
    if session is not None and not session.closed:
        await session.close()
    # forget sessions of loops that are gone (tests create many loops)
    for other in [lp for lp in _SESSIONS if lp.is_closed()]:
        _SESSIONS.pop(other, None)


@functools.lru_cache(maxsize=64)
def timeout_for(seconds: float) -> aiohttp.ClientTimeout:
    """Connect and per-read limits; the engine bounds the whole request. (Immutable,
    so one object per value is shared by every request.)"""
    return aiohttp.ClientTimeout(total=None, connect=min(10.0, seconds), sock_read=seconds)


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
    """Map an aiohttp / asyncio exception onto the desk's hierarchy.

    Args:
        started_body: the response had started; a broken connection now means a
            truncated reply, not an unreachable upstream.
    """
    if isinstance(exc, DeskError):
        return exc
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"{endpoint} did not answer in time", endpoint=endpoint)
    if isinstance(exc, ConnectFailed):
        return Unreachable(
            f"cannot connect to {endpoint} at {exc.host}:{exc.port} ({exc.reason})",
            endpoint=endpoint,
        )
    if isinstance(exc, Disconnected):
        if started_body or exc.started:
            return ProtocolError(f"{endpoint} cut the reply short ({exc})", endpoint=endpoint)
        return Unreachable(f"{endpoint} closed the connection ({exc})", endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Unreachable(
            f"cannot connect to {endpoint} at {exc.host}:{exc.port} ({exc.os_error or exc})",
            endpoint=endpoint,
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        if started_body:
            return ProtocolError(f"{endpoint} cut the reply short ({exc})", endpoint=endpoint)
        return Unreachable(f"{endpoint} closed the connection ({exc})", endpoint=endpoint)
    if isinstance(exc, aiohttp.InvalidURL):
        return Unreachable(f"{endpoint}: invalid URL {exc}", endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamError(f"{endpoint}: {exc.message}", endpoint=endpoint, status=exc.status)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Unreachable(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)
    if isinstance(exc, orjson.JSONDecodeError | ValueError | KeyError | TypeError):
        return ProtocolError(f"{endpoint} sent an invalid response ({exc})", endpoint=endpoint)
    return UpstreamError(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)


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


async def iter_sse(resp: Response) -> AsyncIterator[tuple[str, str]]:
    """Yield ``(event, data)`` for each server-sent event of a response.

    ``event`` is ``""`` when the event has no name. Multi-line data is joined with
    newlines; comments are skipped.
    """
    event = ""
    data: list[str] = []
    async for raw in resp.content:
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


async def iter_ndjson(resp: Response, *, endpoint: str) -> AsyncIterator[Any]:
    """Yield each JSON object of a newline-delimited JSON response."""
    async for raw in resp.content:
        line = raw.strip()
        if line:
            yield loads(line, endpoint=endpoint)
