"""Both HTTP implementations behind the transport interface, case by case, against
real servers on 127.0.0.1 that answer exactly as each case needs: keep-alive reuse,
chunked and close-delimited bodies, gzip and deflate, stale connections, redirects,
timeouts, large bodies both ways, slow readers, truncation and garbage.

Every test runs once with the desk's own h1 client and once with aiohttp's."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import zlib
from collections.abc import Awaitable, Callable

import pytest

from endpoint_desk.adapters.transport import IMPLEMENTATIONS, pool_counts
from endpoint_desk.core.errors import BadRequest, ProtocolError, Unreachable, UpstreamTimeout
from tests.adapters.transport_kit import (
    Client,
    RawServer,
    echo,
    header,
    read_message,
    replies,
    response,
)

pytestmark = pytest.mark.timeout(30)

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture(params=IMPLEMENTATIONS)
def client(request: pytest.FixtureRequest) -> Client:
    return Client(str(request.param))


async def until(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Wait for a condition, failing with ``what`` after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.005)
    assert check(), what


async def test_keep_alive_reuses_one_connection(client: Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await echo(srv, reader, writer)

    async with RawServer(handler) as srv:
        for i in range(5):
            resp = await client.post(srv.url(), f"n{i}".encode(), {"X-Test": "1"})
            async with resp:
                assert resp.status == 200
                assert await resp.read() == f"POST /v1/chat/completions|n{i}".encode()
            assert pool_counts() == (0, 1)  # back in the pool, idle
        port = srv.port
    assert srv.connections == 1
    first = srv.requests[0]
    assert header(first, "Host") == f"127.0.0.1:{port}"
    assert header(first, "X-Test") == "1"
    assert header(first, "Content-Length") == "2"
    assert (header(first, "User-Agent") or "").startswith("endpoint-desk")
    assert header(first, "Accept-Encoding") is None  # neither asks for compression
    assert header(first, "Cookie") is None


async def test_get_sends_no_body(client: Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await echo(srv, reader, writer)

    async with RawServer(handler) as srv, await client.get(srv.url("/v1/models?x=1")) as resp:
        assert await resp.read() == b"GET /v1/models?x=1|"
    assert header(srv.requests[0], "Content-Length") in (None, "0")


async def test_chunked_body_streams_as_it_arrives(client: Client) -> None:
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
        got = []
        async with await client.post(srv.url()) as resp:
            async for block in resp.iter_any():
                got.append(block)
                go_on.set()  # the second chunk is sent only after the first arrived
        assert got == [b"first ", b"second"]


async def test_body_delimited_by_close_read_as_lines(client: Client) -> None:
    raw = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\ndata: a\n\ndata: b\n\ntail"
    async with RawServer(replies(raw)) as srv:
        async with await client.post(srv.url()) as resp:
            lines = [line async for line in resp.iter_lines()]
        assert lines == [b"data: a\n", b"\n", b"data: b\n", b"\n", b"tail"]


@pytest.mark.parametrize(
    "encoding, pack",
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as RFC 9110 says
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw, as some servers send
    ],
    ids=["gzip", "deflate", "raw-deflate"],
)
async def test_compressed_bodies_are_decompressed(
    client: Client, encoding: str, pack: Callable[[bytes], bytes]
) -> None:
    payload = b'{"choices": []}' * 1000

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        packed = pack(payload)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n")
        writer.write(f"Content-Encoding: {encoding}\r\n\r\n".encode())
        for i in range(0, len(packed), 100):  # in pieces, as a stream arrives
            piece = packed[i : i + 100]
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as srv, await client.post(srv.url()) as resp:
        assert await resp.read() == payload


async def test_a_broken_compressed_body_is_a_protocol_error(client: Client) -> None:
    raw = response(b"\x1f\x8bnot gzip at all", "Content-Encoding: gzip")
    async with RawServer(replies(raw, hold=True)) as srv:
        with pytest.raises(ProtocolError):
            async with await client.post(srv.url()) as resp:
                await resp.read()


async def test_a_connection_the_server_closed_while_idle_is_not_reused(client: Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(response(b"ok"))  # says keep-alive, then closes while idle
        await writer.drain()

    async with RawServer(handler) as srv:
        for _ in range(3):
            async with await client.post(srv.url()) as resp:
                assert await resp.read() == b"ok"
            # the client learns of the close (the pooled connection goes away)...
            await until(lambda: pool_counts()[1] == 0, "the closed connection left the pool")
        # ...and the next request takes a new connection instead of failing
    assert srv.connections == 3


async def test_silence_past_the_read_timeout(client: Client) -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        await reader.read()  # then nothing

    async with RawServer(trickle) as srv:
        resp = await client.post(srv.url(), timeout=0.3)
        with pytest.raises(UpstreamTimeout):
            async with resp:
                await resp.read()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers at all

    async with RawServer(mute) as srv:
        with pytest.raises(UpstreamTimeout):
            await client.post(srv.url(), timeout=0.3)


async def test_a_connect_that_does_not_complete_times_out(client: Client) -> None:
    """A server that accepts TCP but never answers the TLS handshake: the connect
    timeout (not the much longer read timeout) ends the wait."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    async with RawServer(silent) as srv:
        url = srv.url().replace("http://", "https://")
        with pytest.raises(UpstreamTimeout):
            await client.post(url, timeout=30, connect_timeout=0.3)


async def test_refused_connection(client: Client) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    with pytest.raises(Unreachable) as info:
        await client.post(f"http://127.0.0.1:{port}/v1/x")
    assert not isinstance(info.value, UpstreamTimeout)
    assert str(port) in str(info.value)


async def test_a_server_that_closes_mid_body(client: Client) -> None:
    short = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"
    async with RawServer(replies(short)) as srv:
        resp = await client.post(srv.url())
        with pytest.raises(ProtocolError, match="cut the reply short"):
            async with resp:
                await resp.read()

    cut_stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    async with RawServer(replies(cut_stream)) as srv:
        resp = await client.post(srv.url())
        got = b""
        with pytest.raises(ProtocolError):
            async with resp:
                async for block in resp.iter_any():
                    got += block
        assert got == b"hello"  # what came is delivered before the error


async def test_garbage_and_hang_ups(client: Client) -> None:
    async with RawServer(replies(b"SMTP READY\r\n\r\n", hold=True)) as srv:
        with pytest.raises(ProtocolError):
            await client.post(srv.url())

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # closes without a word

    async with RawServer(hang_up) as srv:
        with pytest.raises(Unreachable) as info:
            await client.post(srv.url())
        assert not isinstance(info.value, UpstreamTimeout)


async def test_large_bodies_both_ways(client: Client) -> None:
    """8 MiB up, 8 MiB down, byte for byte."""
    up = hashlib.sha256(b"up").digest() * (8 * 1024 * 1024 // 32)
    down = bytes(range(256)) * (8 * 1024 * 1024 // 256)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            body = await srv.read_request(reader)
            digest = hashlib.sha256(body).hexdigest().encode()
            writer.write(response(down, f"X-Got: {digest.decode()}"))
            await writer.drain()

    async with RawServer(handler) as srv:
        for _ in range(2):  # and the connection is reusable after it
            async with await client.post(srv.url(), up) as resp:
                assert resp.headers["X-Got"] == hashlib.sha256(up).hexdigest()
                assert await resp.read() == down
        assert srv.connections == 1


async def test_a_slow_reader_holds_back_the_server(client: Client) -> None:
    """Flow control: while the caller does not read, the client stops reading the
    socket, so the server's unsent bytes pile up on its side, not in our memory."""
    big = bytes(range(256)) * (16 * 1024 * 1024 // 256)  # 16 MiB
    sent: list[asyncio.StreamWriter] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        sent.append(writer)
        writer.write(response(big))
        await writer.drain()
        await reader.read()

    async with RawServer(handler) as srv:
        got = bytearray()
        async with await client.post(srv.url()) as resp:
            blocks = resp.iter_any()
            got += await anext(blocks)
            await until(lambda: bool(sent), "the server started sending")
            transport = sent[0].transport
            await until(
                lambda: transport.get_write_buffer_size() > 4 * 1024 * 1024,
                "the client stopped reading while nobody consumed the body",
            )
            async for block in blocks:
                got += block
        assert bytes(got) == big


async def test_a_response_left_unread_closes_its_connection(client: Client) -> None:
    walked_away = asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await srv.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n")
            await writer.drain()
            await walked_away.wait()  # the end of the body comes after the caller left
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    async with RawServer(handler) as srv:
        async with await client.post(srv.url(), timeout=5) as resp:
            assert resp.status == 200  # the caller stops here (a client went away)
        walked_away.set()
        async with await client.post(srv.url()) as resp:
            assert await resp.read() == b"hi"
    assert srv.connections == 2  # the first connection was not put back half-read


async def test_line_breaks_in_headers_are_refused(client: Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await echo(srv, reader, writer)

    async with RawServer(handler) as srv:
        with pytest.raises(BadRequest, match="line break"):
            await client.post(srv.url(), b"", {"X-Evil": "a\r\nInjected: 1"})
    assert srv.requests == []


async def test_head_and_no_content(client: Client) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_message(reader)
            if head.startswith(b"HEAD "):  # announces a body it does not send
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    async with RawServer(handler) as srv:
        async with await client.send("HEAD", srv.url()) as resp:
            assert resp.status == 200
            assert await resp.read() == b""
        async with await client.send("DELETE", srv.url()) as resp:
            assert (resp.status, await resp.read()) == (204, b"")


# ------------------------------------------------------------------------------ redirects


def redirector(
    srv_of: Callable[[], RawServer], routes: dict[str, tuple[str, str]]
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A handler: ``path -> (status, Location)`` redirects; anything else is echoed
    with the Authorization and X-Api-Key it came with."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        srv = srv_of()
        while True:
            head, body = await read_message(reader)
            srv.requests.append(head + body)
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
            if path in routes:
                status, location = routes[path]
                writer.write(response(b"moved", f"Location: {location}", status=status))
            else:
                auth = header(head, "Authorization") or "-"
                key = header(head, "X-Api-Key") or "-"
                line = f"{method} {path} auth={auth} key={key} body={body.decode()}"
                writer.write(response(line.encode()))
            await writer.drain()

    return handler


async def test_same_origin_redirects(client: Client) -> None:
    routes = {
        "/307": ("307 Temporary Redirect", "/new"),
        "/302": ("302 Found", "/new"),
        "/303": ("303 See Other", "/result"),
        "/loop": ("302 Found", "/loop"),
    }
    async with RawServer(redirector(lambda: srv, routes)) as srv:
        creds = {"Authorization": "Bearer k", "X-Api-Key": "k2"}
        async with await client.post(srv.url("/307"), b"{}", creds) as resp:
            assert await resp.read() == b"POST /new auth=Bearer k key=k2 body={}"
        async with await client.post(srv.url("/302"), b"{}", creds) as resp:
            assert await resp.read() == b"POST /new auth=Bearer k key=k2 body={}"
        async with await client.get(srv.url("/302"), creds) as resp:
            assert await resp.read() == b"GET /new auth=Bearer k key=k2 body="
        async with await client.post(srv.url("/303"), b"{}", creds) as resp:
            assert await resp.read() == b"GET /result auth=Bearer k key=k2 body="
        async with await client.get(srv.url("/loop")) as resp:
            assert resp.status == 302  # gave up after a few hops
    paths = [r.split(b" ")[1].decode() for r in srv.requests]
    assert paths.count("/loop") == 4  # the request and three redirects


async def test_cross_origin_redirects_drop_credentials_or_are_refused(client: Client) -> None:
    async with RawServer(redirector(lambda: other, {})) as other:
        elsewhere = other.url("/there", host="localhost")  # another host name: another origin
        routes = {"/get": ("302 Found", elsewhere), "/post": ("307 Temporary Redirect", elsewhere)}
        async with RawServer(redirector(lambda: srv, routes)) as srv:
            creds = {"Authorization": "Bearer k", "X-Api-Key": "k2", "X-Custom-Secret": "s3"}
            async with await client.get(srv.url("/get"), creds) as resp:
                assert await resp.read() == b"GET /there auth=- key=- body="
            async with await client.post(srv.url("/post"), b"{}", creds) as resp:
                assert resp.status == 307  # a body is not carried to another origin
                assert resp.headers["Location"] == elsewhere
    [followed] = other.requests
    assert b"Bearer k" not in followed and b"k2" not in followed and b"s3" not in followed
