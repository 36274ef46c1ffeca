"""The transport contract: what an HTTP implementation offers the REST adapters.

An implementation sends one exchange (no redirects: :mod:`.client` follows them by
one policy for every implementation) and returns a :class:`Response` once the status
line and headers are in; the body is then read whole or block by block. Errors leave
as ``DeskError`` subclasses (see :mod:`.errors`), from ``send`` and from reading the
body alike, so the adapters cannot tell which stack served them.

Two implementations exist: the desk's own HTTP/1.1 client on ``httptools``
(:mod:`.h1`) and aiohttp's client (:mod:`.aio`); ``[http] client`` picks one.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from multidict import MultiMapping

from endpoint_desk.adapters.transport.route import ProxyHop

try:  # the package's version in the User-Agent, when installed
    from importlib.metadata import version as _version

    USER_AGENT = f"endpoint-desk/{_version('endpoint-desk')}"
except Exception:  # pragma: no cover - running from a source tree without metadata
    USER_AGENT = "endpoint-desk"


class Response(Protocol):
    """An upstream's answer: ``status`` and ``headers`` at once, the body on demand.

    Use it as ``async with`` (or call ``close()``): a body read to the end returns its
    connection to the pool; one left unread closes it.
    """

    @property
    def status(self) -> int:
        """The HTTP status code."""
        ...

    @property
    def headers(self) -> MultiMapping[str]:
        """The response headers (case-insensitive)."""
        ...

    async def read(self) -> bytes:
        """The whole (decompressed) body."""
        ...

    def iter_any(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive: each item is everything received since the last."""
        ...

    def iter_lines(self) -> AsyncIterator[bytes]:
        """The body line by line, each ending in ``\\n`` (the last one may not)."""
        ...

    def close(self) -> None:
        """Release the connection (to the pool only if the body was read to the end)."""
        ...

    async def __aenter__(self) -> Response: ...

    async def __aexit__(self, *exc: object) -> None: ...


@dataclass(slots=True)
class Exchange:
    """One request as an implementation sends it.

    Attributes:
        headers: name/value pairs as given (``Host``, ``Content-Length`` and a
            ``User-Agent``, when missing, are added).
        endpoint: the endpoint's name, for error messages.
        tls: the context for an ``https`` URL (trust and verification).
        proxy: the HTTP proxy to go through, or None for a direct connection.
        connect_timeout: seconds for the connection (and tunnel, and handshake).
        read_timeout: the longest silence while waiting for or reading the answer.
    """

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    endpoint: str
    tls: ssl.SSLContext
    proxy: ProxyHop | None
    connect_timeout: float | None
    read_timeout: float | None


class Transport(Protocol):
    """One HTTP implementation with its connection pools, for one event loop."""

    name: str

    @property
    def closed(self) -> bool:
        """Whether ``aclose`` was called (a closed transport is replaced on next use)."""
        ...

    async def send(self, ex: Exchange) -> Response:
        """Send one request; return once the response's headers came.

        Raises:
            DeskError: ``Unreachable``, ``UpstreamTimeout``, ``ProtocolError``,
                ``AuthFailed`` (a proxy refused its credentials), ``BadRequest``.
        """
        ...

    def counts(self) -> tuple[int, int]:
        """(connections carrying a request, idle keep-alive connections)."""
        ...

    async def aclose(self) -> None:
        """Close every pooled connection."""
        ...


async def iter_lines(blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Split blocks of bytes into lines ending in ``\\n`` (the last may not); one
    splitter for every implementation, with no limit on a line's length."""
    rest = b""
    async for block in blocks:
        if rest:
            block = rest + block
        start = 0
        while True:
            end = block.find(b"\n", start)
            if end < 0:
                break
            yield block[start : end + 1]
            start = end + 1
        rest = block[start:]
    if rest:
        yield rest
