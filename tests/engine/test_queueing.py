"""No hidden limits, and limits that queue before they refuse: a desk over real sims."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from endpoint_desk.core.errors import Overloaded, RateLimited
from endpoint_desk.core.models import ChatRequest, EndpointKind, EndpointSpec
from endpoint_desk.engine.guards import Guard

from .conftest import settings, spec, until

Factory = Callable[..., Any]


def ask(model: str = "sim-model") -> ChatRequest:
    return ChatRequest.from_text("hello", model=model)


async def test_a_plain_endpoint_has_no_rate_or_concurrency_limit(rig_factory: Factory) -> None:
    rig = await rig_factory(1, latency=0.05)
    plain = EndpointSpec(name="plain", kind=EndpointKind.OPENAI, base_url=rig.sims[0].url + "/v1")
    view = await rig.desk.add(plain, prove=False)
    limits = view.spec.limits
    assert limits.max_requests_per_minute is None and limits.max_concurrent_requests is None
    # far more than the old 60 per minute, 64 at once (the old limit was 5)
    for _ in range(2):
        results = await asyncio.gather(*(rig.desk.chat(ask()) for _ in range(64)))
        assert len(results) == 64
    assert rig.chats(0) == 128
    assert rig.sims[0].stats.max_in_flight > 5


async def test_desk_defaults_apply_where_the_endpoint_sets_nothing(rig_factory: Factory) -> None:
    rig = await rig_factory(1, settings(defaults={"max_concurrent_requests": 3}))
    partial = EndpointSpec.model_validate(
        {
            "name": "partial",
            "kind": "openai",
            "base_url": rig.sims[0].url + "/v1",
            "limits": {"timeout_seconds": 7},
        }
    )
    view = await rig.desk.add(partial, prove=False)
    assert view.spec.limits.timeout_seconds == 7
    assert view.spec.limits.max_concurrent_requests == 3  # from [defaults]
    assert view.spec.limits.max_requests_per_minute is None


async def test_a_full_concurrency_limit_queues_and_shows_it(rig_factory: Factory) -> None:
    rig = await rig_factory(1, latency=0.2)
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"max_concurrent_requests": 2}))
    desk = rig.desk
    tasks = [asyncio.create_task(desk.chat(ask())) for _ in range(6)]
    await until(lambda: desk.endpoint("s0").metrics.queued == 4, what="four queued")
    assert desk.totals.snapshot().queued == 4
    assert desk.endpoint("s0").to_dict()["metrics"]["queued"] == 4
    results = await asyncio.gather(*tasks)
    assert {r.endpoint for r in results} == {"s0"}
    assert rig.sims[0].stats.max_in_flight == 2
    assert desk.endpoint("s0").metrics.queued == 0 and desk.totals.queued == 0


async def test_queued_requests_are_served_in_arrival_order(rig_factory: Factory) -> None:
    rig = await rig_factory(1, latency=0.05)
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"max_concurrent_requests": 1}))
    done: list[int] = []

    async def one(i: int) -> None:
        await rig.desk.chat(ask())
        done.append(i)

    tasks = []
    for i in range(5):
        tasks.append(asyncio.create_task(one(i)))
        await until(lambda n=i: rig.desk.endpoint("s0").metrics.queued == n, what="queued")
    await asyncio.gather(*tasks)
    assert done == [0, 1, 2, 3, 4]


async def test_the_queue_time_ends_in_429_with_retry_after(rig_factory: Factory) -> None:
    rig = await rig_factory(1)
    limits = {"max_concurrent_requests": 1, "queue_seconds": 0.3}
    await rig.desk.add(spec("s0", rig.sims[0].url, limits=limits))
    slow = asyncio.create_task(rig.desk.chat(ask("sim-model@latency=2"), endpoint="s0"))
    await until(lambda: rig.desk.endpoint("s0").metrics.in_flight == 1, what="in flight")
    started = time.monotonic()
    with pytest.raises(Overloaded) as info:
        await rig.desk.chat(ask())
    waited = time.monotonic() - started
    assert 0.25 <= waited < 1.5
    assert info.value.http_status == 429 and info.value.retry_after
    assert "max_concurrent_requests = 1" in str(info.value) and "queued 0." in str(info.value)
    await slow


async def test_the_desk_wide_queue_time_applies_when_the_endpoint_sets_none(
    rig_factory: Factory,
) -> None:
    rig = await rig_factory(1, settings(routing={"queue_seconds": 0.2}))
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"max_concurrent_requests": 1}))
    slow = asyncio.create_task(rig.desk.chat(ask("sim-model@latency=2"), endpoint="s0"))
    await until(lambda: rig.desk.endpoint("s0").metrics.in_flight == 1, what="in flight")
    with pytest.raises(Overloaded, match="queued 0"):
        await rig.desk.chat(ask())
    await slow


async def test_a_full_endpoint_fails_over_before_anyone_queues(rig_factory: Factory) -> None:
    rig = await rig_factory(2)
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"max_concurrent_requests": 1}))
    await rig.desk.add(spec("s1", rig.sims[1].url, tier=1))
    slow = asyncio.create_task(rig.desk.chat(ask("sim-model@latency=1"), endpoint="s0"))
    await until(lambda: rig.desk.endpoint("s0").metrics.in_flight == 1, what="in flight")
    started = time.monotonic()
    result = await rig.desk.chat(ask())
    assert result.endpoint == "s1" and time.monotonic() - started < 0.5
    assert (await slow).endpoint == "s0"


async def test_a_rate_limit_that_frees_in_time_is_waited_for(rig_factory: Factory) -> None:
    rig = await rig_factory(1)
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"max_requests_per_minute": 2}))
    desk = rig.desk
    # a one-second rate window (a minute is too long for a test)
    desk.guards["s0"] = Guard(desk.settings.breaker, rate_window=1.0)
    started = time.monotonic()
    results = await asyncio.gather(*(desk.chat(ask()) for _ in range(4)))
    assert len(results) == 4 and time.monotonic() - started >= 0.9
    # a slot that frees later than the queue time is refused at once, with Retry-After
    await desk.update("s0", limits={"max_requests_per_minute": 2, "queue_seconds": 0.1})
    desk.guards["s0"] = Guard(desk.settings.breaker, rate_window=30.0)
    await desk.chat(ask())
    await desk.chat(ask())
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        await desk.chat(ask())
    assert time.monotonic() - started < 0.1
    assert info.value.retry_after is not None and info.value.retry_after > 25


async def test_stored_endpoints_keep_the_limits_they_stored(rig_factory: Factory) -> None:
    from endpoint_desk.engine.desk import Desk

    rig = await rig_factory(1)
    old = EndpointSpec.model_validate(
        {
            "name": "old",
            "kind": "openai",
            "base_url": rig.sims[0].url + "/v1",
            "limits": {"max_requests_per_minute": 60, "max_concurrent_requests": 5},
        }
    )
    await rig.desk.add(old, prove=False)
    async with Desk(settings(), autostart=False) as again:  # another process, later
        limits = again.endpoint("old").spec.limits
        assert (limits.max_requests_per_minute, limits.max_concurrent_requests) == (60, 5)
