"""Unit tests of the router's strategies over many plans (real positions, no adapters)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from endpoint_desk.core.config import RoutingSettings
from endpoint_desk.core.errors import ModelNotFound, NoEndpointAvailable
from endpoint_desk.core.models import EndpointKind, EndpointSpec, EndpointState, Prices
from endpoint_desk.engine.position import Position
from endpoint_desk.engine.router import Router, split_pinned


def pos(name: str, state: EndpointState = EndpointState.ON, **kw: Any) -> Position:
    data: dict[str, Any] = {
        "name": name,
        "kind": EndpointKind.OPENAI,
        "base_url": "http://127.0.0.1:9/v1",
        "models": ["m"],
    }
    data.update(kw)
    return Position(EndpointSpec.model_validate(data), state)


def book(*ps: Position) -> dict[str, Position]:
    return {p.name: p for p in ps}


def firsts(
    router: Router, positions: dict[str, Position], n: int, model: str = "m"
) -> Counter[str]:
    return Counter(router.plan(model, positions)[0][0].name for _ in range(n))


def router(strategy: str, **kw: Any) -> Router:
    return Router(RoutingSettings(strategy=strategy, **kw), rng=random.Random(7))  # type: ignore[arg-type]


def test_round_robin_shares_evenly() -> None:
    ps = book(pos("a"), pos("b"), pos("c"))
    assert firsts(router("round_robin"), ps, 300) == {"a": 100, "b": 100, "c": 100}


def test_weighted_gives_exact_shares_interleaved() -> None:
    ps = book(pos("a", weight=3), pos("b", weight=1), pos("z", weight=0))
    r = router("weighted")
    picks = [r.plan("m", ps)[0][0].name for _ in range(400)]
    assert Counter(picks) == {"a": 300, "b": 100}
    assert "bb" not in "".join(picks)  # smooth: never twice in a row at 3:1
    # the weight-0 endpoint is still a failover candidate, last
    assert r.plan("m", ps)[0][-1].name == "z"


def test_least_busy_prefers_fewest_in_flight() -> None:
    a, b, c = pos("a"), pos("b"), pos("c")
    a.metrics.in_flight, b.metrics.in_flight, c.metrics.in_flight = 4, 1, 2
    order = [p.name for p in router("least_busy").plan("m", book(a, b, c))[0]]
    assert order == ["b", "c", "a"]
    b.metrics.in_flight = 2  # tie of b and c: they take turns
    assert firsts(router("least_busy"), book(a, b, c), 100) == {"b": 50, "c": 50}


def test_cost_prefers_the_cheapest_price() -> None:
    ps = book(
        pos("dear", prices=Prices(input_per_mtok=5, output_per_mtok=15)),
        pos("cheap", prices=Prices(input_per_mtok=0.1, output_per_mtok=0.4)),
        pos("mid", prices=Prices(input_per_mtok=1, output_per_mtok=2)),
    )
    order = [p.name for p in router("cost").plan("m", ps)[0]]
    assert order == ["cheap", "mid", "dear"]
    assert firsts(router("cost"), ps, 50) == {"cheap": 50}


def test_success_rate_prefers_the_reliable_one_but_explores() -> None:
    good, bad = pos("good"), pos("bad")
    good.metrics.ok_ewma, bad.metrics.ok_ewma = 0.99, 0.4
    counts = firsts(router("success_rate"), book(bad, good), 2000)
    assert counts["good"] > 1800
    assert 0 < counts["bad"] < 200  # exploration, about 5%


def test_success_rate_near_ties_share_load() -> None:
    a, b = pos("a"), pos("b")
    a.metrics.ok_ewma, b.metrics.ok_ewma = 1.0, 0.97
    counts = firsts(router("success_rate"), book(a, b), 1000)
    assert 400 < counts["a"] < 600


def test_latency_band_shares_and_slow_one_waits() -> None:
    fast, near, slow = pos("fast"), pos("near"), pos("slow")
    fast.metrics.ttft_ewma, near.metrics.ttft_ewma, slow.metrics.ttft_ewma = 100.0, 115.0, 400.0
    counts = firsts(router("latency", latency_tolerance=0.2), book(fast, near, slow), 2000)
    assert counts["fast"] > 850 and counts["near"] > 850
    assert counts["slow"] < 100
    # a tolerance of 0 lets only the fastest lead (plus exploration)
    counts = firsts(router("latency", latency_tolerance=0.0), book(fast, near, slow), 2000)
    assert counts["fast"] > 1850


def test_latency_tries_unmeasured_endpoints_first() -> None:
    known, new = pos("known"), pos("new")
    known.metrics.ttft_ewma = 50.0
    assert router("latency").plan("m", book(known, new))[0][0].name == "new"


def test_tiers_come_first_and_strategy_orders_within() -> None:
    ps = book(pos("backup", tier=1), pos("p1"), pos("p2"), pos("backup2", tier=1))
    r = router("round_robin")
    for _ in range(10):
        names = [p.name for p in r.plan("m", ps)[0]]
        assert set(names[:2]) == {"p1", "p2"} and set(names[2:]) == {"backup", "backup2"}


def test_per_model_override() -> None:
    ps = book(
        pos("x", models=["m", "n"], prices=Prices(input_per_mtok=9)),
        pos("y", models=["m", "n"], prices=Prices(input_per_mtok=1)),
    )
    r = router("round_robin", per_model={"n": "cost"})
    assert firsts(r, ps, 40, model="n") == {"y": 40}
    assert firsts(r, ps, 40, model="m") == {"x": 20, "y": 20}


def test_candidates_by_model_mapping_and_pinning() -> None:
    ps = book(pos("a", models=["gpt"]), pos("b", models=["other"], model_mapping={"gpt": "other"}))
    assert {p.name for p in router("round_robin").plan("gpt", ps)[0]} == {"a", "b"}
    cands, asked = router("round_robin").plan("b/other", ps)
    assert [p.name for p in cands] == ["b"] and asked == "other"
    assert split_pinned("nobody/gpt", ps) == (None, "nobody/gpt")
    with pytest.raises(ModelNotFound):
        router("round_robin").plan("unknown-model", ps)


def test_off_and_error_are_never_candidates() -> None:
    ps = book(pos("a", EndpointState.OFF), pos("b", EndpointState.ERROR), pos("c"))
    assert [p.name for p in router("round_robin").plan("m", ps)[0]] == ["c"]
    ps = book(pos("a", EndpointState.OFF), pos("b", EndpointState.ERROR))
    with pytest.raises(NoEndpointAvailable, match="a is off"):
        router("round_robin").plan("m", ps)


def test_all_tripped_tries_the_one_whose_cooldown_ends_first() -> None:
    a, b, c = pos("a", EndpointState.TRIPPED), pos("b", EndpointState.TRIPPED), pos("c")
    c.state = EndpointState.OFF
    a.until, b.until = 2000.0, 1000.0
    cands, _ = router("round_robin").plan("m", book(a, b, c))
    assert [p.name for p in cands] == ["b"]
