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
            "req_per_min": round(self.req_per_min, 2),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_total": round(self.cost_total, 8),
            "cost_today": round(self.cost_today, 8),
            "cache_hits": self.cache_hits,
            "uptime": self.uptime,
        }


class EndpointMetrics:
    """Rolling window of one endpoint's (or the desk's) outcomes."""

    __slots__ = (
        "_day",
        "cache_hits",
        "cost_today",
        "cost_total",
        "errors",
        "in_flight",
        "input_tokens",
        "output_tokens",
        "requests",
        "uptime",
        "window",
    )

    def __init__(self, window: int = 512) -> None:
        self.requests = 0
        self.errors = 0
        self.in_flight = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_total = 0.0
        self.cost_today = 0.0
        self.cache_hits = 0
        self.uptime: float | None = None
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
        self.requests += 1
        if not ok:
            self.errors += 1
        if cached:
            self.cache_hits += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if cost:
            now = time.time()
            if now - self._day >= 86400:
                self._day = day_start(now)
                self.cost_today = 0.0
            self.cost_total += cost
            self.cost_today += cost
        self.window.append((time.monotonic(), ok, latency_ms, -1.0 if ttft_ms is None else ttft_ms))

    def spend_today(self) -> float:
        if time.time() - self._day >= 86400:
            self._day = day_start()
            self.cost_today = 0.0
        return self.cost_today

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
        )
