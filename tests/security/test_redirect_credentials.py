"""Redirects never carry credentials in clear text or to another origin: an ``https``
upstream that redirects a chat POST to ``http`` on the same host (or to another port)
is not followed, so the ``Authorization`` header is not resent. Real servers on
127.0.0.1: a TLS one (a ``trustme`` CA) and a plain one that records every byte."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from endpoint_desk.adapters import h1
from endpoint_desk.adapters.h1 import H1Client

pytestmark = pytest.mark.timeout(30)

KEY = "sk-REDIRECT-secret-5e5e"


class Recorder:
    """A plain HTTP server that keeps every byte it receives and answers 200."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while data := await reader.read(65536):
                self.received += data
                if b"\r\n\r\n" in data:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    await writer.drain()
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    rec.server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    yield rec
    rec.server.close()


async def tls_redirector(ca: trustme.CA, location: str) -> asyncio.Server:
    """An https server that answers every request with ``307 Location: location``."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 307 Temporary Redirect\r\nLocation: "
                    + location.encode()
                    + b"\r\nContent-Length: 0\r\n\r\n"
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


@pytest.mark.parametrize(
    "where",
    ["http://localhost:{plain}/v1/chat/completions", "https://localhost:{plain}/v1/chat"],
    ids=["https-to-http-same-host", "same-host-other-port"],
)
async def test_a_redirect_to_another_origin_is_not_followed(
    ca: trustme.CA, recorder: Recorder, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    monkeypatch.setattr(h1, "_ssl_context", lambda: trusting)
    server = await tls_redirector(ca, where.format(plain=recorder.port))
    port = server.sockets[0].getsockname()[1]
    client = H1Client(asyncio.get_running_loop())
    try:
        resp = await client.post(
            f"https://localhost:{port}/v1/chat/completions",
            b'{"model": "m"}',
            {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        async with resp:
            assert resp.status == 307  # handed back, not followed
            assert resp.headers["Location"].startswith(where.split(":")[0] + "://localhost")
    finally:
        client.close()
        server.close()
    assert recorder.connections == 0
    assert KEY.encode() not in recorder.received


async def test_a_same_origin_redirect_is_still_followed(
    ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal is by origin, not a refusal of every redirect: ``https`` to the same
    host and port is followed, with the key (it stays on the encrypted connection)."""
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    monkeypatch.setattr(h1, "_ssl_context", lambda: trusting)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(ctx)
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(2)
                seen.append(head)
                if head.startswith(b"POST /old "):
                    writer.write(
                        b"HTTP/1.1 308 Permanent Redirect\r\nLocation: /new\r\n"
                        b"Content-Length: 0\r\n\r\n"
                    )
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    client = H1Client(asyncio.get_running_loop())
    try:
        resp = await client.post(
            f"https://localhost:{port}/old", b"{}", {"Authorization": f"Bearer {KEY}"}
        )
        async with resp:
            assert (resp.status, await resp.read()) == (200, b"new")
    finally:
        client.close()
        server.close()
    assert [h.split(b" ")[1] for h in seen] == [b"/old", b"/new"]
    assert all(f"Bearer {KEY}".encode() in h for h in seen)
