"""The risk engine against real simulated upstreams on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from endpoint_desk.core.errors import BudgetExceeded, DeskError, RateLimited
from endpoint_desk.core.models import ChatRequest, EndpointState, Prices
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import Alert, RequestDone

from .conftest import Rig, settings, spec, until

Factory = Callable[..., Any]


def ask(text: str = "hello", **kw: Any) -> ChatRequest:
    return ChatRequest.from_text(text, model="sim-model", **kw)


async def add_all(rig: Rig, **per: dict[str, Any]) -> None:
    for i, sim in enumerate(rig.sims):
        name = f"s{i}"
        await rig.desk.add(spec(name, sim.url, **per.get(name, {})), prove=False)


def alerts(rig: Rig, title: str) -> list[Alert]:
    return [e for e in rig.events if isinstance(e, Alert) and e.title == title]


# ---------------------------------------------------------------- strategies


async def test_round_robin_spreads_evenly(rig_factory: Factory) -> None:
    rig = await rig_factory(3, settings(routing={"strategy": "round_robin"}))
    await add_all(rig)
    for _ in range(60):
        await rig.desk.chat(ask())
    assert [rig.chats(i) for i in range(3)] == [20, 20, 20]


async def test_weighted_follows_the_weights(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(routing={"strategy": "weighted"}))
    await add_all(rig, s0={"weight": 3}, s1={"weight": 1})
    for _ in range(80):
        await rig.desk.chat(ask())
    assert (rig.chats(0), rig.chats(1)) == (60, 20)


async def test_latency_prefers_the_fast_upstream(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(routing={"strategy": "latency"}))
    await add_all(rig)
    rig.sims[1].config.update({"ttft": 0.04})
    for _ in range(60):
        await rig.desk.chat(ask(stream=True))
    assert rig.chats(0) >= 48, (rig.chats(0), rig.chats(1))
    assert rig.chats(1) >= 1  # measured (and explored), never starved of samples
    m0, m1 = rig.desk.endpoint("s0").metrics, rig.desk.endpoint("s1").metrics
    assert m0.ttft_p50_ms is not None and m1.ttft_p50_ms is not None
    assert m1.ttft_p50_ms > m0.ttft_p50_ms + 30


async def test_latency_band_shares_near_equal_upstreams(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(routing={"strategy": "latency", "latency_tolerance": 1.0}))
    await add_all(rig)
    for sim in rig.sims:
        sim.config.update({"ttft": 0.05})
    for _ in range(40):
        await rig.desk.chat(ask(stream=True))
    assert min(rig.chats(0), rig.chats(1)) >= 10, (rig.chats(0), rig.chats(1))


async def test_least_busy_avoids_the_busy_upstream(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(routing={"strategy": "least_busy"}))
    await add_all(rig)
    desk = rig.desk
    slow = ChatRequest.from_text("slow", model="sim-model@latency=0.5")

    async def hold(name: str, n: int) -> list[Any]:
        tasks = [asyncio.create_task(desk.chat(slow, endpoint=name)) for _ in range(n)]
        await until(lambda: desk.endpoint(name).metrics.in_flight == n, what="in flight")
        return tasks

    held = await hold("s0", 2)
    served = [(await desk.chat(ask())).endpoint for _ in range(10)]
    assert served == ["s1"] * 10  # round robin would have sent five to s0
    await asyncio.gather(*held)
    held = await hold("s1", 1)
    served = [(await desk.chat(ask())).endpoint for _ in range(5)]
    assert served == ["s0"] * 5
    await asyncio.gather(*held)


async def test_cost_prefers_the_cheapest(rig_factory: Factory) -> None:
    rig = await rig_factory(3, settings(routing={"strategy": "cost"}))
    await add_all(
        rig,
        s0={"prices": Prices(input_per_mtok=3, output_per_mtok=15)},
        s1={"prices": Prices(input_per_mtok=0.1, output_per_mtok=0.4)},
        s2={"prices": Prices(input_per_mtok=1, output_per_mtok=4)},
    )
    results = [await rig.desk.chat(ask()) for _ in range(10)]
    assert {r.endpoint for r in results} == {"s1"}
    assert all(r.usage.cost > 0 for r in results)
    # the cheapest fails: the next cheapest takes over, never the dearest
    rig.sims[1].config.update({"fail_rate": 1.0})
    r = await rig.desk.chat(ask())
    assert r.endpoint == "s2" and [a.endpoint for a in r.attempts] == ["s1", "s2"]


async def test_success_rate_moves_traffic_to_the_reliable_upstream(rig_factory: Factory) -> None:
    cfg = settings(breaker={"min_requests": 1000})  # keep the breaker out of it
    rig = await rig_factory(2, cfg)
    await add_all(rig)
    rig.sims[0].config.update({"fail_rate": 0.6, "fail_status": 503})
    results = [await rig.desk.chat(ask()) for _ in range(100)]
    assert all(r.content == "Echo: hello" for r in results)  # failover hid every failure
    served = [r.endpoint for r in results[-50:]]
    assert served.count("s1") >= 40, served.count("s1")


async def test_per_model_strategy_and_tiers(rig_factory: Factory) -> None:
    cfg = settings(routing={"strategy": "round_robin", "per_model": {"sim-large": "cost"}})
    rig = await rig_factory(3, cfg)
    models = ["sim-model", "sim-large"]
    await add_all(
        rig,
        s0={"models": models, "prices": Prices(input_per_mtok=5)},
        s1={"models": models, "prices": Prices(input_per_mtok=1)},
        s2={"models": models, "tier": 1},
    )
    small = [(await rig.desk.chat(ask())).endpoint for _ in range(10)]
    large = [
        (await rig.desk.chat(ChatRequest.from_text("x", model="sim-large"))).endpoint
        for _ in range(5)
    ]
    assert small.count("s0") == small.count("s1") == 5  # tier 1 waits
    assert set(large) == {"s1"}
    assert rig.chats(2) == 0


# ---------------------------------------------------------------- failover


async def test_failover_hides_a_failing_upstream_and_records_attempts(rig_factory: Factory) -> None:
    cfg = settings(routing={"strategy": "round_robin"}, breaker={"min_requests": 1000})
    rig = await rig_factory(2, cfg)
    await add_all(rig)
    rig.sims[0].config.update({"fail_rate": 1.0, "fail_status": 502})
    results = [await rig.desk.chat(ask()) for _ in range(10)]
    assert all(r.endpoint == "s1" for r in results)
    tried_first = [r for r in results if len(r.attempts) == 2]
    assert len(tried_first) == 5
    for r in tried_first:
        assert r.attempts[0].endpoint == "s0" and r.attempts[0].error_kind == "upstream"
        assert r.attempts[1].endpoint == "s1" and r.attempts[1].error is None
    assert rig.desk.endpoint("s0").metrics.errors == 5


async def test_no_failover_after_the_first_chunk(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(breaker={"min_requests": 1000}))
    await add_all(rig, s1={"tier": 1})
    rig.sims[0].config.update({"truncate": True, "chunks": 4})
    stream = rig.desk.stream(ask("one two three four five six", stream=True))
    got: list[str] = []
    with pytest.raises(DeskError):
        async for chunk in stream:
            got.append(chunk.delta)
    assert "".join(got)  # part of s0's answer came through...
    assert rig.chats(1) == 0  # ...and s1 was never asked to add its own
    assert stream.endpoint == "s0"


async def test_retry_attempts_bound_the_failover(rig_factory: Factory) -> None:
    rig = await rig_factory(3, settings(breaker={"min_requests": 1000}))
    limits = {"retry_attempts": 1}
    await add_all(rig, s0={"limits": limits}, s1={"limits": limits, "tier": 1}, s2={"tier": 2})
    for sim in rig.sims:
        sim.config.update({"fail_rate": 1.0})
    with pytest.raises(DeskError):
        await rig.desk.chat(ask())
    assert (rig.chats(0), rig.chats(1), rig.chats(2)) == (1, 1, 0)


# ---------------------------------------------------------------- breaker and health


async def test_breaker_trips_and_health_loop_brings_it_back(rig_factory: Factory) -> None:
    cfg = settings(
        routing={"strategy": "round_robin"},
        breaker={
            "window_seconds": 30,
            "min_requests": 3,
            "failure_threshold": 0.5,
            "cooldown_seconds": 0.2,
            "max_cooldown_seconds": 0.4,
        },
    )
    rig = await rig_factory(2, cfg)
    await add_all(rig)  # tripped endpoints are probed when their cooldown ends
    rig.sims[0].config.update({"fail_rate": 1.0})
    desk = rig.desk
    for _ in range(8):
        assert (await desk.chat(ask())).endpoint == "s1"  # failover hides it meanwhile
    assert desk.endpoint("s0").state is EndpointState.TRIPPED
    assert "stop-loss" in desk.endpoint("s0").reason
    await until(lambda: bool(alerts(rig, "Tripped")), what="the alert")
    # still failing: probes with backoff keep it out
    before = rig.chats(0)
    n0 = rig.sims[0].stats.count("GET /v1/models")
    await until(lambda: rig.sims[0].stats.count("GET /v1/models") >= n0 + 2, what="probes")
    assert desk.endpoint("s0").state is EndpointState.TRIPPED
    for _ in range(5):
        await desk.chat(ask())
    assert rig.chats(0) == before  # tripped: no traffic
    # the upstream recovers: the health loop switches it back ON
    rig.sims[0].config.update({"fail_rate": 0.0})
    await until(lambda: desk.endpoint("s0").state is EndpointState.ON, what="recovery")
    await until(lambda: bool(alerts(rig, "Recovered")), what="the alert")
    served = {(await desk.chat(ask())).endpoint for _ in range(4)}
    assert served == {"s0", "s1"}


async def test_failures_half_way_to_the_threshold_mark_it_degraded(rig_factory: Factory) -> None:
    cfg = settings(breaker={"window_seconds": 60, "min_requests": 4, "failure_threshold": 0.5})
    rig = await rig_factory(1, cfg)
    await add_all(rig)
    desk = rig.desk
    for _ in range(4):
        await desk.chat(ask())
    rig.sims[0].config.update({"fail_rate": 1.0, "fail_status": 502})
    for _ in range(2):
        with pytest.raises(DeskError):
            await desk.chat(ask())
    view = desk.endpoint("s0")
    assert view.state is EndpointState.DEGRADED  # 2 of 6 failed: still serving
    assert "2 of 6 requests failed" in view.reason
    await until(lambda: bool(alerts(rig, "Degraded")), what="the alert")
    rig.sims[0].config.update({"fail_rate": 0.0})
    assert (await desk.chat(ask())).endpoint == "s0"  # degraded endpoints still serve
    assert desk.endpoint("s0").state is EndpointState.DEGRADED  # 2 of 7: not yet
    await desk.chat(ask())
    assert desk.endpoint("s0").state is EndpointState.DEGRADED  # 2 of 8 = 0.25: not yet
    await desk.chat(ask())
    assert desk.endpoint("s0").state is EndpointState.ON  # 2 of 9: below a quarter
    # the alert is kept: another desk on the same database (a restart) reads it back
    [kept] = [a for a in await desk.alert_history("s0") if a.title == "Degraded"]
    assert kept.level == "warning" and "2 of 6 requests failed" in kept.message
    async with Desk(settings(), autostart=False) as later:
        assert [a.title for a in await later.alert_history("s0")] == ["Degraded"]
        assert await later.alert_history("nobody") == []


async def test_upstream_429_cools_down_for_retry_after(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(routing={"strategy": "round_robin"}))
    await add_all(rig)
    rig.sims[0].config.update({"rate_limit": 7})
    t0 = time.time()
    results = [await rig.desk.chat(ask()) for _ in range(4)]
    assert all(r.endpoint == "s1" for r in results)
    view = rig.desk.endpoint("s0")
    assert view.state is EndpointState.TRIPPED and "rate limited" in view.reason
    assert view.until is not None and 6.5 <= view.until - t0 <= 8.0
    assert rig.chats(0) == 1
    await until(lambda: bool(alerts(rig, "Cooling down")), what="the alert")


async def test_all_tripped_tries_the_one_whose_cooldown_ends_first(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings())
    await add_all(rig)
    desk = rig.desk
    # the desk trips both (one ends sooner); a request still goes out to that one
    trip = desk.portfolio.set_state_soon
    trip(desk.portfolio.position("s0"), EndpointState.TRIPPED, "test", time.time() + 60)
    trip(desk.portfolio.position("s1"), EndpointState.TRIPPED, "test", time.time() + 30)
    r = await desk.chat(ask())
    assert r.endpoint == "s1"
    assert desk.endpoint("s1").state is EndpointState.ON  # it served: back in
    assert desk.endpoint("s0").state is EndpointState.TRIPPED


async def test_a_persons_off_survives_the_health_loop(rig_factory: Factory) -> None:
    cfg = settings(
        breaker={"min_requests": 1, "cooldown_seconds": 0.05, "max_cooldown_seconds": 0.1}
    )
    rig = await rig_factory(2, cfg)
    fast = {"limits": {"health_check_interval": 0.05}}
    await add_all(rig, s0=fast, s1=fast)
    desk = rig.desk
    rig.sims[0].config.update({"fail_rate": 1.0})
    for _ in range(3):
        await desk.chat(ask())
    await until(lambda: desk.endpoint("s0").state is EndpointState.TRIPPED)
    await desk.stop("s0")  # a person switches it off while it is tripped
    await desk.stop("s1")  # and another one while it is healthy
    rig.sims[0].config.update({"fail_rate": 0.0})
    probes = [sim.stats.count("GET /v1/models") for sim in rig.sims]
    await asyncio.sleep(0.5)  # ten probe intervals, many cooldowns
    assert [sim.stats.count("GET /v1/models") for sim in rig.sims] == probes
    assert desk.endpoint("s0").state is EndpointState.OFF
    assert desk.endpoint("s1").state is EndpointState.OFF
    await desk.start("s1")
    assert desk.endpoint("s1").state is EndpointState.ON
    await until(lambda: rig.sims[1].stats.count("GET /v1/models") > probes[1], what="probe")


async def test_dead_upstream_at_start_is_retried_by_the_health_loop(rig_factory: Factory) -> None:
    from endpoint_desk.sim import SimConfig, SimServer

    cfg = settings(breaker={"cooldown_seconds": 0.1, "max_cooldown_seconds": 0.2})
    rig = await rig_factory(1, cfg)
    desk = rig.desk
    sim = SimServer(SimConfig())
    await sim.start()
    url = sim.url
    port = sim.port
    await sim.stop()
    await desk.add(spec("late", url, limits={"health_check_interval": 0.1}), prove=False)
    late = desk.portfolio.position("late")
    desk.portfolio.set_state_soon(late, EndpointState.TRIPPED, "down", time.time() + 0.1)
    await until(lambda: desk.endpoint("late").metrics.health_samples >= 2, what="failed probes")
    assert desk.endpoint("late").state is EndpointState.TRIPPED
    sim = SimServer(SimConfig(), port=port)
    await sim.start()
    try:
        await until(lambda: desk.endpoint("late").state is EndpointState.ON, what="recovery")
        r = await desk.chat(ask())
        assert r.endpoint == "late"
    finally:
        await sim.stop()


# ---------------------------------------------------------------- limits and budgets


async def test_rate_limit_holds_under_concurrent_load(rig_factory: Factory) -> None:
    rig = await rig_factory(1, settings())
    await add_all(rig, s0={"limits": {"max_requests_per_minute": 5}})
    outcomes = await asyncio.gather(
        *(rig.desk.chat(ask()) for _ in range(12)), return_exceptions=True
    )
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    limited = [o for o in outcomes if isinstance(o, RateLimited)]
    assert len(ok) == 5 and len(limited) == 7
    assert rig.chats(0) == 5
    assert limited[0].retry_after is not None and "5 requests per minute" in str(limited[0])


async def test_rate_limited_endpoint_overflows_to_the_next(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings())
    await add_all(rig, s0={"limits": {"max_requests_per_minute": 3}}, s1={"tier": 1})
    results = await asyncio.gather(*(rig.desk.chat(ask()) for _ in range(10)))
    assert [r.endpoint for r in results].count("s0") == 3
    assert (rig.chats(0), rig.chats(1)) == (3, 7)


async def test_concurrency_limit_holds_and_requests_queue(rig_factory: Factory) -> None:
    rig = await rig_factory(1, settings())
    await add_all(rig, s0={"limits": {"max_concurrent_requests": 2}})
    rig.sims[0].config.update({"latency": 0.05})
    results = await asyncio.gather(*(rig.desk.chat(ask()) for _ in range(8)))
    assert len(results) == 8
    assert rig.sims[0].stats.max_in_flight == 2
    assert rig.desk.guards["s0"].peak_in_flight == 2


async def test_endpoint_budget_stops_spending(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings())
    dear = Prices(input_per_mtok=100_000, output_per_mtok=100_000)  # ~0.3 USD a request
    await add_all(
        rig,
        s0={"prices": dear, "limits": {"daily_budget": 1.0}},
        s1={"tier": 1, "prices": dear, "limits": {"daily_budget": 0.5}},
    )
    served = []
    with pytest.raises(BudgetExceeded) as info:
        for _ in range(20):
            served.append((await rig.desk.chat(ask())).endpoint)
    assert "daily budget" in str(info.value)
    s0 = rig.desk.endpoint("s0").metrics.cost_today
    assert 1.0 <= s0 < 1.4
    assert served.count("s0") == rig.chats(0) and served.count("s1") == rig.chats(1) >= 1
    await until(lambda: len(alerts(rig, "Budget reached")) == 2, what="two alerts")
    assert {a.name for a in alerts(rig, "Budget reached")} == {"s0", "s1"}


async def test_desk_budget_stops_every_endpoint(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings(budget={"daily_desk_budget": 0.5}))
    dear = Prices(input_per_mtok=100_000, output_per_mtok=100_000)
    await add_all(rig, s0={"prices": dear}, s1={"prices": dear})
    n = 0
    with pytest.raises(BudgetExceeded, match="desk reached its daily budget"):
        for _ in range(20):
            await rig.desk.chat(ask())
            n += 1
    assert rig.chats(0) + rig.chats(1) == n
    assert rig.desk.totals.spend_today() >= 0.5
    with pytest.raises(BudgetExceeded):
        await rig.desk.chat(ask())
    await until(lambda: len(alerts(rig, "Budget reached")) >= 1, what="an alert")
    assert len(alerts(rig, "Budget reached")) == 1  # once a day, not per request


# ---------------------------------------------------------------- cache


async def test_cache_serves_hits_without_the_upstream(rig_factory: Factory) -> None:
    rig = await rig_factory(2, settings())
    await add_all(rig, s0={"cache": True, "prices": Prices(input_per_mtok=1, output_per_mtok=1)})
    await rig.desk.stop("s1")
    first = await rig.desk.chat(ask("what is 2+2"))
    hit = await rig.desk.chat(ask("what is 2+2", stream=True))
    assert rig.chats(0) == 1
    assert hit.cached and not first.cached
    assert hit.content == first.content and hit.usage.cost == 0 and first.usage.cost > 0
    assert hit.to_dict()["cached"] is True
    # sampled requests skip the cache unless they ask for it
    await rig.desk.chat(ask("what is 2+2", temperature=0.8))
    assert rig.chats(0) == 2
    await rig.desk.chat(ask("sampled", temperature=0.8, cache=True))
    again = await rig.desk.chat(ask("sampled", temperature=0.8, cache=True))
    assert again.cached and rig.chats(0) == 3
    # a request may refuse the cache
    await rig.desk.chat(ask("what is 2+2", cache=False))
    assert rig.chats(0) == 4
    m = rig.desk.endpoint("s0").metrics
    assert m.cache_hits == 2 and m.requests == 6
    assert m.cache_hit_rate == pytest.approx(2 / 6)
    done = [e for e in rig.events if isinstance(e, RequestDone) and e.cached]
    assert len(done) == 2


async def test_cache_is_opt_in(rig_factory: Factory) -> None:
    rig = await rig_factory(1, settings())
    await add_all(rig)
    for _ in range(3):
        assert not (await rig.desk.chat(ask("same"))).cached
    assert rig.chats(0) == 3


# ---------------------------------------------------------------- metrics and uptime


async def test_metrics_and_uptime_match_what_was_sent(rig_factory: Factory, desk_home: Any) -> None:
    cfg = settings(
        routing={"strategy": "round_robin"},
        breaker={"min_requests": 1000, "cooldown_seconds": 0.02, "max_cooldown_seconds": 0.05},
    )
    rig = await rig_factory(2, cfg)
    price = Prices(input_per_mtok=1000, output_per_mtok=2000)
    await add_all(
        rig,
        s0={"prices": price, "limits": {"health_check_interval": 0.05, "retry_attempts": 0}},
        s1={"prices": price, "limits": {"retry_attempts": 0}},
    )
    desk = rig.desk
    ok = failed = 0
    for i in range(20):
        bad = i % 5 == 0
        model = "sim-model@fail_rate=1" if bad else "sim-model"
        try:
            await desk.chat(ChatRequest.from_text("hi", model=model, stream=True), endpoint="s0")
            ok += 1
        except DeskError:
            failed += 1
    assert (ok, failed) == (16, 4)
    m = desk.endpoint("s0").metrics
    assert m.requests == 20 and m.errors == 4 and m.success_rate == 0.8
    assert m.p50_ms is not None and m.ttft_p50_ms is not None and m.p95_ms is not None
    assert m.req_per_min == 20 and m.in_flight == 0
    assert m.input_tokens == 16 and m.output_tokens == 16 * 2  # "hi" in, "Echo: hi" out
    expected_cost = 16 * (1 * 1000 + 2 * 2000) / 1e6
    assert m.cost_today == pytest.approx(expected_cost) and m.cost_total == pytest.approx(
        expected_cost
    )
    assert desk.totals.requests == 20
    # health samples: a flaky model list makes some probes fail
    rig.sims[0].config.update({"fail_rate": 0.5, "seed": 3})
    await until(lambda: desk.endpoint("s0").metrics.health_samples >= 8, what="samples")
    await desk.stop("s0")  # no more probes; wait for the store to have every sample
    for _ in range(200):
        await desk.ledger.recorder.flush()  # type: ignore[union-attr]
        stored_samples = await desk.store.health_samples("s0")
        if len(stored_samples) == desk.endpoint("s0").metrics.health_samples:
            break
        await asyncio.sleep(0.01)
    stored = await desk.store.uptime("s0", 0.0)
    m = desk.endpoint("s0").metrics
    assert len(stored_samples) == m.health_samples >= 8
    assert stored is not None and 0 < stored < 1
    assert m.uptime == pytest.approx(stored)
    assert await desk.store.count_requests("s0") == 20


async def test_a_new_desk_shows_what_the_store_knows(rig_factory: Factory) -> None:
    """`desk ls` is a one-shot process: its metrics come from the store."""
    cfg = settings(breaker={"min_requests": 1000})
    rig = await rig_factory(1, cfg)
    price = Prices(input_per_mtok=1000, output_per_mtok=1000)
    await add_all(rig, s0={"prices": price, "limits": {"retry_attempts": 0}})
    desk = rig.desk
    for i in range(10):
        model = "sim-model@fail_rate=1" if i < 2 else "sim-model"
        try:
            await desk.chat(ChatRequest.from_text("hi", model=model), endpoint="s0")
        except DeskError:
            pass
    await desk.health.check(desk.portfolio.position("s0"))
    await desk.ledger.recorder.flush()  # type: ignore[union-attr]
    live = desk.endpoint("s0").metrics
    async with Desk(settings(), autostart=False) as cold:
        seen = cold.endpoint("s0").metrics
        desk_wide = cold.totals.snapshot()
    assert desk_wide.requests == 10 and desk_wide.uptime == 1.0
    assert desk_wide.cost_today == pytest.approx(live.cost_today)
    assert seen.requests == 10 and seen.errors == 2
    assert seen.success_rate == pytest.approx(0.8)
    assert seen.p50_ms == pytest.approx(live.p50_ms, rel=0.01)
    assert seen.cost_today == pytest.approx(live.cost_today)
    assert seen.cost_total == pytest.approx(live.cost_total)
    assert seen.uptime == 1.0


async def test_mixed_refusals_name_every_reason(rig_factory: Factory) -> None:
    from endpoint_desk.core.errors import NoEndpointAvailable

    rig = await rig_factory(2, settings())
    dear = Prices(input_per_mtok=100_000, output_per_mtok=100_000)
    await add_all(
        rig,
        s0={"limits": {"max_requests_per_minute": 1}},
        s1={"tier": 1, "prices": dear, "limits": {"daily_budget": 0.01}},
    )
    assert (await rig.desk.chat(ask())).endpoint == "s0"
    assert (await rig.desk.chat(ask())).endpoint == "s1"  # s0 is at its rate limit
    with pytest.raises(NoEndpointAvailable) as info:
        await rig.desk.chat(ask())
    text = str(info.value)
    assert "s0 is at its limit of 1 requests per minute" in text
    assert "s1 reached its daily budget" in text
    assert info.value.retry_after is not None and info.value.retry_after > 50
    assert (rig.chats(0), rig.chats(1)) == (1, 1)


async def test_endpoints_without_limits_get_the_desk_defaults(rig_factory: Factory) -> None:
    from endpoint_desk.core.models import EndpointKind, EndpointSpec

    rig = await rig_factory(1, settings(defaults={"max_requests_per_minute": 2}))
    plain = EndpointSpec(name="plain", kind=EndpointKind.OPENAI, base_url=rig.sims[0].url + "/v1")
    view = await rig.desk.add(plain, prove=False)
    assert view.spec.limits.max_requests_per_minute == 2
    own = await rig.desk.add(spec("own", rig.sims[0].url), prove=False)
    assert own.spec.limits.max_requests_per_minute == 100_000
    await rig.desk.chat(ask(), endpoint="plain")
    await rig.desk.chat(ask(), endpoint="plain")
    with pytest.raises(RateLimited):
        await rig.desk.chat(ask(), endpoint="plain")
