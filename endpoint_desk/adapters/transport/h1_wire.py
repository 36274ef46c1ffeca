"""The h1 client's connection protocol and response: bytes in from the socket,
parsed by ``httptools`` (llhttp, the parser uvicorn uses), out as a body the caller
reads whole or block by block.

What it handles: ``Content-Length``, chunked and read-until-close bodies, gzip and
deflate bodies (``zlib``), flow control (reading pauses while ``HIGH_WATER`` bytes
wait unread) and a read timeout that bounds each silence (``sock_read``).
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import httptools
from multidict import CIMultiDict

from endpoint_desk.adapters.transport.base import iter_lines
from endpoint_desk.adapters.transport.errors import BadResponse, Disconnected, translate

if TYPE_CHECKING:
    from endpoint_desk.adapters.transport.h1 import _Pool

HIGH_WATER = 256 * 1024
"""Unread body bytes at which reading from the socket pauses."""


class Conn(asyncio.Protocol):
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
        self.head = False  # the request in flight is a HEAD: no body follows

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
            resp._fail(BadResponse(f"the upstream's response is not valid HTTP ({exc})"))
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

    def pause_writing(self) -> None:  # the caller's body is written at once
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
        if self.head:  # llhttp cannot know a HEAD answer has no body: end it here
            resp._finish()
            self.resp = None
            self.close()

    def on_body(self, body: bytes) -> None:
        resp = self.resp
        assert resp is not None
        resp._feed(body)
        if resp._buffered >= HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        resp = self.resp
        if resp is None:
            return
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


class _Inflate:
    """A ``deflate`` body: zlib-wrapped as the RFC says, or raw as some servers send."""

    __slots__ = ("_first", "_z")

    def __init__(self) -> None:
        self._z: Any = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes) -> bytes:
        if self._first:
            self._first = False
            try:
                return bytes(self._z.decompress(data))
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        return bytes(self._z.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._z.flush())


def _decoder(encoding: str) -> Any:
    encoding = encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Inflate()
    return None


class H1Response:
    """A response of the h1 client (see ``transport.base.Response``)."""

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
        "endpoint",
        "headers",
        "read_timeout",
        "status",
    )

    def __init__(self, conn: Conn, read_timeout: float | None, endpoint: str) -> None:
        self._conn = conn
        self.endpoint = endpoint
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
        encoding = headers.get("Content-Encoding")
        if encoding:
            self._decoder = _decoder(encoding)
        self._headers_done = True
        if not self._ready.done():
            self._ready.set_result(None)

    def _feed(self, data: bytes) -> None:
        if self._decoder is not None:
            try:
                data = self._decoder.decompress(data)
            except zlib.error as exc:
                self._fail(BadResponse(f"the upstream's compressed body is broken ({exc})"))
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
                raise translate(self._error, endpoint=self.endpoint, started=True)
            if self._complete:
                return
            self._waiter = conn.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def iter_lines(self) -> AsyncIterator[bytes]:
        """The body line by line."""
        return iter_lines(self.iter_any())

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
