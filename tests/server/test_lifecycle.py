"""start_server / RunningServer: events on the bus, idempotent close, busy port."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import Event, ServerChanged
from endpoint_desk.server.app import start_server

pytestmark = pytest.mark.timeout(60)


async def test_server_changed_events_and_idempotent_close(desk: Desk) -> None:
    seen: list[ServerChanged] = []
    events = desk.events()

    async def watch() -> None:
        event: Event
        async for event in events:
            if isinstance(event, ServerChanged):
                seen.append(event)
                if event.url is None:
                    return

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)  # let the subscription start
    server = await start_server(desk, port=0)
    assert server.url == f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http, http.get(server.url + "/health") as resp:
        assert resp.status == 200
    await server.aclose()
    await server.aclose()
    await asyncio.wait_for(watcher, timeout=5)
    assert [e.url for e in seen] == [server.url, None]
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as http, http.get(server.url + "/health"):
            pass


async def test_busy_port_is_a_clear_error(desk: Desk) -> None:
    first = await start_server(desk, port=0)
    try:
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{first.port}"):
            await start_server(desk, port=first.port)
    finally:
        await first.aclose()
