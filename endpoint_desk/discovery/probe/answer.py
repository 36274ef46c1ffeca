"""One probe request and what its answer says.

:func:`get_answer` sends one GET and keeps status, content type, body and (when the
body is JSON) the parsed document; the small readers turn an answer into model names,
an upstream's error message, or a short status line for the probe log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from endpoint_desk.adapters.http import shared_session

__all__ = ["Answer", "NoAnswer", "get_answer", "model_ids", "said", "status_text", "strip_suffix"]


@dataclass(slots=True)
class Answer:
    """One probe's HTTP answer (``json`` is ``None`` when the body is not JSON)."""

    status: int
    ctype: str
    body: bytes
    json: Any = None


class NoAnswer(Exception):
    """A probe got no HTTP answer (timeout, reset); the reason is the message."""


def strip_suffix(url: str, *suffixes: str) -> str:
    """``url`` without a trailing slash and the first of ``suffixes`` it ends with."""
    url = url.rstrip("/")
    for s in suffixes:
        if url.endswith(s):
            return url[: -len(s)].rstrip("/")
    return url


async def get_answer(url: str, headers: dict[str, str], timeout: float) -> Answer:
    """One GET; raises ``ClientConnectorError`` (nothing listens) or ``NoAnswer``."""
    try:
        async with shared_session().get(
            url,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=True,
        ) as resp:
            body = await resp.content.read(2_000_000)
            ans = Answer(resp.status, resp.headers.get("Content-Type", ""), body)
    except aiohttp.ClientConnectorError:
        raise
    except TimeoutError:
        raise NoAnswer(f"no answer within {timeout:g} s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise NoAnswer(f"{type(exc).__name__}: {exc}") from None
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
