"""The hot-path HTTP/1.1 client against real sockets on 127.0.0.1: raw servers that
answer exactly as each case needs (keep-alive, chunked, close-delimited, stale
connections, silence, truncation, garbage, gzip)."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from endpoint_desk.adapters.h1 import ConnectFailed, Disconnected, H1Client

pytestmark = pytest.mark.timeout(30)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server on 127.0.0.1 whose handler answers each connection."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/chat/completions"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def response(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
async def client() -> AsyncIterator[H1Client]:
    c = H1Client(asyncio.get_running_loop())
    yield c
    c.close()


async def test_keep_alive_reuses_one_connection(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await srv.read_request(reader)
            writer.write(response(b"echo:" + body, "Content-Type: application/json"))
            await writer.drain()

    async with RawServer(handler) as srv:
        for i in range(5):
            resp = await client.post(srv.url, f"n{i}".encode(), {"X-Test": "1"})
            async with resp:
                assert resp.status == 200
                assert resp.headers["content-type"] == "application/json"
                assert await resp.read() == f"echo:n{i}".encode()
            assert client.counts() == (0, 1)  # back in the pool, idle
    assert srv.connections == 1
    first = srv.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in first and b"\r\nX-Test: 1\r\n" in first
    assert b"\r\nUser-Agent: endpoint-desk" in first


async def test_chunked_body_streams_as_it_arrives(client: H1Client) -> None:
    go_on = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b"6\r\nfirst \r\n")
        await writer.drain()
        await go_on.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()  # keep the connection until the client is done

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        got = []
        async with resp:
            async for block in resp.content.iter_any():
                got.append(block)
                go_on.set()  # the second chunk is sent only after the first arrived
        assert got == [b"first ", b"second"]


async def test_body_delimited_by_close_and_lines(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata: a\n\ndata: b\n\n")
        await writer.drain()

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            lines = [line async for line in resp.content]
        assert lines == [b"data: a\n", b"\n", b"data: b\n", b"\n"]


async def test_a_stale_pooled_connection_is_retried_on_a_new_one(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(response(b"ok"))  # says keep-alive, then closes anyway
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with RawServer(handler) as srv:
        for _ in range(3):
            # whether the server's close reaches the client before the next request
            # (the connection is dropped from the pool) or after (the request fails
            # unanswered and is retried once), every request is answered
            resp = await client.post(srv.url, b"{}", {})
            async with resp:
                assert await resp.read() == b"ok"
    assert srv.connections == 3


async def test_silence_past_the_read_timeout(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await reader.read()  # then nothing

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {}, read_timeout=0.3)
        with pytest.raises(TimeoutError):
            async with resp:
                await resp.read()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers at all

    async with RawServer(mute) as srv:
        with pytest.raises(TimeoutError):
            await client.post(srv.url, b"{}", {}, read_timeout=0.3)


async def test_refused_connection(client: H1Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(ConnectFailed) as info:
        await client.post(f"http://127.0.0.1:{port}/v1/x", b"{}", {})
    assert info.value.port == port


async def test_truncated_and_garbage_responses(client: H1Client) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        await writer.drain()

    async with RawServer(short) as srv:
        resp = await client.post(srv.url, b"{}", {})
        with pytest.raises(Disconnected) as info:
            async with resp:
                await resp.read()
        assert info.value.started

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SMTP READY\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(garbage) as srv:
        with pytest.raises(ValueError, match="not valid HTTP"):
            await client.post(srv.url, b"{}", {})

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # closes without a word

    async with RawServer(hang_up) as srv:
        with pytest.raises(Disconnected) as info:
            await client.post(srv.url, b"{}", {})
        assert not info.value.started


async def test_gzip_body_is_decompressed(client: H1Client) -> None:
    payload = b'{"choices": []}' * 100

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(response(gzip.compress(payload), "Content-Encoding: gzip"))
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            assert await resp.read() == payload


async def test_large_body_with_a_slow_reader(client: H1Client) -> None:
    big = bytes(range(256)) * 8192  # 2 MiB: reading pauses and resumes on the way

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(response(big))
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        got = bytearray()
        async with resp:
            async for block in resp.iter_any():
                got += block
                await asyncio.sleep(0.001)
        assert bytes(got) == big


async def test_a_response_left_unread_closes_its_connection(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await srv.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
            await writer.drain()
            await asyncio.sleep(0.2)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            assert resp.status == 200  # the caller stops here (a client went away)
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            assert await resp.read() == b"hi"
    assert srv.connections == 2  # the first connection was not put back half-read


async def test_line_breaks_in_headers_are_refused(client: H1Client) -> None:
    with pytest.raises(ValueError, match="line break"):
        await client.post("http://127.0.0.1:9/x", b"", {"X-Evil": "a\r\nInjected: 1"})
    with pytest.raises(ValueError, match="not an http"):
        await client.post("ftp://127.0.0.1/x", b"", {})


async def test_retry_when_the_pooled_connection_dies_under_the_request(client: H1Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await srv.read_request(reader)
            writer.write(response(b"ok"))
            await writer.drain()

    async with RawServer(handler) as srv:
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            assert await resp.read() == b"ok"
        [pool] = client._pools.values()
        [conn] = pool.idle
        assert conn.transport is not None
        conn.transport.close()  # dies now; the client learns it only after sending
        resp = await client.post(srv.url, b"{}", {})
        async with resp:
            assert await resp.read() == b"ok"
    assert srv.connections == 2
    assert len(srv.requests) == 2  # the lost write never reached a server


async def test_https_with_certificate_checks(
    client: H1Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    import trustme

    from endpoint_desk.adapters import h1

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await reader.readuntil(b"\r\n\r\n")
            assert body.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost:")
            await reader.readexactly(2)
            writer.write(response(b"secret ok"))
            await writer.drain()

    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        monkeypatch.setattr(h1, "_ssl_context", lambda: trusting)
        resp = await client.post(f"https://localhost:{port}/v1/chat/completions", b"{}", {})
        async with resp:
            assert await resp.read() == b"secret ok"
        # a certificate the client does not trust is refused, not ignored
        monkeypatch.setattr(h1, "_ssl_context", ssl.create_default_context)
        other = H1Client(asyncio.get_running_loop())
        try:
            with pytest.raises(ConnectFailed, match="CERTIFICATE_VERIFY_FAILED"):
                await other.post(f"https://localhost:{port}/v1/chat/completions", b"{}", {})
        finally:
            other.close()
    finally:
        server.close()


async def test_redirects_on_the_same_host_only(client: H1Client) -> None:
    paths: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
            body = await reader.readexactly(length)
            path = head.split(" ")[1]
            paths.append(path)
            port = srv.url.split(":")[2].split("/")[0]
            if path == "/old":
                writer.write(response(b"", "Location: /new", status="307 Temporary Redirect"))
            elif path == "/away":
                where = f"http://localhost:{port}/new"  # another host name, same server
                writer.write(response(b"", f"Location: {where}", status="308 Permanent Redirect"))
            elif path == "/loop":
                writer.write(response(b"", "Location: /loop", status="302 Found"))
            else:
                writer.write(response(b"at " + path.encode() + b" got " + body))
            await writer.drain()

    async with RawServer(handler) as srv:
        base = srv.url.rsplit("/v1/", 1)[0]
        resp = await client.post(base + "/old", b"{}", {"Authorization": "Bearer k"})
        async with resp:
            assert (resp.status, await resp.read()) == (200, b"at /new got {}")
        resp = await client.post(base + "/away", b"{}", {"Authorization": "Bearer k"})
        async with resp:
            assert resp.status == 308  # not followed to another host with the key
        resp = await client.post(base + "/loop", b"{}", {})
        async with resp:
            assert resp.status == 302  # gave up after a few hops
    assert paths == ["/old", "/new", "/away"] + ["/loop"] * 4
