"""The request log and its per-minute rollups, through the async store.

The recorder writes here with PostgreSQL or an in-memory SQLite database; with a SQLite
file it hands its batches to ``SQLiteBatchWriter`` (``sqlite_writer.py``) in a thread of
its own, which ``batch_writer()`` makes. A batch carries health samples too, so that
requests, samples and rollups land in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, select

from endpoint_desk.store.columns import HEALTH, REQUEST, ROLLUP, ROLLUP_KEYS, ROLLUP_SUMS
from endpoint_desk.store.database import Database
from endpoint_desk.store.records import (
    HealthRecord,
    RequestRecord,
    Rollup,
    RollupTotals,
    rollups_from,
)
from endpoint_desk.store.sqlite_writer import SQLiteBatchWriter
from endpoint_desk.store.tables import HEALTH_SAMPLES, REQUESTS, ROLLUPS

__all__ = ["RequestLogRepo"]


class RequestLogRepo(Database):
    """Write request records (with health samples) and rollups; read the log back."""

    def batch_writer(self) -> SQLiteBatchWriter | None:
        """A writer of request and health batches for a thread of its own (no event
        loop involved), or None when the database is not a SQLite file."""
        if self._path is None or self._pg:
            return None
        return SQLiteBatchWriter(self._path, self._busy_timeout_ms)

    async def write_batch(
        self,
        requests: Sequence[RequestRecord],
        health: Sequence[HealthRecord],
        *,
        rollups: bool = True,
    ) -> None:
        """Write requests, health samples and (by default) the requests' per-minute
        rollups in one transaction: all of it lands or none of it does."""
        await self._store_rows(requests, health, rollups_from(list(requests)) if rollups else ())

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        """Append request records in one transaction (an id already stored is
        skipped). Rollups are not touched; ``write_batch`` does both."""
        await self._store_rows(records, (), ())

    async def write_health(self, records: Sequence[HealthRecord]) -> None:
        """Append health samples in one transaction."""
        await self._store_rows((), records, ())

    async def upsert_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Add these per-minute totals to the stored ones (creating missing minutes)."""
        await self._store_rows((), (), rollups)

    async def _store_rows(
        self,
        requests: Sequence[RequestRecord],
        health: Sequence[HealthRecord],
        rollups: Sequence[Rollup],
    ) -> None:
        """The async write path, one transaction, the same statements on PostgreSQL and
        SQLite (the writer thread has its own, ``sqlite_writer.py``)."""
        if not requests and not health and not rollups:
            return
        async with self._write() as conn:
            if requests:
                rows = [REQUEST.row(r) for r in requests]
                await conn.execute(self._insert(REQUESTS).on_conflict_do_nothing(), rows)
            if health:
                await conn.execute(HEALTH_SAMPLES.insert(), [HEALTH.row(h) for h in health])
            if rollups:
                ins = self._insert(ROLLUPS)
                upsert = ins.on_conflict_do_update(
                    index_elements=list(ROLLUP_KEYS),
                    set_={c: ROLLUPS.c[c] + ins.excluded[c] for c in ROLLUP_SUMS},
                )
                await conn.execute(upsert, [ROLLUP.row(r) for r in rollups])

    async def recent_requests(
        self, endpoint: str | None = None, limit: int = 100, since: float | None = None
    ) -> list[RequestRecord]:
        """The newest requests first, optionally of one endpoint and since a time."""
        q = REQUEST.select()
        if endpoint is not None:
            q = q.where(REQUESTS.c.endpoint == endpoint)
        if since is not None:
            q = q.where(REQUESTS.c.ts >= since)
        q = q.order_by(REQUESTS.c.ts.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [REQUEST.record(r) for r in rows]

    async def count_requests(self, endpoint: str | None = None) -> int:
        """How many requests the log holds (of one endpoint, or all)."""
        q = select(func.count()).select_from(REQUESTS)
        if endpoint is not None:
            q = q.where(REQUESTS.c.endpoint == endpoint)
        async with self._read() as conn:
            return int(await conn.scalar(q) or 0)

    async def spend_since(self, since: float, endpoint: str | None = None) -> float:
        """Sum of request costs since ``since`` (of one endpoint, or the whole desk)."""
        q = select(func.coalesce(func.sum(REQUESTS.c.cost), 0.0)).where(REQUESTS.c.ts >= since)
        if endpoint is not None:
            q = q.where(REQUESTS.c.endpoint == endpoint)
        async with self._read() as conn:
            return float(await conn.scalar(q) or 0.0)

    async def rollups(self, endpoint: str | None, since: float) -> list[Rollup]:
        """Per-minute rollups from the minute holding ``since`` on, oldest first
        (``endpoint=None``: every endpoint)."""
        q = ROLLUP.select().where(ROLLUPS.c.minute >= int(since // 60))
        if endpoint is not None:
            q = q.where(ROLLUPS.c.endpoint == endpoint)
        q = q.order_by(ROLLUPS.c.minute, ROLLUPS.c.endpoint)
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [ROLLUP.record(r) for r in rows]

    async def rollup_totals(self, since_minute: int) -> list[RollupTotals]:
        """Every endpoint's totals over all its stored rollups, with its cost from minute
        ``since_minute`` (epoch seconds // 60) on, by endpoint name: one aggregate,
        what the engine seeds its metrics with (``since_minute``: today's first)."""
        r = ROLLUPS.c
        q = (
            select(
                r.endpoint,
                func.sum(r.requests),
                func.sum(r.errors),
                func.sum(r.input_tokens),
                func.sum(r.output_tokens),
                func.sum(r.cost),
                func.sum(case((r.minute >= since_minute, r.cost), else_=0.0)),
            )
            .group_by(r.endpoint)
            .order_by(r.endpoint)
        )
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [
            RollupTotals(
                endpoint=name,
                requests=int(requests or 0),
                errors=int(errors or 0),
                input_tokens=int(tokens_in or 0),
                output_tokens=int(tokens_out or 0),
                cost=float(cost or 0.0),
                cost_since=float(cost_since or 0.0),
            )
            for name, requests, errors, tokens_in, tokens_out, cost, cost_since in rows
        ]
