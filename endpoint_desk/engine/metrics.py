"""In-memory rolling metrics per endpoint and for the whole desk.

Plain counters and bounded deques: updating costs a few attribute writes on the
request path; percentiles are computed only when someone looks.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[idx]


def day_start(now: float | None = None) -> float:
    """Epoch seconds of the start of today, local time."""
    t = time.localtime(now if now is not None else time.time())
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    requests: int
    errors: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    in_flight: int
    req_per_min: float
    input_tokens: int
    output_tokens: int
    cost_total: float
    cost_today: float
    cache_hits: int
    uptime: float | None
    recent_latency: tuple[float, ...]
    cache_hit_rate: float | None = None
    health_samples: int = 0
    queued: int = 0
    """Requests waiting for a slot (a limit the user set is full)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "success_rate": self.success_rate,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "ttft_p50_ms": self.ttft_p50_ms,
            "ttft_p95_ms": self.ttft_p95_ms,
            "in_flight": self.in_flight,
            "queued": self.queued,
            "req_per_min": round(self.req_per_min, 2),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_total": round(self.cost_total, 8),
            "cost_today": round(self.cost_today, 8),
            "cache_hits": self.cache_hits,
            "cache_hit_rate": self.cache_hit_rate,
            "uptime": self.uptime,
            "health_samples": self.health_samples,
        }


EWMA_ALPHA = 0.2
"""Weight of the newest outcome in the moving averages the router reads."""

UPTIME_WINDOW = 86400.0
"""Uptime covers the health samples of the last day."""


class EndpointMetrics:
    """Rolling window of one endpoint's (or the desk's) outcomes.

    Besides the window, two moving averages feed the router at no cost: ``ok_ewma``
    (success, 0..1) and ``ttft_ewma`` (ms to first token; ``None`` until measured).
    Health samples of the last day give ``uptime``.
    """

    __slots__ = (
        "_day",
        "_health",
        "_health_ok",
        "cache_hits",
        "cost_today",
        "cost_total",
        "errors",
        "in_flight",
        "input_tokens",
        "ok_ewma",
        "output_tokens",
        "queued",
        "requests",
        "ttft_ewma",
        "window",
    )

    def __init__(self, window: int = 512) -> None:
        self.requests = 0
        self.errors = 0
        self.in_flight = 0
        self.queued = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_total = 0.0
        self.cost_today = 0.0
        self.cache_hits = 0
        self.ok_ewma = 1.0
        self.ttft_ewma: float | None = None
        self._health: deque[tuple[float, bool]] = deque()
        self._health_ok = 0
        self._day = day_start()
        # (monotonic time, ok, latency_ms, ttft_ms or -1)
        self.window: deque[tuple[float, bool, float, float]] = deque(maxlen=window)

    def record(
        self,
        ok: bool,
        latency_ms: float,
        ttft_ms: float | None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost: float = 0.0,
        cached: bool = False,
    ) -> None:
        """Count one finished request (a cache hit counts, but stays out of the
        latency window and the router's averages)."""
        self.requests += 1
        if not ok:
            self.errors += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if cached:
            self.cache_hits += 1
            return
        if cost:
            now = time.time()
            if now - self._day >= 86400:
                self._day = day_start(now)
                self.cost_today = 0.0
            self.cost_total += cost
            self.cost_today += cost
        self.ok_ewma += EWMA_ALPHA * ((1.0 if ok else 0.0) - self.ok_ewma)
        if ttft_ms is not None and ok:
            e = self.ttft_ewma
            # one outlier moves the average by at most 40% (a hiccup is not a trend)
            self.ttft_ewma = ttft_ms if e is None else e + EWMA_ALPHA * (min(ttft_ms, 3 * e) - e)
        self.window.append((time.monotonic(), ok, latency_ms, -1.0 if ttft_ms is None else ttft_ms))

    def spend_today(self) -> float:
        """Spend since local midnight."""
        if time.time() - self._day >= 86400:
            self._day = day_start()
            self.cost_today = 0.0
        return self.cost_today

    def add_cost(self, cost: float, when: float | None = None) -> None:
        """Count spend without a request (seeding from the store)."""
        now = time.time() if when is None else when
        self.cost_total += cost
        if now >= self._day:
            self.cost_today += cost

    def record_health(self, ok: bool, ts: float | None = None) -> None:
        """Count one health sample (wall-clock ``ts``) for the uptime."""
        ts = time.time() if ts is None else ts
        self._health.append((ts, ok))
        if ok:
            self._health_ok += 1
        self._trim_health(ts)

    def _trim_health(self, now: float) -> None:
        edge = now - UPTIME_WINDOW
        h = self._health
        while h and h[0][0] < edge:
            _, ok = h.popleft()
            if ok:
                self._health_ok -= 1

    @property
    def uptime(self) -> float | None:
        """Share of passing health samples in the last day (``None`` without samples)."""
        self._trim_health(time.time())
        n = len(self._health)
        return self._health_ok / n if n else None

    @property
    def health_count(self) -> int:
        """Health samples in the last day."""
        return len(self._health)

    def seed_window(
        self, outcomes: list[tuple[float, bool, float, float | None]], total: int, errors: int
    ) -> None:
        """Load stored outcomes, oldest first, as ``(wall ts, ok, latency_ms, ttft_ms)``,
        plus the all-time request and error counts."""
        offset = time.monotonic() - time.time()
        for ts, ok, lat, ttft in outcomes:
            self.window.append((ts + offset, ok, lat, -1.0 if ttft is None else ttft))
            self.ok_ewma += EWMA_ALPHA * ((1.0 if ok else 0.0) - self.ok_ewma)
            if ttft is not None and ok:
                e = self.ttft_ewma
                self.ttft_ewma = ttft if e is None else e + EWMA_ALPHA * (ttft - e)
        self.requests = max(self.requests, total)
        self.errors = max(self.errors, errors)

    def failure_share(self, since: float) -> tuple[int, float]:
        """(sample count, failure share) of outcomes after monotonic time ``since``."""
        n = fails = 0
        for ts, ok, _lat, _ttft in reversed(self.window):
            if ts < since:
                break
            n += 1
            if not ok:
                fails += 1
        return n, (fails / n if n else 0.0)

    def snapshot(self) -> MetricsSnapshot:
        items = list(self.window)
        lat = [w[2] for w in items if w[1]]
        ttft = [w[3] for w in items if w[1] and w[3] >= 0]
        now = time.monotonic()
        last_min = sum(1 for w in items if now - w[0] <= 60.0)
        ok = sum(1 for w in items if w[1])
        lookups = self.requests
        return MetricsSnapshot(
            requests=self.requests,
            errors=self.errors,
            success_rate=(ok / len(items)) if items else None,
            p50_ms=_percentile(lat, 0.5),
            p95_ms=_percentile(lat, 0.95),
            ttft_p50_ms=_percentile(ttft, 0.5),
            ttft_p95_ms=_percentile(ttft, 0.95),
            in_flight=self.in_flight,
            req_per_min=float(last_min),
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_total=self.cost_total,
            cost_today=self.spend_today(),
            cache_hits=self.cache_hits,
            uptime=self.uptime,
            recent_latency=tuple(w[2] for w in items[-30:]),
            cache_hit_rate=(self.cache_hits / lookups) if lookups else None,
            health_samples=len(self._health),
            queued=self.queued,
        )
