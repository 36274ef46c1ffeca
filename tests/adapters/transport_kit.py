"""Real servers on 127.0.0.1 for the transport suites, and a client helper that runs a
case through either HTTP implementation.

- :class:`RawServer`: a TCP (or TLS) server whose handler answers exactly as a case
  needs, counting connections and keeping the requests it read.
- :class:`Proxy`: a small HTTP proxy (``CONNECT`` tunnels and absolute-form requests)
  with optional Basic credentials, keeping what it saw.
- :class:`Pki`: a ``trustme`` CA, a server certificate for ``localhost`` and the CA
  as a PEM file.
- :class:`Client`: ``transport.request`` through a route of one implementation.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trustme

from endpoint_desk.adapters.transport import Response, Route, request
from endpoint_desk.adapters.transport.tls import ssl_context

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 whose handler answers each connection."""

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        """The port it listens on (kept after it closed, for assertions)."""
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            task = asyncio.current_task()
            assert task is not None
            self._handlers.add(task)
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            except asyncio.CancelledError:
                pass  # the test is over
            finally:
                writer.close()
                self._handlers.discard(task)

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def url(self, path: str = "/v1/chat/completions", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request's body (``Content-Length`` framed); the whole request is kept."""
        head, body = await read_message(reader)
        self.requests.append(head + body)
        return body


async def read_message(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one request framed by ``Content-Length`` (or without a body)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return head, body


def header(head: bytes, name: str) -> str | None:
    """A header's value in a raw request head (case-insensitive), or None."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode("latin-1")
    return None


def response(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def replies(raw: bytes, *, hold: bool = False) -> Handler:
    """A handler that reads one request and answers ``raw``; with ``hold`` it then
    keeps the connection open until the client closes it."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_message(reader)
        writer.write(raw)
        await writer.drain()
        if hold:
            await reader.read()

    return handler


async def echo(server: RawServer, reader: asyncio.StreamReader, writer: Any) -> None:
    """Answer every request on the connection with ``METHOD target`` and its body
    (until one says ``Connection: close``)."""
    while True:
        head, body = await read_message(reader)
        server.requests.append(head + body)
        line = head.split(b"\r\n", 1)[0].rsplit(b" ", 1)[0]
        writer.write(response(line + b"|" + body))
        await writer.drain()
        if (header(head, "Connection") or "").lower() == "close":
            return


class Pki:
    """A private CA and a certificate for ``localhost``, 127.0.0.1 and
    ``upstream.test`` (a name only the test proxy knows)."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("localhost", "127.0.0.1", "upstream.test")
        self.server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.server)
        self.ca_file = tmp / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))

    def client(self) -> ssl.SSLContext:
        """A client context that trusts only this CA."""
        return ssl_context(str(self.ca_file))


class Proxy:
    """An HTTP proxy on 127.0.0.1: ``CONNECT host:port`` opens a tunnel (bytes piped
    both ways); an absolute-form request (``GET http://h:p/x``) is forwarded in origin
    form with ``Connection: close`` (one upstream connection per request, the
    client's connection kept alive). Every host name is this machine (so a test can
    use names such as ``upstream.test`` that only the proxy "resolves"). With
    ``credentials`` set, anything without that ``Proxy-Authorization`` gets 407."""

    def __init__(self, credentials: str | None = None) -> None:
        self.credentials = credentials
        self.lines: list[str] = []
        self.authorizations: list[str | None] = []
        self.seen = bytearray()  # every byte the proxy read from clients
        self.server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self._tasks):
            task.cancel()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # absolute-form requests may follow each other (keep-alive)
                head, body = await read_message(reader)
                self.seen += head + body
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                self.lines.append(line)
                auth = header(head, "Proxy-Authorization")
                self.authorizations.append(auth)
                if self.credentials is not None and auth != self.credentials:
                    denied = response(b"who are you?", status="407 Proxy Authentication Required")
                    writer.write(denied)
                    await writer.drain()
                    return
                method, target, _ = line.split(" ", 2)
                if method == "CONNECT":
                    await self._tunnel(target, reader, writer)
                    return
                await self._forward(method, target, head, body, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _tunnel(
        self, target: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        _, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await self._pipe_both(reader, writer, up_reader, up_writer)

    async def _forward(
        self, method: str, target: str, head: bytes, body: bytes, writer: asyncio.StreamWriter
    ) -> None:
        parts = urlsplit(target)
        assert parts.hostname and parts.port, f"not absolute form: {target}"
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", parts.port)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kept = [
            line
            for line in head.split(b"\r\n")[1:]
            if line and not line.lower().startswith((b"proxy-authorization:", b"connection:"))
        ]
        up_writer.write(
            f"{method} {path} HTTP/1.1\r\n".encode()
            + b"\r\n".join(kept)
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await up_writer.drain()
        while data := await up_reader.read(65536):
            writer.write(data)
            await writer.drain()
        up_writer.close()

    async def _pipe_both(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        """Pipe until both sides are done; what the client sends is kept in ``seen``."""

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, keep: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    if keep:
                        self.seen += data
                    dst.write(data)
                    await dst.drain()
            dst.close()

        up = asyncio.ensure_future(pipe(reader, up_writer, True))
        down = asyncio.ensure_future(pipe(up_reader, writer, False))
        self._tasks.update((up, down))
        await asyncio.wait((up, down), return_when=asyncio.ALL_COMPLETED)
        self._tasks.difference_update((up, down))


class Client:
    """``transport.request`` through one implementation, with an optional route."""

    def __init__(self, impl: str, route: Route | None = None) -> None:
        self.impl = impl
        self.route = route or Route(client=impl)

    def with_route(self, **kwargs: Any) -> Client:
        """The same implementation with another route (``proxy``, ``tls``...)."""
        return Client(self.impl, Route(client=self.impl, **kwargs))

    async def send(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
    ) -> Response:
        return await request(
            method,
            url,
            endpoint="up",
            route=self.route,
            headers=headers or {},
            body=body,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    async def post(
        self, url: str, body: bytes = b"{}", headers: dict[str, str] | None = None, **kw: Any
    ) -> Response:
        return await self.send("POST", url, body, headers, **kw)

    async def get(self, url: str, headers: dict[str, str] | None = None, **kw: Any) -> Response:
        return await self.send("GET", url, None, headers, **kw)
