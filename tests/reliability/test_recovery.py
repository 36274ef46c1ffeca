"""The breaker takes a failing upstream out, the others take the traffic, and the health
loop brings it back when the upstream returns: a sim whose knobs change, a 429 storm,
and a sim *process* killed with SIGKILL mid-run and started again on the same port."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer

from .kit import AddEndpoint, Resources, children, settle, sim_url_of, start_sim_process, wait_for

pytestmark = pytest.mark.timeout(90)

Sims = Callable[..., Awaitable[SimServer]]


@pytest.fixture
def breaker() -> dict[str, Any]:
    """A quick stop-loss: 3 requests, half failing, 0.3 s first cooldown."""
    return {
        "min_requests": 3,
        "failure_threshold": 0.5,
        "window_seconds": 30.0,
        "cooldown_seconds": 0.3,
        "max_cooldown_seconds": 1.0,
    }


@pytest.fixture
def health() -> dict[str, Any]:
    """The health loop on (intervals come from each endpoint's limits)."""
    return {"enabled": True, "jitter": 0.0}


async def chat(
    http: aiohttp.ClientSession, server: RunningServer, text: str = "hi", stream: bool = False
) -> tuple[int, str, str]:
    """(status, served-by endpoint, content or error message)."""
    payload = {"model": "sim-model", "messages": [{"role": "user", "content": text}]}
    async with http.post(server.url + "/v1/chat/completions", json=payload) as resp:
        data = orjson.loads(await resp.read())
        endpoint = resp.headers.get("x-desk-endpoint", "")
        if resp.status == 200:
            return resp.status, endpoint, data["choices"][0]["message"]["content"]
        return resp.status, endpoint, data["error"]["message"]


def state(desk: Desk, name: str) -> str:
    return desk.endpoint(name).state.value


async def test_breaker_trips_and_health_loop_restores(
    sims: Sims, add: AddEndpoint, desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    flaky = await sims()
    steady = await sims()
    await add(flaky.url, "flaky", tier=0)
    await add(steady.url, "steady", tier=1)
    status, by, _ = await chat(http, server)
    assert (status, by) == (200, "flaky")

    flaky.config.fail_rate = 1.0  # the upstream goes bad
    flaky.config.fail_status = 502
    for i in range(6):
        status, by, content = await chat(http, server, f"m{i}")
        assert (status, by, content) == (200, "steady", f"Echo: m{i}")
    await wait_for(lambda: state(desk, "flaky") == "tripped", 3.0, "flaky tripped")
    seen = flaky.stats.total
    for i in range(5):  # tripped: requests no longer pay for the failing upstream
        assert (await chat(http, server, f"n{i}"))[:2] == (200, "steady")
    assert flaky.stats.requests.get("POST /v1/chat/completions", 0) <= seen

    flaky.config.fail_rate = 0.0  # the upstream returns
    await wait_for(lambda: state(desk, "flaky") == "on", 8.0, "flaky back ON by the health loop")
    status, by, _ = await chat(http, server)
    assert (status, by) == (200, "flaky")


async def test_429_storm_cools_down_and_comes_back(
    sims: Sims, add: AddEndpoint, desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """429 with Retry-After: the endpoint cools down that long (no request reaches it
    meanwhile), others take the traffic, and it returns when the storm ends."""
    storm = await sims()
    calm = await sims()
    await add(storm.url, "storm", tier=0, limits={"health_check_interval": 60})
    await add(calm.url, "calm", tier=1, limits={"health_check_interval": 60})
    storm.config.rate_limit = 1  # Retry-After: 1
    status, by, _ = await chat(http, server)
    assert (status, by) == (200, "calm")
    view = desk.endpoint("storm")
    assert view.state.value == "tripped", view
    assert view.until is not None and 0.5 < view.until - time.time() <= 1.2, view
    hits = storm.stats.total
    results = await asyncio.gather(*(chat(http, server, f"s{i}") for i in range(20)))
    assert all(r[:2] == (200, "calm") for r in results), results
    assert storm.stats.total == hits, "requests reached an endpoint cooling down after a 429"
    storm.config.rate_limit = 0  # the storm ends
    await wait_for(lambda: state(desk, "storm") == "on", 6.0, "storm back ON after Retry-After")
    assert (await chat(http, server))[:2] == (200, "storm")


async def test_upstream_process_killed_and_restarted_mid_run(
    tmp_path: Path,
    sims: Sims,
    add: AddEndpoint,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    """A real upstream process dies (SIGKILL) with requests in flight: every request is
    answered (the in-flight ones fail over), the endpoint is taken out, and when the
    process is back on the same port the health loop switches it ON again."""
    backup = await sims()
    with children() as procs:
        proc = start_sim_process(tmp_path, knobs="chunk_delay=0.03,chunks=20")
        procs.append(proc)
        url = sim_url_of(proc)
        port = int(url.rsplit(":", 1)[1])
        await add(url, "proc", tier=0)
        await add(backup.url, "backup", tier=1)
        assert (await chat(http, server, "warm"))[:2] == (200, "proc")
        before = await settle(Resources.now(), fd_slack=10**6, task_slack=10**6)

        async def load(i: int) -> tuple[int, str, str]:
            return await chat(http, server, f"k{i}")

        inflight = [asyncio.create_task(load(i)) for i in range(12)]
        await wait_for(
            lambda: desk.endpoint("proc").metrics.in_flight >= 6, 5.0, "requests in flight"
        )
        proc.signal(signal.SIGKILL)
        proc.wait(5)
        results = await asyncio.gather(*inflight)
        for i, (status, _by, content) in enumerate(results):
            assert status == 200, content
            assert content == f"Echo: k{i}"
            # cut mid-answer or not: the caller saw one whole answer, never two mixed
        assert any(by == "backup" for _, by, _ in results)
        for i in range(4):  # while it is down
            assert (await chat(http, server, f"d{i}"))[:2] == (200, "backup")
        await wait_for(lambda: state(desk, "proc") == "tripped", 5.0, "proc taken out")

        proc2 = start_sim_process(tmp_path, port=port, tag="sim2")
        procs.append(proc2)
        await wait_for(lambda: state(desk, "proc") == "on", 8.0, "proc back ON by the health loop")
        assert (await chat(http, server, "back"))[:2] == (200, "proc")
        await settle(before, fd_slack=4, task_slack=2)
