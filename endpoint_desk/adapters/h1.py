"""A small HTTP/1.1 client for the hot path: one request per pooled keep-alive
connection, parsed by ``httptools`` (llhttp, the parser uvicorn uses).

Why not aiohttp's client here: its per-request machinery (URL objects, cookie jar,
tracing hooks, a body-writer task, timeout contexts) costs about 85 µs of CPU per
request on the development VM, this client about 20 µs (``bench/gateway.py`` shows
the difference end to end). The desk sends one JSON POST and reads one reply or
event stream; that is all this client does (every adapter's chat call goes through
it). Everything else (model lists, probes, discovery, polling) keeps using the shared
aiohttp session.

What it handles: ``http`` and ``https`` (the default SSL context, SNI), keep-alive
pools per origin (idle connections expire after ``KEEPALIVE_SECONDS``), a stale
pooled connection retried once on a fresh one when it failed before any response
byte, same-origin redirects, ``Content-Length``, chunked and read-until-close bodies,
gzip/deflate bodies, flow control (reading pauses while ``HIGH_WATER`` bytes wait
unread), a connect
timeout and a read timeout that bounds each silence (``sock_read``). Header names
and values with CR or LF are refused (no header injection from a config).

Errors: :class:`ConnectFailed` (nothing answered), :class:`Disconnected` (the
connection broke; ``started`` says whether the response had begun),
``TimeoutError``, and ``ValueError`` for a response that is not HTTP. The adapters'
``translate_exception`` maps them onto the desk's errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any, cast
from urllib.parse import urljoin, urlsplit

import httptools
from multidict import CIMultiDict

__all__ = [
    "ConnectFailed",
    "Disconnected",
    "H1Client",
    "H1Response",
    "shared_h1",
]

KEEPALIVE_SECONDS = 30.0
"""Idle pooled connections older than this are closed rather than reused."""
HIGH_WATER = 256 * 1024
"""Unread body bytes at which reading from the socket pauses."""
MAX_REDIRECTS = 3
"""Same-host redirects followed per request."""
_REDIRECTS = frozenset((301, 302, 307, 308))

try:  # the package's version in the User-Agent, when installed
    from importlib.metadata import version as _version

    _UA = f"endpoint-desk/{_version('endpoint-desk')}"
except Exception:  # pragma: no cover - running from a source tree without metadata
    _UA = "endpoint-desk"


class ConnectFailed(OSError):
    """No connection could be made to ``host:port``."""

    def __init__(self, host: str, port: int, reason: BaseException) -> None:
        super().__init__(f"cannot connect to {host}:{port} ({reason or type(reason).__name__})")
        self.host = host
        self.port = port
        self.reason = reason


class Disconnected(ConnectionError):
    """The connection closed or broke before the response was complete."""

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class _Conn(asyncio.Protocol):
    """One keep-alive connection and the response being read on it."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.resp: H1Response | None = None
        self.closed = False
        self.idle_since = 0.0
        self.paused = False

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        resp = self.resp
        if resp is None:  # bytes nobody asked for: the connection is not reusable
            self.close()
            return
        resp._activity = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            resp._fail(ValueError(f"the upstream's response is not valid HTTP ({exc})"))
            self.close()

    def eof_received(self) -> bool | None:
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.live.discard(self)
        resp = self.resp
        if resp is not None and not resp._complete:
            if resp._headers_done and not resp._framed:
                resp._finish()  # a body delimited by the end of the connection
            else:
                started = resp._headers_done
                why = f": {exc}" if exc else ""
                what = "cut the response short" if started else "closed the connection"
                resp._fail(Disconnected(f"the upstream {what}{why}", started=started))

    def pause_writing(self) -> None:  # requests are small; nothing to do
        pass

    def resume_writing(self) -> None:
        pass

    # ---- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.resp is not None
        self.resp._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        resp = self.resp
        assert resp is not None
        resp._on_headers(self.parser.get_status_code())

    def on_body(self, body: bytes) -> None:
        resp = self.resp
        assert resp is not None
        resp._feed(body)
        if resp._buffered >= HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        resp = self.resp
        assert resp is not None
        keep = self.parser.should_keep_alive()
        resp._finish()
        self.resp = None
        if keep and not self.closed:
            self.pool.release(self)
        else:
            self.close()

    # ---- the response side

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class H1Response:
    """A response: ``status`` and ``headers`` once awaited; then ``read()`` the body or
    iterate ``iter_any()``. Use it as ``async with`` (or call ``close()``): a body not
    read to the end closes its connection instead of returning it to the pool."""

    __slots__ = (
        "_activity",
        "_buffered",
        "_chunks",
        "_complete",
        "_conn",
        "_decoder",
        "_error",
        "_framed",
        "_headers_done",
        "_raw_headers",
        "_ready",
        "_timer",
        "_waiter",
        "content",
        "headers",
        "read_timeout",
        "status",
    )

    def __init__(self, conn: _Conn, read_timeout: float | None) -> None:
        self._conn = conn
        self.status = 0
        self.headers: CIMultiDict[str] = CIMultiDict()
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._framed = False
        self._complete = False
        self._error: BaseException | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._decoder: Any = None
        self._ready: asyncio.Future[None] = conn.loop.create_future()
        self._waiter: asyncio.Future[None] | None = None
        self.read_timeout = read_timeout
        self._activity = conn.loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self.content = _Content(self)
        """aiohttp-style body access: ``iter_any()`` and ``async for line in``."""
        if read_timeout is not None:
            self._timer = conn.loop.call_at(self._activity + read_timeout, self._check_silence)

    # ---- fed by the connection

    def _on_headers(self, status: int) -> None:
        self.status = status
        headers = self.headers
        for name, value in self._raw_headers:
            headers.add(name.decode("latin-1"), value.decode("latin-1"))
        self._raw_headers = []
        self._framed = "Content-Length" in headers or "chunked" in headers.get(
            "Transfer-Encoding", ""
        )
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._decoder = zlib.decompressobj()
        self._headers_done = True
        if not self._ready.done():
            self._ready.set_result(None)

    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self._fail(ValueError(f"the upstream's compressed body is broken ({exc})"))
                self._conn.close()
                return
            if not data:
                return
        self._chunks.append(data)
        self._buffered += len(data)
        self._wake()

    def _finish(self) -> None:
        if self._decoder is not None:
            with contextlib.suppress(zlib.error):
                tail = self._decoder.flush()
                if tail:
                    self._chunks.append(tail)
        self._complete = True
        self._stop_timer()
        self._wake()

    def _fail(self, exc: BaseException) -> None:
        if self._error is None and not self._complete:
            self._error = exc
        self._stop_timer()
        if not self._ready.done():
            self._ready.set_exception(exc)
            self._ready.exception()  # retrieved here; raised again by the waiter
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _check_silence(self) -> None:
        assert self.read_timeout is not None
        loop = self._conn.loop
        due = self._activity + self.read_timeout
        if loop.time() >= due:
            self._timer = None
            self._fail(TimeoutError("the upstream was silent for longer than the read timeout"))
            self._conn.close()
        else:
            self._timer = loop.call_at(due, self._check_silence)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- for the caller

    async def _start(self) -> None:
        await self._ready

    async def read(self) -> bytes:
        """The whole body."""
        parts = []
        async for part in self.iter_any():
            parts.append(part)
        return b"".join(parts)

    async def iter_any(self) -> AsyncIterator[bytes]:
        """Body bytes as they arrive (each item is everything received so far)."""
        conn = self._conn
        while True:
            if self._chunks:
                chunks = self._chunks
                data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                conn.resume()
                yield data
                continue
            if self._error is not None:
                raise self._error
            if self._complete:
                return
            self._waiter = conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def close(self) -> None:
        """Release the connection: back to the pool when the body was read to the
        end, else closed."""
        self._stop_timer()
        if not self._complete:
            self._conn.close()

    async def __aenter__(self) -> H1Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class _Content:
    """The body as aiohttp's ``resp.content`` offers it: ``iter_any()`` for blocks as
    they arrive, ``async for line in content`` for lines (ending in ``\n``)."""

    __slots__ = ("_resp",)

    def __init__(self, resp: H1Response) -> None:
        self._resp = resp

    def iter_any(self) -> AsyncIterator[bytes]:
        return self._resp.iter_any()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        rest = b""
        async for block in self._resp.iter_any():
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


class _Pool:
    """Idle keep-alive connections to one origin."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, tls: bool) -> None:
        self.loop = loop
        self.host = host
        self.port = port
        self.tls = tls
        self.idle: deque[_Conn] = deque()
        self.live: set[_Conn] = set()
        default_port = 443 if tls else 80
        self.host_header = host if port == default_port else f"{host}:{port}"
        if ":" in host and not host.startswith("["):  # IPv6 literal
            self.host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"

    def release(self, conn: _Conn) -> None:
        conn.idle_since = time.monotonic()
        self.idle.append(conn)

    def take(self) -> _Conn | None:
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

    async def connect(self, timeout: float | None) -> _Conn:
        ctx: ssl.SSLContext | None = _ssl_context() if self.tls else None
        try:
            async with asyncio.timeout(timeout):
                _, conn = await self.loop.create_connection(
                    lambda: _Conn(self),
                    self.host,
                    self.port,
                    ssl=ctx,
                    server_hostname=self.host if ctx is not None else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectFailed(self.host, self.port, exc) from exc
        if not conn.closed:
            self.live.add(conn)
        return conn

    def close(self) -> None:
        while self.idle:
            self.idle.pop().close()
        for conn in list(self.live):
            conn.close()


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = ssl.create_default_context()
    return _SSL


class H1Client:
    """Pools per origin for one event loop. Get it with :func:`shared_h1`."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._targets: dict[str, tuple[_Pool, bytes]] = {}
        self.closed = False

    def _target(self, url: str) -> tuple[_Pool, bytes]:
        found = self._targets.get(url)
        if found is not None:
            return found
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = scheme == "https"
        port = parts.port or (443 if tls else 80)
        key = (scheme, parts.hostname, port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(self.loop, parts.hostname, port, tls)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        _check_header_text(target)
        found = (pool, target.encode("latin-1"))
        if len(self._targets) < 1024:
            self._targets[url] = found
        return found

    async def post(
        self,
        url: str,
        body: bytes,
        headers: dict[str, str] | Iterable[tuple[str, str]],
        *,
        connect_timeout: float | None = 10.0,
        read_timeout: float | None = None,
    ) -> H1Response:
        """Send ``POST url`` with ``body``; return once the response's headers came.

        A redirect (301, 302, 307, 308) to the same origin (scheme, host and port) is
        followed with the same POST, up to ``MAX_REDIRECTS`` times; one to another
        origin is returned as it is, so that credentials never travel to a host nobody
        configured, nor in clear text to the same host (``https`` to ``http``).

        Raises:
            ConnectFailed, Disconnected, TimeoutError, ValueError: see the module.
        """
        pairs = list(headers.items() if isinstance(headers, dict) else headers)
        for _hop in range(MAX_REDIRECTS + 1):
            resp = await self._post_once(url, body, pairs, connect_timeout, read_timeout)
            location = resp.headers.get("Location") if resp.status in _REDIRECTS else None
            if not location:
                return resp
            target = urljoin(url, location)
            if origin(target) != origin(url):
                return resp  # another origin (or a downgrade to http): not followed
            if not resp._complete:
                resp.close()
            url = target
        return resp

    async def _post_once(
        self,
        url: str,
        body: bytes,
        pairs: list[tuple[str, str]],
        connect_timeout: float | None,
        read_timeout: float | None,
    ) -> H1Response:
        if self.closed:
            raise Disconnected("the HTTP client is closed", started=False)
        pool, target = self._target(url)
        lines = [b"POST ", target, b" HTTP/1.1\r\nHost: ", pool.host_header.encode("latin-1")]
        has_ua = False
        for name, value in pairs:
            _check_header_text(name)
            _check_header_text(value)
            if name.lower() == "user-agent":
                has_ua = True
            lines.append(f"\r\n{name}: {value}".encode("latin-1"))
        if not has_ua:
            lines.append(f"\r\nUser-Agent: {_UA}".encode("latin-1"))
        lines.append(f"\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1"))
        head = b"".join(lines)
        for attempt in (0, 1):
            conn = pool.take()
            reused = conn is not None
            if conn is None:
                conn = await pool.connect(connect_timeout)
            resp = H1Response(conn, read_timeout)
            conn.resp = resp
            transport = conn.transport
            assert transport is not None
            try:
                transport.write(head + body)
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

    def counts(self) -> tuple[int, int]:
        """(connections carrying a request, idle keep-alive connections)."""
        busy = idle = 0
        for pool in self._pools.values():
            idle += sum(1 for c in pool.idle if not c.closed)
            busy += sum(1 for c in pool.live if c.resp is not None and not c.closed)
        return busy, idle

    def close(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, the port made explicit; None for
    anything else (which is no origin a redirect may go to)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return None
    return scheme, parts.hostname.lower(), port


def _check_header_text(text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError("a header name, value or URL path contains a line break")


_CLIENTS: dict[asyncio.AbstractEventLoop, H1Client] = {}


def shared_h1() -> H1Client:
    """The running event loop's client (created on first use; closed with the
    adapters' shared resources)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.closed:
        client = _CLIENTS[loop] = H1Client(loop)
        from endpoint_desk.adapters.base import register_shared_closer

        register_shared_closer(close_shared_h1)
    return client


async def close_shared_h1() -> None:
    """Close the running loop's client (its pooled connections)."""
    loop = asyncio.get_running_loop()
    client = _CLIENTS.pop(loop, None)
    if client is not None:
        client.close()
    for other in [lp for lp in _CLIENTS if lp.is_closed()]:
        _CLIENTS.pop(other, None)
