"""``/metrics`` in Prometheus text format, with ``prometheus-client``.

Nothing is observed on the request path: counters (requests, errors, tokens, cost,
in-flight, queued, states) are read from the engine's own plain counters when Prometheus
scrapes, and the latency / time-to-first-token histograms and the requests by kind
(chat or embeddings) are filled by a task that follows the engine's ``RequestDone``
events, off the path.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from endpoint_desk.core.models import EndpointState
from endpoint_desk.engine.events import RequestDone
from endpoint_desk.engine.metrics import MetricsSnapshot

if TYPE_CHECKING:
    from endpoint_desk.engine.desk import Desk

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Seconds; shared by the latency and time-to-first-token histograms."""


class _Histogram:
    """Cumulative bucket counts for one label set (plain ints, no locks: one loop)."""

    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1

    def buckets(self) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        running = 0
        for bound, n in zip(LATENCY_BUCKETS, self.counts, strict=False):
            running += n
            out.append((repr(bound), running))
        out.append(("+Inf", self.count))
        return out


class DeskCollector(Collector):
    """Reads the desk's counters at scrape time and keeps the histograms.

    Args:
        desk: the engine to export.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.ttft: dict[str, _Histogram] = {}
        self.http: dict[str, int] = {}
        self.kinds: dict[tuple[str, str], int] = {}

    # ---- fed off the request path ---------------------------------------------

    def observe(self, event: RequestDone) -> None:
        """Add a finished request to the histograms."""
        outcome = "ok" if event.ok else "error"
        key = (event.endpoint, outcome)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = _Histogram()
        hist.observe(event.latency_ms / 1000.0)
        kind = (event.endpoint, event.kind)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if event.ok and event.ttft_ms is not None:
            th = self.ttft.get(event.endpoint)
            if th is None:
                th = self.ttft[event.endpoint] = _Histogram()
            th.observe(event.ttft_ms / 1000.0)

    def count_response(self, status: int) -> None:
        """Count one HTTP response of the gateway by status code (a dict increment)."""
        key = str(status)
        self.http[key] = self.http.get(key, 0) + 1

    async def follow(self) -> None:
        """Consume the engine's events until the bus closes (run as a task)."""
        async for event in self.desk.events():
            if type(event) is RequestDone:
                self.observe(event)

    # ---- scrape ------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Yield every metric family (called by ``generate_latest``)."""
        requests = CounterMetricFamily(
            "desk_requests", "Requests served by an endpoint (every attempt).", labels=["endpoint"]
        )
        errors = CounterMetricFamily(
            "desk_request_errors", "Requests that failed on an endpoint.", labels=["endpoint"]
        )
        tokens = CounterMetricFamily(
            "desk_tokens", "Tokens by direction.", labels=["endpoint", "direction"]
        )
        cost = CounterMetricFamily("desk_cost_usd", "Spend in US dollars.", labels=["endpoint"])
        in_flight = GaugeMetricFamily(
            "desk_in_flight", "Requests in flight on an endpoint.", labels=["endpoint"]
        )
        queued = GaugeMetricFamily(
            "desk_queued",
            "Requests waiting for a slot at an endpoint (a limit its user set is full).",
            labels=["endpoint"],
        )
        state = GaugeMetricFamily(
            "desk_endpoint_state",
            "1 for the state each endpoint is in, 0 for the others.",
            labels=["endpoint", "state"],
        )
        for pos_name, metrics, current in self._positions():
            requests.add_metric([pos_name], metrics.requests)
            errors.add_metric([pos_name], metrics.errors)
            tokens.add_metric([pos_name, "input"], metrics.input_tokens)
            tokens.add_metric([pos_name, "output"], metrics.output_tokens)
            cost.add_metric([pos_name], metrics.cost_total)
            in_flight.add_metric([pos_name], metrics.in_flight)
            queued.add_metric([pos_name], metrics.queued)
            for st in EndpointState:
                state.add_metric([pos_name, st.value], 1.0 if st == current else 0.0)
        yield from (requests, errors, tokens, cost, in_flight, queued, state)

        totals = self.desk.totals
        yield CounterMetricFamily(
            "desk_total_requests", "Requests the desk served (every attempt).", totals.requests
        )
        yield CounterMetricFamily(
            "desk_total_errors", "Requests that failed, desk-wide.", totals.errors
        )
        yield CounterMetricFamily(
            "desk_total_cost_usd", "Spend in US dollars, desk-wide.", totals.cost_total
        )
        yield GaugeMetricFamily(
            "desk_total_queued", "Requests waiting for a slot, desk-wide.", totals.queued
        )

        latency = HistogramMetricFamily(
            "desk_request_latency_seconds",
            "Whole-request latency by endpoint and outcome.",
            labels=["endpoint", "outcome"],
        )
        for (endpoint, outcome), hist in sorted(self.latency.items()):
            latency.add_metric([endpoint, outcome], hist.buckets(), hist.total)
        yield latency
        ttft = HistogramMetricFamily(
            "desk_time_to_first_token_seconds",
            "Time to the first content chunk by endpoint (successful requests).",
            labels=["endpoint"],
        )
        for endpoint, hist in sorted(self.ttft.items()):
            ttft.add_metric([endpoint], hist.buckets(), hist.total)
        yield ttft
        http = CounterMetricFamily(
            "desk_http_responses", "Responses of the gateway by status code.", labels=["code"]
        )
        for code, n in sorted(self.http.items()):
            http.add_metric([code], n)
        yield http
        kinds = CounterMetricFamily(
            "desk_requests_by_kind",
            "Requests by endpoint and what they asked (chat or embeddings), every attempt.",
            labels=["endpoint", "kind"],
        )
        for (endpoint, kind), n in sorted(self.kinds.items()):
            kinds.add_metric([endpoint, kind], n)
        yield kinds

    def _positions(self) -> Iterator[tuple[str, MetricsSnapshot, EndpointState]]:
        for view in self.desk.endpoints():
            yield view.name, view.metrics, view.state


class MetricsExporter:
    """A registry of its own (several servers may live in one process, as in tests)."""

    def __init__(self, desk: Desk) -> None:
        self.collector = DeskCollector(desk)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start following the engine's events."""
        if self._task is None:
            self._task = asyncio.create_task(self.collector.follow(), name="desk-metrics")

    async def aclose(self) -> None:
        """Stop following events."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
