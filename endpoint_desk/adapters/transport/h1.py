"""The desk's own HTTP/1.1 client: one request per pooled keep-alive connection,
parsed by ``httptools`` (see :mod:`.h1_wire`).

Why: aiohttp's per-request machinery (URL objects, cookie jar, tracing hooks, a
body-writer task, timeout contexts) costs several times the CPU of this client per
request (``bench/gateway.py --client both`` shows it end to end, see
``docs/serve.md``); the desk sends one request and reads one reply or event stream,
which is all this client does.

What it adds to the wire side: keep-alive pools per origin, route and TLS context
(idle connections expire after ``KEEPALIVE_SECONDS``); a stale pooled connection
retried once on a fresh one when it failed before any response byte; ``https`` with
the route's TLS context and SNI; HTTP proxies (absolute-form requests for ``http``
URLs, a ``CONNECT`` tunnel and then TLS for ``https`` URLs, ``Proxy-Authorization``);
a connect timeout covering connection, tunnel and handshake. Header names and values
with CR or LF are refused (no header injection from a config).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from urllib.parse import urlsplit

from endpoint_desk.adapters.transport.base import USER_AGENT, Exchange
from endpoint_desk.adapters.transport.errors import (
    ConnectFailed,
    Disconnected,
    InvalidRequest,
    ProxyRefused,
    translate,
)
from endpoint_desk.adapters.transport.h1_wire import Conn, H1Response
from endpoint_desk.adapters.transport.route import ProxyHop
from endpoint_desk.adapters.transport.tunnel import open_tunnel
from endpoint_desk.core.errors import DeskError

KEEPALIVE_SECONDS = 30.0
"""Idle pooled connections older than this are closed rather than reused."""
_NO_BODY = frozenset(("GET", "HEAD", "DELETE", "OPTIONS"))
"""Methods that send no ``Content-Length`` when they carry no body."""

_PoolKey = tuple[str, str, int, ProxyHop | None, ssl.SSLContext | None]


class _Pool:
    """Idle keep-alive connections to one origin by one route."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        host: str,
        port: int,
        tls: ssl.SSLContext | None,
        proxy: ProxyHop | None,
    ) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        self.proxy = proxy
        self.idle: deque[Conn] = deque()
        self.live: set[Conn] = set()
        default_port = 443 if tls is not None else 80
        name = f"[{host}]" if ":" in host else host  # an IPv6 literal
        self.host_header = name if port == default_port else f"{name}:{port}"
        self.absolute = proxy is not None and tls is None
        """Requests go to an HTTP proxy in absolute form (``GET http://h/p``)."""
        self.origin = f"{'https' if tls is not None else 'http'}://{self.host_header}"
        self.authority = f"{name}:{port}"
        """``host:port`` as a ``CONNECT`` request names it."""

    def release(self, conn: Conn) -> None:
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def take(self) -> Conn | None:
        """The most recently used live connection, or None."""
        edge = time.monotonic() - KEEPALIVE_SECONDS
        while self.idle:
            conn = self.idle.pop()
            if conn.closed:
                continue
            if conn.idle_since < edge:
                conn.close()
                continue
            return conn
        return None

    async def connect(self, timeout: float | None) -> Conn:
        """A new connection: direct, to the proxy, or through its tunnel."""
        proxy = self.proxy
        host, port = (proxy.host, proxy.port) if proxy is not None else (self.host, self.port)
        try:
            async with asyncio.timeout(timeout):
                if proxy is None or self.tls is None:
                    _, conn = await self.loop.create_connection(
                        lambda: Conn(self),
                        host,
                        port,
                        ssl=self.tls,
                        server_hostname=self.host if self.tls is not None else None,
                    )
                else:
                    conn = await self._tunnel(proxy)
        except (TimeoutError, ProxyRefused, ConnectFailed):
            raise
        except (OSError, ssl.SSLError) as exc:
            raise ConnectFailed(host, port, exc, proxy=proxy is not None) from exc
        if not conn.closed:
            self.live.add(conn)
        return conn

    async def _tunnel(self, proxy: ProxyHop) -> Conn:
        assert self.tls is not None
        raw = await open_tunnel(self.loop, proxy, self.authority)
        conn = Conn(self)
        try:
            tls_transport = await self.loop.start_tls(
                raw, conn, self.tls, server_hostname=self.host
            )
        except (OSError, ssl.SSLError) as exc:  # the upstream's handshake, not the proxy's
            raw.close()
            raise ConnectFailed(self.host, self.port, exc) from exc
        except BaseException:
            raw.close()
            raise
        if tls_transport is None:  # pragma: no cover - only for a closed transport
            raise ConnectionResetError("the tunnel closed during the TLS handshake")
        conn.connection_made(tls_transport)
        return conn

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
        for conn in list(self.live):
            conn.close()


class H1Transport:
    """Pools per origin and route for one event loop (see ``transport.base``)."""

    name = "h1"

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pools: dict[_PoolKey, _Pool] = {}
        self._targets: dict[tuple[str, ProxyHop | None, ssl.SSLContext], tuple[_Pool, bytes]] = {}
        self.closed = False

    def _target(self, url: str, proxy: ProxyHop | None, tls: ssl.SSLContext) -> tuple[_Pool, bytes]:
        key = (url, proxy, tls)
        found = self._targets.get(key)
        if found is not None:
            return found
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest(f"not an http(s) URL: {url!r}")
        secure = tls if scheme == "https" else None
        try:
            port = parts.port or (443 if secure is not None else 80)
        except ValueError as exc:
            raise InvalidRequest(f"bad port in {url!r}") from exc
        pool_key = (scheme, parts.hostname, port, proxy, secure)
        pool = self._pools.get(pool_key)
        if pool is None:
            pool = self._pools[pool_key] = _Pool(self.loop, parts.hostname, port, secure, proxy)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if pool.absolute:
            target = pool.origin + target
        _check_header_text(target)
        found = (pool, target.encode("latin-1"))
        if len(self._targets) < 1024:
            self._targets[key] = found
        return found

    async def send(self, ex: Exchange) -> H1Response:
        """One exchange; see ``Transport.send``."""
        try:
            if self.closed:
                raise Disconnected("the HTTP client is closed", started=False)
            pool, target = self._target(ex.url, ex.proxy, ex.tls)
            head = _head(ex.method, target, pool, ex.headers, ex.body)
            data = head + ex.body if ex.body else head
            for attempt in (0, 1):
                conn = pool.take()
                reused = conn is not None
                if conn is None:
                    conn = await pool.connect(ex.connect_timeout)
                resp = H1Response(conn, ex.read_timeout, ex.endpoint)
                conn.resp = resp
                conn.head = ex.method == "HEAD"
                transport = conn.transport
                assert transport is not None
                try:
                    transport.write(data)
                    await resp._start()
                except Disconnected as exc:
                    resp.close()
                    if reused and attempt == 0 and not exc.started:
                        continue  # a stale keep-alive connection: once more on a new one
                    raise
                except BaseException:
                    resp.close()
                    raise
                return resp
            raise AssertionError("unreachable")  # pragma: no cover
        except DeskError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=ex.endpoint) from exc

    def counts(self) -> tuple[int, int]:
        """(connections carrying a request, idle keep-alive connections)."""
        busy = idle = 0
        for pool in self._pools.values():
            idle += sum(1 for c in pool.idle if not c.closed)
            busy += sum(1 for c in pool.live if c.resp is not None and not c.closed)
        return busy, idle

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()


def _head(
    method: str, target: bytes, pool: _Pool, headers: list[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request line and headers, ready to write."""
    _check_header_text(method)
    lines = [method.encode("latin-1"), b" ", target, b" HTTP/1.1\r\nHost: "]
    lines.append(pool.host_header.encode("latin-1"))
    has_ua = False
    for name, value in headers:
        _check_header_text(name)
        _check_header_text(value)
        if name.lower() == "user-agent":
            has_ua = True
        lines.append(f"\r\n{name}: {value}".encode("latin-1"))
    if not has_ua:
        lines.append(f"\r\nUser-Agent: {USER_AGENT}".encode("latin-1"))
    if pool.absolute and pool.proxy is not None and pool.proxy.authorization:
        lines.append(f"\r\nProxy-Authorization: {pool.proxy.authorization}".encode("latin-1"))
    if body is not None or method not in _NO_BODY:
        lines.append(f"\r\nContent-Length: {len(body or b'')}".encode("latin-1"))
    lines.append(b"\r\n\r\n")
    return b"".join(lines)


def _check_header_text(text: str) -> None:
    if "\r" in text or "\n" in text:
        raise InvalidRequest("a header name, value or URL path contains a line break")
