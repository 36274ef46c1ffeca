"""Redirects never carry credentials in clear text or to another origin, whichever
HTTP implementation serves: an ``https`` upstream that redirects a chat POST to
``http`` on the same host (or to another port) is not followed, so the
``Authorization`` header is not resent; a GET is never followed from https to http
either. Real servers on 127.0.0.1: a TLS one (a ``trustme`` CA) and a plain one that
records every byte it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.adapters.transport import IMPLEMENTATIONS, close_shared_transports
from tests.adapters.transport_kit import (
    Client,
    Handler,
    Pki,
    RawServer,
    read_message,
    response,
)

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
                    writer.write(response(b"ok"))
                    await writer.drain()
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture(params=IMPLEMENTATIONS)
async def client(request: pytest.FixtureRequest, pki: Pki) -> AsyncIterator[Client]:
    yield Client(str(request.param)).with_route(tls=pki.client())
    await close_shared_transports()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    rec = Recorder()
    rec.server = await asyncio.start_server(rec.handle, "127.0.0.1", 0)
    yield rec
    rec.server.close()


def redirect_to(location: str, status: str = "307 Temporary Redirect") -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_message(reader)
            writer.write(response(b"", f"Location: {location}", status=status))
            await writer.drain()

    return handle


@pytest.mark.parametrize(
    "where",
    ["http://localhost:{plain}/v1/chat/completions", "https://localhost:{plain}/v1/chat"],
    ids=["https-to-http-same-host", "same-host-other-port"],
)
async def test_a_chat_post_is_not_redirected_to_another_origin(
    client: Client, pki: Pki, recorder: Recorder, where: str
) -> None:
    location = where.format(plain=recorder.port)
    async with RawServer(redirect_to(location), tls=pki.server) as tls:
        resp = await client.post(
            tls.url(host="localhost"),
            b'{"model": "m"}',
            {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        async with resp:
            assert resp.status == 307  # handed back, not followed
            assert resp.headers["Location"] == location
    assert recorder.connections == 0
    assert KEY.encode() not in recorder.received


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "303 See Other"])
async def test_a_get_is_never_redirected_from_https_to_http(
    client: Client, pki: Pki, recorder: Recorder, status: str
) -> None:
    location = f"http://localhost:{recorder.port}/v1/models"
    async with RawServer(redirect_to(location, status), tls=pki.server) as tls:
        resp = await client.get(tls.url("/v1/models", host="localhost"), {"x-api-key": KEY})
        async with resp:
            assert resp.status == int(status.split()[0])
    assert recorder.connections == 0


async def test_a_same_origin_redirect_is_still_followed(client: Client, pki: Pki) -> None:
    """The refusal is by origin, not a refusal of every redirect: ``https`` to the same
    host and port is followed, with the key (it stays on the encrypted connection)."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_message(reader)
            seen.append(head)
            if head.startswith(b"POST /old "):
                writer.write(response(b"", "Location: /new", status="308 Permanent Redirect"))
            else:
                writer.write(response(b"new"))
            await writer.drain()

    async with RawServer(handle, tls=pki.server) as tls:
        resp = await client.post(
            tls.url("/old", host="localhost"), b"{}", {"Authorization": f"Bearer {KEY}"}
        )
        async with resp:
            assert (resp.status, await resp.read()) == (200, b"new")
    assert [h.split(b" ")[1] for h in seen] == [b"/old", b"/new"]
    assert all(f"Bearer {KEY}".encode() in h for h in seen)
