"""Unit tests of the in-memory metrics."""

from __future__ import annotations

import time

import pytest

from endpoint_desk.engine.metrics import EndpointMetrics


def test_counts_percentiles_and_rates() -> None:
    m = EndpointMetrics()
    for i in range(1, 101):
        m.record(True, float(i), float(i) / 2, 10, 20, 0.001)
    m.record(False, 5000.0, None)
    s = m.snapshot()
    assert s.requests == 101 and s.errors == 1
    assert s.success_rate == pytest.approx(100 / 101)
    assert s.p50_ms == pytest.approx(50.5, abs=1)
    assert s.p95_ms == pytest.approx(95, abs=1.5)
    assert s.ttft_p50_ms == pytest.approx(25, abs=1)
    assert s.input_tokens == 1000 and s.output_tokens == 2000
    assert s.cost_total == pytest.approx(0.1) and s.cost_today == pytest.approx(0.1)
    assert s.req_per_min == 101
    assert m.ok_ewma < 1.0 and m.ttft_ewma is not None


def test_cache_hits_count_but_stay_out_of_latency() -> None:
    m = EndpointMetrics()
    m.record(True, 100.0, 50.0, 1, 1, 0.5)
    for _ in range(3):
        m.record(True, 0.0, 0.0, 1, 1, 0.0, cached=True)
    s = m.snapshot()
    assert s.requests == 4 and s.cache_hits == 3 and s.cache_hit_rate == 0.75
    assert s.p50_ms == 100.0 and s.cost_total == 0.5


def test_uptime_from_health_samples() -> None:
    m = EndpointMetrics()
    assert m.snapshot().uptime is None
    now = time.time()
    m.record_health(True, now - 90000)  # older than a day: not counted
    for ok in (True, True, True, False):
        m.record_health(ok, now)
    assert m.uptime == 0.75
    assert m.snapshot().health_samples == 4


def test_seeding_from_stored_outcomes() -> None:
    m = EndpointMetrics()
    now = time.time()
    m.seed_window([(now - 10, True, 100.0, 40.0), (now - 5, False, 300.0, None)], 57, 9)
    m.add_cost(0.25, now)
    m.add_cost(1.0, now - 3 * 86400)
    s = m.snapshot()
    assert s.requests == 57 and s.errors == 9
    assert s.success_rate == 0.5 and s.p50_ms == 100.0
    assert s.cost_today == 0.25 and s.cost_total == 1.25
    assert s.req_per_min == 2
