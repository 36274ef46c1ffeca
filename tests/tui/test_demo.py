"""The demo portfolio (engine layer): real sims in-process, a real Desk on DESK_HOME."""

from __future__ import annotations

import asyncio
import time

import pytest

from endpoint_desk.core.config import Settings
from endpoint_desk.core.models import EndpointKind, EndpointSpec, EndpointState
from endpoint_desk.engine import demo
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)


async def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_start_demo_adds_marked_endpoints_that_answer(settings: Settings) -> None:
    async with Desk(settings, autostart=True) as desk:
        try:
            views = await demo.start_demo(desk, traffic=False)
            names = [v.name for v in views]
            assert names == [d.name for d in demo.DEMO_ENDPOINTS]
            assert all(v.spec.demo and v.state is EndpointState.ON for v in views)
            kinds = {v.spec.kind for v in views}
            assert {EndpointKind.OPENAI, EndpointKind.ANTHROPIC, EndpointKind.OLLAMA} <= kinds
            prices = {v.spec.prices.output_per_mtok for v in views if v.spec.prices}
            assert len(prices) >= 4  # different prices
            result = await desk.test("demo-premium", "hello")
            assert result.content == "Echo: hello" and result.usage.cost > 0
            # idempotent: a second call adds nothing
            again = await demo.start_demo(desk, traffic=False)
            assert len(again) == len(views) and len(desk.endpoints()) == len(views)
            assert demo.demo_running(desk)
        finally:
            await demo.stop_demo_servers(desk)
        assert not demo.demo_running(desk)


async def test_demo_resumes_after_a_restart_and_is_removed_in_one_call(
    settings: Settings,
) -> None:
    async with Desk(settings, autostart=False) as desk:
        first = {v.name: v.spec.base_url for v in await demo.start_demo(desk, traffic=False)}
        await demo.stop_demo_servers(desk)
    async with Desk(settings, autostart=False) as desk:
        try:
            views = await demo.start_demo(desk, traffic=False)
            assert {v.name for v in views} == set(first)
            assert all(v.spec.base_url != first[v.name] for v in views)  # new servers
            # the demo upstream fails 2% of requests on purpose; this one must not
            result = await desk.test("demo-swift", "back again", "sim-model@fail_rate=0")
            assert result.content == "Echo: back again"
        finally:
            removed = await demo.remove_demo(desk)
        assert sorted(removed) == sorted(first)
        assert desk.endpoints() == []
        assert await desk.store.list_endpoints() == []


async def test_demo_traffic_moves_the_figures_and_never_spends_real_money(
    settings: Settings,
) -> None:
    async with SimServer(SimConfig()) as real, Desk(settings, autostart=True) as desk:
        # a real endpoint that would serve any model name (it lists none)
        await desk.add(
            EndpointSpec(name="paid", kind=EndpointKind.OPENAI, base_url=real.url + "/v1"),
            prove=False,
        )
        try:
            await demo.start_demo(desk, traffic=True, interval=0.05)
            await wait_until(
                lambda: sum(v.metrics.requests for v in desk.endpoints() if v.spec.demo) >= 10
            )
        finally:
            await demo.stop_demo_servers(desk)
        assert desk.endpoint("paid").metrics.requests == 0
        # a health probe may list its models; no chat request ever reaches it
        assert real.stats.count("POST /v1/chat/completions") == 0


async def test_a_real_endpoint_with_a_demo_name_is_left_alone(settings: Settings) -> None:
    async with SimServer(SimConfig()) as real, Desk(settings, autostart=True) as desk:
        await desk.add(
            EndpointSpec(name="demo-swift", kind=EndpointKind.OPENAI, base_url=real.url + "/v1"),
            prove=False,
        )
        try:
            views = await demo.start_demo(desk, traffic=False)
        finally:
            await demo.stop_demo_servers(desk)
        assert "demo-swift" not in [v.name for v in views]
        assert desk.endpoint("demo-swift").spec.base_url == real.url + "/v1"
        removed = await demo.remove_demo(desk)
        assert "demo-swift" not in removed
        assert [v.name for v in desk.endpoints()] == ["demo-swift"]
