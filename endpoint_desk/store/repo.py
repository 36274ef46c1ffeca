"""The async repository: ``Store``, the one object the engine, discovery and front ends
use to reach the database.

It is the sum of the table families, one module each, so a behaviour is found by its
file name:

- ``database.py``: which database (``DATABASE_URL``), opening, SQLite settings, schema
  version (migrations in ``migrations.py``), guarded transactions;
- ``portfolio.py``: endpoints and their states;
- ``requestlog.py``: the request log and per-minute rollups (the writer thread's side
  in ``sqlite_writer.py``);
- ``health_alerts.py``: health samples, uptime and alerts;
- ``patterns.py``: the pattern library.

The tables (``tables.py``) are the one schema: ``columns.py`` reads each record's
column list off them for every writer and reader.

Open it with ``await Store.open(settings, paths)``; nothing exists before that.
"""

from __future__ import annotations

from sqlalchemy import delete

from endpoint_desk.store.health_alerts import HealthAlertsRepo
from endpoint_desk.store.patterns import PatternsRepo
from endpoint_desk.store.portfolio import PortfolioRepo
from endpoint_desk.store.requestlog import RequestLogRepo
from endpoint_desk.store.tables import ALERTS, HEALTH_SAMPLES, REQUESTS, ROLLUPS

__all__ = ["Store"]


class Store(PortfolioRepo, RequestLogRepo, HealthAlertsRepo, PatternsRepo):
    """The desk's database: open it with ``await Store.open(settings, paths)``.

    All methods are coroutines and raise ``StoreError`` (with the database's path or
    masked URL and the reason) when the database cannot be read or written.
    """

    async def prune(self, before: float) -> int:
        """Delete requests, health samples, rollups and alerts older than ``before``; returns
        how many rows went."""
        async with self._write() as conn:
            n = (await conn.execute(delete(REQUESTS).where(REQUESTS.c.ts < before))).rowcount
            n += (
                await conn.execute(delete(HEALTH_SAMPLES).where(HEALTH_SAMPLES.c.ts < before))
            ).rowcount
            n += (
                await conn.execute(delete(ROLLUPS).where(ROLLUPS.c.minute < int(before // 60)))
            ).rowcount
            n += (await conn.execute(delete(ALERTS).where(ALERTS.c.ts < before))).rowcount
        return int(n)
