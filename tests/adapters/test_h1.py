"""What only the desk's own HTTP/1.1 client does (the behaviour both implementations
share is in ``test_transport.py``): a pooled connection that dies under a request is
retried once on a new one, since the request never reached a server. aiohttp retries
only idempotent methods, so a chat POST there fails over to the next endpoint
instead."""

from __future__ import annotations

import asyncio

import pytest

from endpoint_desk.adapters.transport import pool_counts, shared_transport
from endpoint_desk.adapters.transport.h1 import H1Transport
from tests.adapters.transport_kit import Client, RawServer, response

pytestmark = pytest.mark.timeout(30)


async def test_retry_when_the_pooled_connection_dies_under_the_request() -> None:
    client = Client("h1")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await srv.read_request(reader)
            writer.write(response(b"ok"))
            await writer.drain()

    async with RawServer(handler) as srv:
        async with await client.post(srv.url()) as resp:
            assert await resp.read() == b"ok"
        h1 = shared_transport("h1")
        assert isinstance(h1, H1Transport)
        [pool] = h1._pools.values()
        [conn] = pool.idle
        assert conn.transport is not None
        conn.transport.close()  # dies now; the client learns it only after sending
        async with await client.post(srv.url()) as resp:
            assert await resp.read() == b"ok"
    assert srv.connections == 2
    assert len(srv.requests) == 2  # the lost write never reached a server


async def test_a_stale_connection_in_either_order_is_answered() -> None:
    """Whether the server's close reaches the client before the next request (the
    connection leaves the pool) or after (the request fails unanswered and is retried
    once), every request is answered."""
    client = Client("h1")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await srv.read_request(reader)
        writer.write(response(b"ok"))  # says keep-alive, then closes anyway
        await writer.drain()

    async with RawServer(handler) as srv:
        for _ in range(5):
            async with await client.post(srv.url()) as resp:
                assert await resp.read() == b"ok"
    assert srv.connections == 5
    assert pool_counts()[0] == 0
