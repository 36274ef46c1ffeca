"""The ledger: where the outcome of every request and probe is counted.

One outcome goes to three places, all off the request path's critical work: the
in-memory metrics (the position's and the desk's totals), the store's request log and
health samples (through the write-behind ``Recorder``), and a ``RequestDone`` event on
the bus. When a desk opens, :meth:`Ledger.seed` fills the in-memory metrics from what
the store already knows.
"""

from __future__ import annotations

import asyncio
import time

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import ChatRequest, ChatResult, Usage
from endpoint_desk.engine.events import EventBus, RequestDone
from endpoint_desk.engine.metrics import EndpointMetrics, day_start
from endpoint_desk.engine.position import Position
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import HealthRecord, RequestRecord
from endpoint_desk.store.repo import Store


class Ledger:
    """Counts outcomes into metrics, the request log and the bus.

    Args:
        bus: where ``RequestDone`` events go.
        totals: the desk-wide metrics (``Desk.totals``).
    """

    def __init__(self, bus: EventBus, totals: EndpointMetrics) -> None:
        self.bus = bus
        self.totals = totals
        self.recorder: Recorder | None = None
        """The store's write-behind queue, once the desk is open."""

    def record_request(
        self,
        pos: Position,
        rid: str,
        stream: bool,
        model: str,
        ok: bool,
        error: DeskError | None,
        latency: float,
        ttft: float | None,
        usage: Usage,
        attempt_no: int = 1,
        kind: str = "chat",
    ) -> None:
        """Count one attempt at ``pos`` (served or failed) of a ``kind`` request
        (``chat`` or ``embeddings``)."""
        pos.metrics.record(ok, latency, ttft, usage.input_tokens, usage.output_tokens, usage.cost)
        self.totals.record(ok, latency, ttft, usage.input_tokens, usage.output_tokens, usage.cost)
        if self.recorder is not None:
            self.recorder.record_request(
                RequestRecord(
                    id=rid,
                    ts=time.time(),
                    endpoint=pos.name,
                    model=model,
                    status="ok" if ok else "error",
                    error_kind=error.kind if error else None,
                    error=error.one_line()[:500] if error else None,
                    latency_ms=latency,
                    ttft_ms=ttft,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cost=usage.cost,
                    estimated=usage.estimated,
                    cached=False,
                    stream=stream,
                    attempts=attempt_no,
                    kind=kind,
                )
            )
        self.bus.publish(
            RequestDone(
                request_id=rid,
                endpoint=pos.name,
                model=model,
                ok=ok,
                latency_ms=latency,
                ttft_ms=ttft,
                error_kind=error.kind if error else None,
                error=error.one_line() if error else None,
                cost=usage.cost,
                kind=kind,
            )
        )

    def record_cache_hit(self, hit: ChatResult, request: ChatRequest, pos: Position | None) -> None:
        """Count a request served from the reply cache (by ``pos`` when it still exists)."""
        usage = hit.usage
        if pos is not None:
            pos.metrics.record(True, 0.0, 0.0, usage.input_tokens, usage.output_tokens, 0.0, True)
        self.totals.record(True, 0.0, 0.0, usage.input_tokens, usage.output_tokens, 0.0, True)
        if self.recorder is not None:
            self.recorder.record_request(
                RequestRecord(
                    id=hit.id,
                    ts=time.time(),
                    endpoint=hit.endpoint,
                    model=hit.model,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    estimated=usage.estimated,
                    cached=True,
                    stream=request.stream,
                    attempts=0,
                )
            )
        self.bus.publish(
            RequestDone(
                request_id=hit.id,
                endpoint=hit.endpoint,
                model=hit.model,
                ok=True,
                latency_ms=0.0,
                ttft_ms=0.0,
                cached=True,
            )
        )

    def record_health(self, rec: HealthRecord) -> None:
        """Queue a health sample for the store (and count it in the desk's uptime)."""
        self.totals.record_health(rec.ok, rec.ts)
        if self.recorder is not None:
            self.recorder.record_health(rec)

    async def seed(self, store: Store, positions: dict[str, Position]) -> None:
        """Seed every position's metrics from the store, cheaply: one aggregate over the
        per-minute rollups (totals, spend today), the newest requests (success rate,
        latency) and the last day's health samples (uptime) per endpoint."""
        totals = await store.rollup_totals(int(day_start() // 60))
        now = time.time()
        for row in totals:
            p = positions.get(row.endpoint)
            for m in (self.totals, *([p.metrics] if p else [])):
                m.requests += row.requests
                m.errors += row.errors
                m.input_tokens += row.input_tokens
                m.output_tokens += row.output_tokens
                m.add_cost(row.cost_since, now)
                m.add_cost(row.cost - row.cost_since, 0.0)

        async def one(pos: Position) -> None:
            recent = await store.recent_requests(pos.name, limit=pos.metrics.window.maxlen or 256)
            pos.metrics.seed_window(
                [(x.ts, x.ok, x.latency_ms, x.ttft_ms) for x in reversed(recent) if not x.cached],
                0,
                0,
            )
            for h in await store.health_samples(pos.name, since=now - 86400, limit=5000):
                pos.metrics.record_health(h.ok, h.ts)
                self.totals.record_health(h.ok, h.ts)

        await asyncio.gather(*(one(p) for p in positions.values()))
