"""Images given by URL, fetched once per request for upstreams that need the bytes.

Anthropic, Gemini, Ollama (and a web chat's file input) take an image as data, not as
a link: an ``image_url`` part with an ``http(s)`` URL is fetched through the endpoint's
route (its proxy and TLS trust), at most ``[http] image_max_bytes`` bytes within
``[http] image_timeout`` seconds, and becomes a ``data:`` URL. The first attempt
fetches; a failover to another endpoint reuses what it fetched
(``ChatRequest.inlined``). A URL that is unreachable, too big, answers an error or is
not an image is the caller's problem: ``BadRequest`` naming the URL, never tried on
another endpoint.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any

from endpoint_desk.adapters.transport import Route, request
from endpoint_desk.adapters.transport.route import http_settings
from endpoint_desk.core.errors import BadRequest, DeskError
from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.core.tools import image_url_of
from endpoint_desk.wire.common import to_data_url

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def _sniff(data: bytes) -> str | None:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _shown(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


async def fetch_image(url: str, *, route: Route, endpoint: str) -> str:
    """The image at ``url`` as a ``data:`` URL.

    Raises:
        BadRequest: unreachable, an error status, too big, too slow, or not an image.
    """
    settings = http_settings()
    limit = settings.image_max_bytes
    try:
        resp = await request(
            "GET",
            url,
            endpoint=endpoint,
            route=route,
            headers={"Accept": "image/*"},
            timeout=settings.image_timeout,
        )
        async with resp:
            if not 200 <= resp.status < 300:
                raise BadRequest(
                    f"could not fetch the image at {_shown(url)}: HTTP {resp.status}",
                    param="image_url",
                )
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_big(url, int(declared), limit)
            parts: list[bytes] = []
            size = 0
            async for block in resp.iter_any():
                size += len(block)
                if size > limit:
                    raise _too_big(url, size, limit)
                parts.append(block)
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    except BadRequest:
        raise
    except DeskError as exc:
        raise BadRequest(
            f"could not fetch the image at {_shown(url)}: {exc.message}", param="image_url"
        ) from None
    data = b"".join(parts)
    mime = ctype if ctype.startswith("image/") else _sniff(data)
    if mime is None:
        raise BadRequest(
            f"the URL {_shown(url)} is not an image (content type {ctype or 'none'})",
            param="image_url",
        )
    return to_data_url(mime, base64.b64encode(data).decode())


def _too_big(url: str, size: int, limit: int) -> BadRequest:
    return BadRequest(
        f"the image at {_shown(url)} is larger than the limit of {limit} bytes "
        f"(at least {size}); [http] image_max_bytes sets the limit",
        param="image_url",
    )


def _remote(url: str | None) -> bool:
    return url is not None and url.startswith(("http://", "https://"))


async def inline_images(request: ChatRequest, *, route: Route, endpoint: str) -> ChatRequest:
    """``request`` with every ``http(s)`` image part as a ``data:`` URL (the same
    request when it has none)."""
    urls = [
        url
        for m in request.messages
        if not isinstance(m.content, str)
        for url in m.images
        if _remote(url)
    ]
    if not urls:
        return request
    done = request.inlined
    for url in dict.fromkeys(urls):
        if url not in done:
            done[url] = await fetch_image(url, route=route, endpoint=endpoint)
    messages = [_inlined(m, done) for m in request.messages]
    return replace(request, messages=messages)


def _inlined(message: ChatMessage, done: dict[str, str]) -> ChatMessage:
    if isinstance(message.content, str) or not any(_remote(u) for u in message.images):
        return message
    parts: list[dict[str, Any]] = []
    for part in message.content:
        url = image_url_of(part)
        if url is not None and url in done:
            parts.append({"type": "image_url", "image_url": {"url": done[url]}})
        else:
            parts.append(part)
    return replace(message, content=parts)
