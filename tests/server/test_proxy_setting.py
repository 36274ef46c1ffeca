"""An endpoint's proxy, set the way a user sets it (``PATCH /api/endpoints/NAME``),
carries its ``/v1`` traffic: a real desk and gateway, the sim as upstream, and the
test proxy of ``tests/adapters/transport_kit.py`` in between."""

from __future__ import annotations

import aiohttp
import pytest

from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer
from tests.adapters.transport_kit import Proxy

pytestmark = pytest.mark.timeout(60)


async def test_patching_proxy_routes_the_endpoint_through_it(
    server: RunningServer, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    port = sim.url.rsplit(":", 1)[1]
    spec = {
        "name": "far",
        "kind": "openai",
        "base_url": f"http://upstream.test:{port}",  # a name only the proxy knows
        "models": ["sim-model"],
        "prove": False,
    }
    async with http.post(server.url + "/api/endpoints", json=spec) as resp:
        assert resp.status == 201, await resp.text()
    ask = {"model": "sim-model", "messages": [{"role": "user", "content": "via proxy"}]}
    async with http.post(server.url + "/v1/chat/completions", json=ask) as resp:
        assert resp.status == 502  # no such host without the proxy

    async with Proxy() as proxy:
        async with http.patch(server.url + "/api/endpoints/far", json={"proxy": proxy.url}) as resp:
            assert resp.status == 200, await resp.text()
        async with http.post(server.url + "/v1/chat/completions", json=ask) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        assert body["choices"][0]["message"]["content"] == "Echo: via proxy"
        assert proxy.lines == [f"POST http://upstream.test:{port}/v1/chat/completions HTTP/1.1"]

    bad = {"proxy": "http://alice:hunter2-plain@proxy.test:3128"}
    async with http.patch(server.url + "/api/endpoints/far", json=bad) as resp:
        assert resp.status == 422
        text = await resp.text()
    assert "secret reference" in text and "hunter2-plain" not in text
