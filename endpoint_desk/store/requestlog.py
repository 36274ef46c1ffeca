"""The request log and its per-minute rollups, through the async store.

The recorder writes here with PostgreSQL or an in-memory SQLite database; with a SQLite
file it hands its batches to ``SQLiteBatchWriter`` (``sqlite_writer.py``) in a thread of
its own, which ``batch_writer()`` makes. A batch carries health samples too, so that
requests, samples and rollups land in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from endpoint_desk.store.database import Database
from endpoint_desk.store.records import HealthRecord, RequestRecord, Rollup, rollups_from
from endpoint_desk.store.sqlite_writer import (
    REQUEST_COLUMNS,
    ROLLUP_SUMS,
    SQLiteBatchWriter,
    request_tuple,
)
from endpoint_desk.store.tables import HEALTH_SAMPLES, REQUESTS, ROLLUPS

__all__ = ["RequestLogRepo"]

_SQLITE_INSERT_REQUESTS = (
    f"INSERT OR IGNORE INTO requests ({', '.join(REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})"
)


def _request_row(r: RequestRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "ts": r.ts,
        "endpoint": r.endpoint,
        "model": r.model,
        "status": r.status,
        "error_kind": r.error_kind,
        "error": r.error,
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cost": r.cost,
        "estimated": r.estimated,
        "cached": r.cached,
        "stream": r.stream,
        "attempts": r.attempts,
    }


class RequestLogRepo(Database):
    """Write request records (with health samples) and rollups; read the log back."""

    def batch_writer(self) -> SQLiteBatchWriter | None:
        """A writer of request and health batches for a thread of its own (no event
        loop involved), or None when the database is not a SQLite file."""
        if self._path is None or self._pg:
            return None
        return SQLiteBatchWriter(self._path, self._busy_timeout_ms)

    async def write_requests(self, records: Sequence[RequestRecord]) -> None:
        """Append request records in one transaction (an id already stored is
        skipped). Rollups are not touched; ``write_batch`` does both."""
        await self.write_batch(records, (), rollups=False)

    async def write_health(self, records: Sequence[HealthRecord]) -> None:
        """Append health samples in one transaction."""
        await self.write_batch((), records, rollups=False)

    async def write_batch(
        self,
        requests: Sequence[RequestRecord],
        health: Sequence[HealthRecord],
        *,
        rollups: bool = True,
    ) -> None:
        """Write requests, health samples and (by default) the requests' per-minute
        rollups in one transaction: all of it lands or none of it does."""
        if not requests and not health:
            return
        async with self._write() as conn:
            await self._write_rows(conn, requests, health)
            if rollups and requests:
                await self._upsert_rollups(conn, rollups_from(list(requests)))

    async def _write_rows(
        self,
        conn: AsyncConnection,
        requests: Sequence[RequestRecord],
        health: Sequence[HealthRecord],
    ) -> None:
        if requests:
            if self._pg:
                rows = [_request_row(r) for r in requests]
                await conn.execute(self._insert(REQUESTS).on_conflict_do_nothing(), rows)
            else:
                # SQLite: one prepared statement fed plain tuples (no per-row dicts,
                # compiling or type processing on the event loop's thread).
                await conn.exec_driver_sql(
                    _SQLITE_INSERT_REQUESTS, [request_tuple(r) for r in requests]
                )
        if health:
            hrows = [
                {
                    "ts": h.ts,
                    "endpoint": h.endpoint,
                    "ok": h.ok,
                    "latency_ms": h.latency_ms,
                    "error_kind": h.error_kind,
                    "detail": h.detail,
                }
                for h in health
            ]
            await conn.execute(HEALTH_SAMPLES.insert(), hrows)

    async def upsert_rollups(self, rollups: Sequence[Rollup]) -> None:
        """Add these per-minute totals to the stored ones (creating missing minutes)."""
        if not rollups:
            return
        async with self._write() as conn:
            await self._upsert_rollups(conn, rollups)

    async def _upsert_rollups(self, conn: AsyncConnection, rollups: Sequence[Rollup]) -> None:
        ins = self._insert(ROLLUPS)
        stmt = ins.on_conflict_do_update(
            index_elements=["minute", "endpoint"],
            set_={c: ROLLUPS.c[c] + ins.excluded[c] for c in ROLLUP_SUMS},
        )
        rows = [
            {
                "minute": r.minute,
                "endpoint": r.endpoint,
                **{c: getattr(r, c) for c in ROLLUP_SUMS},
            }
            for r in rollups
        ]
        await conn.execute(stmt, rows)

    async def recent_requests(
        self, endpoint: str | None = None, limit: int = 100, since: float | None = None
    ) -> list[RequestRecord]:
        """The newest requests first, optionally of one endpoint and since a time."""
        q = select(REQUESTS)
        if endpoint is not None:
            q = q.where(REQUESTS.c.endpoint == endpoint)
        if since is not None:
            q = q.where(REQUESTS.c.ts >= since)
        q = q.order_by(REQUESTS.c.ts.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [RequestRecord(**r._mapping) for r in rows]

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
        q = select(ROLLUPS).where(ROLLUPS.c.minute >= int(since // 60))
        if endpoint is not None:
            q = q.where(ROLLUPS.c.endpoint == endpoint)
        q = q.order_by(ROLLUPS.c.minute, ROLLUPS.c.endpoint)
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [Rollup(**r._mapping) for r in rows]
