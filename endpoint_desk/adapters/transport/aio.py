"""The aiohttp implementation of the transport contract: one ``ClientSession`` per
event loop, asked for exactly one exchange (redirects off: ``transport.client``
follows them by the desk's own policy), with the route's proxy and TLS context.

The session trusts no environment (``trust_env=False``: the route already read the
proxy variables, and ``.netrc`` credentials must not be added behind the desk's back),
keeps no cookies (one endpoint's cookies must not reach another on the same host) and
asks for no compression, exactly as the h1 client; a compressed body is still
decompressed.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from endpoint_desk.adapters.transport.base import USER_AGENT, Exchange, iter_lines
from endpoint_desk.adapters.transport.errors import InvalidRequest, translate
from endpoint_desk.core.errors import DeskError


@functools.lru_cache(maxsize=64)
def _timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """Connect and per-read limits (immutable, so one object per pair is shared)."""
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)


class AioResponse:
    """An aiohttp response behind the desk's ``Response`` contract."""

    __slots__ = ("_resp", "endpoint", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, endpoint: str) -> None:
        self._resp = resp
        self.endpoint = endpoint
        self.status = resp.status
        self.headers: CIMultiDictProxy[str] = resp.headers

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except DeskError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=self.endpoint, started=True) from exc

    async def iter_any(self) -> AsyncIterator[bytes]:
        try:
            async for block in self._resp.content.iter_any():
                yield block
        except DeskError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=self.endpoint, started=True) from exc

    def iter_lines(self) -> AsyncIterator[bytes]:
        return iter_lines(self.iter_any())

    def close(self) -> None:
        """Back to the pool if the body was read to the end (aiohttp closes a
        connection whose body is unfinished)."""
        self._resp.release()

    async def __aenter__(self) -> AioResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class AioTransport:
    """aiohttp's client for one event loop (see ``transport.base.Transport``)."""

    name = "aiohttp"

    def __init__(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=True,
            trust_env=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Accept-Encoding",),
        )

    @property
    def closed(self) -> bool:
        return self.session.closed

    async def send(self, ex: Exchange) -> AioResponse:
        """One exchange; see ``Transport.send``."""
        for name, value in ex.headers:
            if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
                raise translate(
                    InvalidRequest("a header name or value contains a line break"),
                    endpoint=ex.endpoint,
                )
        hdrs: CIMultiDict[str] = CIMultiDict(ex.headers)
        if "User-Agent" not in hdrs:
            hdrs["User-Agent"] = USER_AGENT
        proxy = ex.proxy
        proxy_headers = None
        if proxy is not None and proxy.authorization:
            if ex.url[:6].lower() == "https:":  # on the CONNECT request only
                proxy_headers = {"Proxy-Authorization": proxy.authorization}
            else:  # on the request itself, which the proxy forwards
                hdrs["Proxy-Authorization"] = proxy.authorization
        try:
            resp = await self.session.request(
                ex.method,
                URL(ex.url, encoded=True),
                data=ex.body,
                headers=hdrs,
                allow_redirects=False,
                ssl=ex.tls,
                proxy=proxy.url if proxy is not None else None,
                proxy_headers=proxy_headers,
                timeout=_timeout(ex.connect_timeout, ex.read_timeout),
            )
        except DeskError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=ex.endpoint) from exc
        return AioResponse(resp, ex.endpoint)

    def counts(self) -> tuple[int, int]:
        """(connections carrying a request, idle keep-alive connections)."""
        connector = self.session.connector
        if connector is None or self.session.closed:
            return 0, 0
        idle = sum(
            1
            for conns in getattr(connector, "_conns", {}).values()
            for proto, _ in conns
            if proto.is_connected()
        )
        return len(getattr(connector, "_acquired", ())), idle

    async def aclose(self) -> None:
        if not self.session.closed:
            await self.session.close()
        await asyncio.sleep(0)  # let the connector's transports close
