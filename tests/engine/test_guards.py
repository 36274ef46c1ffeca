"""Unit tests of the guards: rate window, breaker, concurrency, budgets."""

from __future__ import annotations

import asyncio

from endpoint_desk.core.config import BreakerSettings
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    BudgetExceeded,
    Overloaded,
    RateLimited,
    Unreachable,
    UpstreamError,
)
from endpoint_desk.core.models import Limits
from endpoint_desk.engine.guards import Breaker, DeskBudget, Guard, RateLimiter, wait_for_slot


def test_rate_limiter_is_an_exact_sliding_window() -> None:
    rl = RateLimiter(3, window=10.0)
    assert [rl.try_acquire(t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    wait = rl.try_acquire(5.0)
    assert wait == 5.0  # the slot taken at t=0 frees at t=10
    assert rl.try_acquire(9.99) > 0
    assert rl.try_acquire(10.0) == 0.0
    assert rl.used(10.0) == 3
    assert rl.try_acquire(10.5) > 0


def _settings(**kw: float) -> BreakerSettings:
    base = {
        "window_seconds": 10.0,
        "min_requests": 4,
        "failure_threshold": 0.5,
        "cooldown_seconds": 1.0,
        "max_cooldown_seconds": 5.0,
    }
    base.update(kw)
    return BreakerSettings.model_validate(base)


def test_breaker_needs_the_minimum_sample_then_trips_at_the_threshold() -> None:
    b = Breaker(_settings())
    err = Unreachable("down")
    assert b.record(err, now=0.0) is None  # 1 of 1 failed, below min_requests
    assert b.record(err, now=0.1) is None
    assert b.record(None, now=0.2) is None
    verdict = b.record(err, now=0.3)  # 3 of 4 failed
    assert verdict is not None and verdict.action == "trip"
    assert "3 of 4" in verdict.reason
    assert verdict.cooldown == 1.0


def test_breaker_window_forgets_old_failures() -> None:
    b = Breaker(_settings())
    for t in (0.0, 0.1, 0.2):
        b.record(UpstreamError("500"), now=t)
    # ten seconds later the old failures are out of the window
    assert b.record(UpstreamError("500"), now=11.0) is None
    assert b.counts(11.0) == (1, 1)


def test_breaker_success_share_keeps_it_in() -> None:
    b = Breaker(_settings())
    verdicts = [
        b.record(UpstreamError("x") if i % 5 == 4 else None, now=i * 0.01) for i in range(30)
    ]
    assert all(v is None for v in verdicts)  # 20% failed: below half the threshold
    assert b.healthy(0.3)


def test_breaker_degrades_half_way_to_the_threshold() -> None:
    b = Breaker(_settings())  # threshold 0.5: degraded from 0.25
    verdicts = [
        b.record(UpstreamError("x") if i % 3 == 2 else None, now=i * 0.01) for i in range(30)
    ]
    actions = {v.action for v in verdicts if v is not None}
    assert actions == {"degrade"}  # a third failed: serving, but degraded; never tripped
    degrade = next(v for v in verdicts if v is not None)
    assert "failed in 10 s" in degrade.reason and degrade.cooldown == 0.0
    assert not b.healthy(0.3)
    for i in range(30):  # the failures age out of the window behind successes
        b.record(None, now=11.0 + i * 0.01)
    assert b.healthy(11.3)


def test_caller_errors_never_trip() -> None:
    b = Breaker(_settings(min_requests=1))
    for i in range(10):
        assert b.record(BadRequest("bad"), now=i * 0.1) is None
    assert b.counts(1.0) == (0, 0)


def test_auth_is_an_error_at_once_and_429_a_cooldown() -> None:
    b = Breaker(_settings())
    v = b.record(AuthFailed("401 invalid key"))
    assert v is not None and v.action == "error"
    v = b.record(RateLimited("429", retry_after=3.0))
    assert v is not None and v.action == "cooldown" and v.cooldown == 3.0
    v = b.record(RateLimited("429"))
    assert v is not None and v.cooldown == 1.0  # no Retry-After: the base cooldown
    v = b.record(RateLimited("429", retry_after=999.0))
    assert v is not None and v.cooldown == 5.0  # capped


def test_backoff_doubles_up_to_the_cap_and_resets() -> None:
    b = Breaker(_settings())
    assert [b.next_cooldown() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    b.reset()
    assert b.next_cooldown() == 1.0


def test_guard_admits_within_limits() -> None:
    g = Guard(_settings(), rate_window=60.0)
    limits = Limits(max_requests_per_minute=3, max_concurrent_requests=2)
    assert g.admit("a", limits, 0.0) is None
    g.enter()
    assert g.admit("a", limits, 0.0) is None
    g.enter()
    busy = g.admit("a", limits, 0.0)
    assert isinstance(busy, Overloaded) and "max_concurrent_requests = 2" in busy.message
    g.leave()
    assert g.admit("a", limits, 0.0) is None
    g.enter()
    g.leave()
    g.leave()
    limited = g.admit("a", limits, 0.0)
    assert isinstance(limited, RateLimited) and limited.retry_after
    assert "3 requests per minute" in limited.message
    assert g.peak_in_flight == 2


def test_endpoint_and_desk_budgets() -> None:
    g = Guard(_settings())
    limits = Limits(daily_budget=0.5)
    assert g.admit("a", limits, 0.49) is None
    refused = g.admit("a", limits, 0.5)
    assert isinstance(refused, BudgetExceeded) and "daily budget" in refused.message
    assert DeskBudget(None).check(1e9) is None
    assert DeskBudget(1.0).check(0.99) is None
    assert isinstance(DeskBudget(1.0).check(1.0), BudgetExceeded)


def test_no_limits_unless_set() -> None:
    g = Guard(_settings(), rate_window=60.0)
    limits = Limits()
    assert limits.max_requests_per_minute is None and limits.max_concurrent_requests is None
    for _ in range(1000):
        assert g.admit("a", limits, 0.0) is None
        g.enter()
    assert g.in_flight == 1000


async def test_a_leaving_request_hands_its_slot_to_the_longest_waiter() -> None:
    g = Guard(_settings())
    limits = Limits(max_concurrent_requests=1)
    assert g.admit("a", limits, 0.0) is None
    g.enter()
    first = asyncio.create_task(wait_for_slot([g], 5.0))
    second = asyncio.create_task(wait_for_slot([g], 5.0))
    await asyncio.sleep(0)
    g.leave()
    assert await asyncio.wait_for(first, 1.0) == [g]
    # the slot is reserved for the waiter: a newcomer does not overtake it
    assert isinstance(g.admit("a", limits, 0.0), Overloaded)
    assert g.admit("a", limits, 0.0, claim=True) is None
    g.enter()
    assert not second.done()
    g.leave()
    assert await asyncio.wait_for(second, 1.0) == [g]
    g.release()  # served elsewhere: the slot is free again
    assert g.admit("a", limits, 0.0) is None


async def test_a_wait_that_times_out_or_is_cancelled_holds_no_slot() -> None:
    g = Guard(_settings())
    limits = Limits(max_concurrent_requests=1)
    g.admit("a", limits, 0.0)
    g.enter()
    assert await wait_for_slot([g], 0.01) == []
    waiter = asyncio.create_task(wait_for_slot([g], 5.0))
    await asyncio.sleep(0)
    g.leave()  # hands the slot to the waiter...
    waiter.cancel()  # ...which goes away before it runs: the slot comes back
    try:
        await waiter
    except asyncio.CancelledError:
        pass
    assert g.admit("a", limits, 0.0) is None
