"""Small pieces the REST adapters (Anthropic, Gemini, Ollama, template) share.

- :func:`open_response`: one HTTP exchange through the endpoint's route (the
  transport interface) whose non-2xx answers and failures come out as ``DeskError``
  subclasses.
- :func:`read_json`: the same for a whole JSON answer.
- :func:`join_url`: a base URL plus a relative (or absolute) path.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from endpoint_desk.adapters.http import (
    Response,
    error_for_status,
    loads,
    translate_exception,
)
from endpoint_desk.adapters.transport import Route, request
from endpoint_desk.core.errors import DeskError

ErrorHook = Callable[[int, bytes, Mapping[str, str]], DeskError]
"""Turns an upstream's non-2xx ``(status, body, headers)`` into a desk error."""


def default_error_hook(endpoint: str, model: str | None, what: str = "request") -> ErrorHook:
    """The generic status mapping of :func:`error_for_status` as a hook."""

    def hook(status: int, body: bytes, headers: Mapping[str, str]) -> DeskError:
        return error_for_status(status, body, headers, endpoint=endpoint, model=model, what=what)

    return hook


@contextlib.asynccontextmanager
async def open_response(
    method: str,
    url: str,
    *,
    endpoint: str,
    route: Route,
    headers: Mapping[str, str],
    timeout: float,
    on_error: ErrorHook,
    body: bytes | None = None,
    params: Mapping[str, str] | None = None,
) -> AsyncIterator[Response]:
    """``async with open_response(...) as resp:`` a 2xx response, or a ``DeskError``.

    The exchange goes through the endpoint's route (``adapters/transport``), whatever
    the method. Errors raised while the body is read inside the block are translated
    too: a connection that breaks after the status line is a truncated reply
    (``ProtocolError``), not an unreachable upstream.
    """
    if params:
        url += ("&" if "?" in url else "?") + urlencode(dict(params))
    started = False
    try:
        resp = await request(
            method, url, endpoint=endpoint, route=route, headers=headers, body=body, timeout=timeout
        )
        async with resp:
            if not 200 <= resp.status < 300:
                raise on_error(resp.status, await resp.read(), resp.headers)
            started = True
            yield resp
    except DeskError:
        raise
    except Exception as exc:
        raise translate_exception(exc, endpoint=endpoint, started_body=started) from exc


async def read_json(
    method: str,
    url: str,
    *,
    endpoint: str,
    route: Route,
    headers: Mapping[str, str],
    timeout: float,
    on_error: ErrorHook,
    body: bytes | None = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    """One exchange whose whole 2xx answer is JSON; returns the parsed document.

    Raises:
        DeskError: the status's error, a transport error, or ``ProtocolError`` when
            the body is cut short or is not JSON.
    """
    async with open_response(
        method,
        url,
        endpoint=endpoint,
        route=route,
        headers=headers,
        timeout=timeout,
        on_error=on_error,
        body=body,
        params=params,
    ) as resp:
        raw = await resp.read()
    return loads(raw, endpoint=endpoint)


def join_url(base_url: str, path: str) -> str:
    """``join_url("http://h/api", "/jobs")`` -> ``http://h/api/jobs``; absolute paths win."""
    if path.startswith(("http://", "https://")):
        return path
    if not path:
        return base_url
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def strip_suffix(url: str, *suffixes: str) -> str:
    """``url`` without a trailing slash and without the first matching suffix."""
    url = url.rstrip("/")
    for suffix in suffixes:
        if url.endswith(suffix):
            return url[: -len(suffix)].rstrip("/")
    return url
