"""``CONNECT`` through an HTTP proxy: ask it for a tunnel to ``host:port`` and hand
back the raw connection, on which the caller starts TLS to the upstream (so the
proxy sees only the encrypted bytes). The proxy's answer is parsed by ``httptools``.
"""

from __future__ import annotations

import asyncio
from typing import cast

import httptools

from endpoint_desk.adapters.transport.errors import BadResponse, Disconnected, ProxyRefused
from endpoint_desk.adapters.transport.route import ProxyHop

MAX_HEAD = 64 * 1024
"""The most bytes a proxy's answer to ``CONNECT`` may take before its blank line."""


class _Tunnel(asyncio.Protocol):
    """Reads the proxy's answer to ``CONNECT``, then stays silent (TLS takes over)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.done: asyncio.Future[bytes] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end >= 0:
            self.done.set_result(bytes(self.head[: end + 4]))
        elif len(self.head) > MAX_HEAD:
            self.done.set_exception(BadResponse("the proxy's answer to CONNECT is too long"))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(
                Disconnected("the proxy closed the connection during CONNECT", started=False)
            )


class _Status:
    """httptools callbacks: only the status line matters."""

    def __init__(self) -> None:
        self.complete = False

    def on_headers_complete(self) -> None:
        self.complete = True


async def open_tunnel(
    loop: asyncio.AbstractEventLoop, proxy: ProxyHop, authority: str
) -> asyncio.Transport:
    """A connection to ``proxy`` tunnelled to ``authority`` (``host:port``).

    Raises:
        ProxyRefused: the proxy answered with another status than 2xx.
        OSError, BadResponse, Disconnected: no connection, or no HTTP answer.
    """
    transport, tunnel = await loop.create_connection(lambda: _Tunnel(loop), proxy.host, proxy.port)
    try:
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if proxy.authorization:
            lines.append(f"Proxy-Authorization: {proxy.authorization}")
        transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        head = await tunnel.done
        status = _status(head)
        if not 200 <= status < 300:
            reason = head.split(b"\r\n", 1)[0].split(b" ", 2)[2:]
            raise ProxyRefused(str(proxy), status, reason[0].decode("latin-1") if reason else "")
    except BaseException:
        transport.close()
        raise
    return transport


def _status(head: bytes) -> int:
    found = _Status()
    parser = httptools.HttpResponseParser(found)
    try:
        parser.feed_data(head)
    except httptools.HttpParserError as exc:
        raise BadResponse(f"the proxy's answer to CONNECT is not HTTP ({exc})") from exc
    if not found.complete:
        raise BadResponse("the proxy's answer to CONNECT is incomplete")
    return int(parser.get_status_code())
