"""Settings, limits and ON/OFF over the management API and the gateway: PATCH with the
keys of ``desk set``, the test route on an endpoint switched OFF, a concurrency limit
that queues and then answers 429 with Retry-After, and the ``desk_queued`` gauge."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)

SECRET = "sk-patched-secret-0123456789"
AddSim = Callable[..., Awaitable[str]]


async def call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, str, dict[str, str]]:
    async with http.request(method, url, **kw) as resp:
        text = await resp.text()
        is_json = resp.content_type == "application/json"
        body = await resp.json(content_type=None) if text and is_json else None
        return resp.status, body, text, dict(resp.headers)


async def test_patch_takes_the_keys_of_desk_set(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession, sim: SimServer, add_sim: AddSim
) -> None:
    await add_sim(sim)
    url = server.url + "/api/endpoints/sim"
    status, body, text, _ = await call(
        http,
        "PATCH",
        url,
        json={
            "rpm": 100,
            "limits.timeout_seconds": 12,
            "model_mapping.gpt-4": "sim-large",
            "limits": {"max_concurrent_requests": 4},
            "api_key": SECRET,
        },
    )
    assert status == 200, text
    limits = body["spec"]["limits"]
    assert limits["max_requests_per_minute"] == 100 and limits["timeout_seconds"] == 12
    assert limits["max_concurrent_requests"] == 4 and limits["retry_attempts"] == 3
    assert body["spec"]["model_mapping"] == {"gpt-4": "sim-large"}
    assert {"key": "limits.timeout_seconds", "old": "30.0", "new": "12.0"} in body["changes"]
    assert SECRET not in text and desk.secrets.resolve(body["spec"]["api_key"]) == SECRET
    stored = (await desk.store.get_endpoint("sim")).spec
    assert stored.limits.max_requests_per_minute == 100

    # null unsets; the same engine call as desk set
    status, body, text, _ = await call(http, "PATCH", url, json={"rpm": None})
    assert status == 200 and body["spec"]["limits"]["max_requests_per_minute"] is None

    # bad keys and values: 422 naming them, nothing changed
    before = (await desk.store.get_endpoint("sim")).spec
    for patch, param, words in (
        ({"timout": 3}, "timout", "did you mean timeout?"),
        ({"timeout": 5, "concurrency": 0}, "concurrency", "must be at least 1"),
        ({"enabled": False}, "enabled", "start"),
        ({"name": "renamed"}, "name", "cannot be renamed"),
        ({"api_key": ["x", SECRET]}, "api_key", "must be text"),
    ):
        status, body, text, _ = await call(http, "PATCH", url, json=patch)
        assert status == 422, text
        assert body["error"]["param"] == param and words in body["error"]["message"]
        assert SECRET not in text
    assert (await desk.store.get_endpoint("sim")).spec == before


async def test_the_test_route_refuses_an_endpoint_switched_off_unless_forced(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession, sim: SimServer, add_sim: AddSim
) -> None:
    await add_sim(sim)
    await desk.stop("sim")
    url = server.url + "/api/endpoints/sim/test"
    chats = sim.stats.count("POST /v1/chat/completions")
    status, body, text, _ = await call(http, "POST", url, json={"message": "hi"})
    assert status == 409, text
    assert "switched OFF" in body["error"]["message"]
    assert sim.stats.count("POST /v1/chat/completions") == chats
    status, body, text, _ = await call(http, "POST", url, json={"message": "hi", "force": "yes"})
    assert status == 422 and body["error"]["param"] == "force"
    status, body, text, _ = await call(http, "POST", url, json={"message": "hi", "force": True})
    assert status == 200, text
    assert body["response"]["content"] == "Echo: hi"
    assert desk.endpoint("sim").state.value == "off"


async def test_a_full_limit_queues_then_answers_429_and_metrics_show_the_queue(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession, add_sim: AddSim
) -> None:
    async with SimServer(SimConfig(latency=1.5)) as slow:
        await add_sim(
            slow, prove=False, models=["sim-model"], limits={"max_concurrent_requests": 1}
        )
        await desk.configure("sim", {"queue": 0.5})
        chat = server.url + "/v1/chat/completions"
        body = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}]}
        first = asyncio.create_task(call(http, "POST", chat, json=body))
        second = asyncio.create_task(call(http, "POST", chat, json=body))
        for _ in range(200):
            _, _, metrics, _ = await call(http, "GET", server.url + "/metrics")
            if 'desk_queued{endpoint="sim"} 1.0' in metrics:
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the queued request never showed in /metrics")
        status, err, text, headers = await second
        assert status == 429, text
        assert "queued 0." in err["error"]["message"]
        assert int(headers["Retry-After"]) >= 1
        status, _, text, _ = await first
        assert status == 200, text
        _, _, metrics, _ = await call(http, "GET", server.url + "/metrics")
        assert 'desk_queued{endpoint="sim"} 0.0' in metrics
        assert "desk_total_queued 0.0" in metrics
