"""One probe request and what its answer says.

:func:`get_answer` sends one GET and keeps status, content type, body and (when the
body is JSON) the parsed document; the small readers turn an answer into model names,
an upstream's error message, or a short status line for the probe log.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson

from endpoint_desk.adapters.transport import default_route, request
from endpoint_desk.core.errors import DeskError, Unreachable, UpstreamTimeout

__all__ = [
    "Answer",
    "NoAnswer",
    "NotListening",
    "get_answer",
    "model_ids",
    "said",
    "status_text",
    "strip_suffix",
]


@dataclass(slots=True)
class Answer:
    """One probe's HTTP answer (``json`` is ``None`` when the body is not JSON)."""

    status: int
    ctype: str
    body: bytes
    json: Any = None


class NoAnswer(Exception):
    """A probe got no HTTP answer (timeout, reset); the reason is the message."""


class NotListening(Exception):
    """Nothing takes a connection at the probed address (the transport's reason)."""


MAX_PROBE_BODY = 2_000_000
"""The most bytes of an answer a probe reads."""


def strip_suffix(url: str, *suffixes: str) -> str:
    """``url`` without a trailing slash and the first of ``suffixes`` it ends with."""
    url = url.rstrip("/")
    for s in suffixes:
        if url.endswith(s):
            return url[: -len(s)].rstrip("/")
    return url


async def get_answer(url: str, headers: dict[str, str], timeout: float) -> Answer:
    """One GET through the transport (the desk-wide proxy and CA settings, and its
    redirect policy: a key never follows a redirect to another origin); raises
    ``NotListening`` (nothing listens) or ``NoAnswer``."""
    try:
        async with asyncio.timeout(timeout):
            resp = await request(
                "GET", url, endpoint=url, route=default_route(), headers=headers, timeout=timeout
            )
            async with resp:
                body = b""
                async for block in resp.iter_any():
                    body += block
                    if len(body) >= MAX_PROBE_BODY:
                        body = body[:MAX_PROBE_BODY]
                        break
                ans = Answer(resp.status, resp.headers.get("Content-Type", ""), body)
    except TimeoutError:
        raise NoAnswer(f"no answer within {timeout:g} s") from None
    except UpstreamTimeout:
        raise NoAnswer(f"no answer within {timeout:g} s") from None
    except Unreachable as exc:
        raise NotListening(str(exc)) from exc
    except DeskError as exc:
        raise NoAnswer(exc.one_line()) from None
    if "json" in ans.ctype or body[:1] in (b"{", b"["):
        try:
            ans.json = orjson.loads(body)
        except orjson.JSONDecodeError:
            ans.json = None
    return ans


def model_ids(items: Any, key: str = "id") -> list[str]:
    """The ``key`` of each object in ``items`` (a model list), as strings."""
    if not isinstance(items, list):
        return []
    return [str(m[key]) for m in items if isinstance(m, dict) and key in m]


def said(data: Any) -> str:
    """``: <the upstream's error message>`` (short), or nothing."""
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err
    if not isinstance(msg, str) or not msg.strip():
        return ""
    text = " ".join(msg.split())
    return f' ("{text[:120]}")'


def status_text(ans: Answer) -> str:
    """``200 (JSON)``, ``404 (text/html)``...: a probe answer in a few characters."""
    shape = "JSON" if ans.json is not None else (ans.ctype.split(";")[0] or "no content type")
    return f"{ans.status} ({shape})"
