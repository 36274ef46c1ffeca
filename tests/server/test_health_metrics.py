"""``/health`` and ``/metrics`` (parsed by the Prometheus text parser)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]


async def test_health(
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim)
    async with http.get(server.url + "/health") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body == {"status": "ok", "store": "ok", "endpoints": 1, "serving": 1}


async def _scrape(http: aiohttp.ClientSession, url: str) -> dict[str, list[Sample]]:
    async with http.get(url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def _value(samples: list[Sample], name: str, **labels: str) -> float:
    for s in samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {name} {labels}")


async def test_metrics_count_requests_tokens_states_and_latency(
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim)
    before = desk.endpoint("sim").metrics.requests
    url = server.url + "/v1/chat/completions"
    for stream in (False, True, False):
        payload = {
            "model": "sim-model",
            "messages": [{"role": "user", "content": "count me"}],
            "stream": stream,
        }
        async with http.post(url, json=payload) as resp:
            assert resp.status == 200
            await resp.read()
    async with http.post(url, data=b"{broken") as resp:
        assert resp.status == 400

    async def histogram_caught_up() -> dict[str, list[Sample]]:
        while True:
            families = await _scrape(http, server.url)
            hist = families.get("desk_request_latency_seconds", [])
            if any(
                s.name.endswith("_count")
                and s.labels.get("endpoint") == "sim"
                and s.value >= before + 3
                for s in hist
            ):
                return families
            await asyncio.sleep(0.02)

    families = await asyncio.wait_for(histogram_caught_up(), timeout=5)
    assert _value(families["desk_requests"], "desk_requests_total", endpoint="sim") == before + 3
    assert _value(families["desk_request_errors"], "desk_request_errors_total", endpoint="sim") == 0
    out_tokens = _value(
        families["desk_tokens"], "desk_tokens_total", endpoint="sim", direction="output"
    )
    assert out_tokens >= 3
    assert (
        _value(families["desk_endpoint_state"], "desk_endpoint_state", endpoint="sim", state="on")
        == 1
    )
    assert (
        _value(families["desk_endpoint_state"], "desk_endpoint_state", endpoint="sim", state="off")
        == 0
    )
    assert _value(families["desk_in_flight"], "desk_in_flight", endpoint="sim") == 0
    ttft = families["desk_time_to_first_token_seconds"]
    assert _value(ttft, "desk_time_to_first_token_seconds_count", endpoint="sim") >= 3
    inf = _value(
        families["desk_request_latency_seconds"],
        "desk_request_latency_seconds_bucket",
        endpoint="sim",
        outcome="ok",
        le="+Inf",
    )
    assert inf >= before + 3
    assert _value(families["desk_http_responses"], "desk_http_responses_total", code="400") == 1
    assert _value(families["desk_http_responses"], "desk_http_responses_total", code="200") >= 3
    assert "desk_cost_usd" in families and "desk_total_requests" in families
