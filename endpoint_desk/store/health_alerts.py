"""Health samples (what the health loop's probes found, and the uptime read from them)
and alerts (the history behind a detail screen's "last trips").

Health samples are written with the request log's batches (``RequestLogRepo``).
"""

from __future__ import annotations

from sqlalchemy import and_, case, func, select

from endpoint_desk.store.columns import ALERT, HEALTH
from endpoint_desk.store.database import Database
from endpoint_desk.store.records import AlertRecord, HealthRecord
from endpoint_desk.store.tables import ALERTS, HEALTH_SAMPLES

__all__ = ["HealthAlertsRepo"]


class HealthAlertsRepo(Database):
    """Read health samples and uptime; keep and read alerts."""

    async def health_samples(
        self, endpoint: str, since: float | None = None, limit: int = 1000
    ) -> list[HealthRecord]:
        """The newest ``limit`` health samples of an endpoint, oldest first."""
        q = HEALTH.select().where(HEALTH_SAMPLES.c.endpoint == endpoint)
        if since is not None:
            q = q.where(HEALTH_SAMPLES.c.ts >= since)
        q = q.order_by(HEALTH_SAMPLES.c.ts.desc(), HEALTH_SAMPLES.c.id.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [HEALTH.record(r) for r in reversed(rows)]

    async def add_alert(self, alert: AlertRecord) -> None:
        """Keep one alert (the history behind a detail screen's "last trips")."""
        async with self._write() as conn:
            await conn.execute(ALERTS.insert(), ALERT.row(alert))

    async def alerts(self, endpoint: str | None = None, limit: int = 100) -> list[AlertRecord]:
        """The newest ``limit`` alerts (of one endpoint when named), oldest first."""
        q = ALERT.select()
        if endpoint is not None:
            q = q.where(ALERTS.c.endpoint == endpoint)
        q = q.order_by(ALERTS.c.ts.desc(), ALERTS.c.id.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [ALERT.record(r) for r in reversed(rows)]

    async def uptime(self, endpoint: str, since: float) -> float | None:
        """Share (0..1) of an endpoint's health samples since ``since`` that were ok;
        None when there are none."""
        ok_count = func.sum(case((HEALTH_SAMPLES.c.ok, 1), else_=0))
        q = select(func.count(), ok_count).where(
            and_(HEALTH_SAMPLES.c.endpoint == endpoint, HEALTH_SAMPLES.c.ts >= since)
        )
        async with self._read() as conn:
            total, ok = (await conn.execute(q)).one()
        if not total:
            return None
        return float(ok or 0) / float(total)
