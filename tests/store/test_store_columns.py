"""The tables are the one schema: records follow them, and both write paths (the SQLite
writer thread and the async store) put the same rows on disk."""

from __future__ import annotations

import sqlite3
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.columns import ALERT, HEALTH, REQUEST, ROLLUP, RecordColumns
from endpoint_desk.store.records import AlertRecord, HealthRecord, RequestRecord, Rollup
from endpoint_desk.store.repo import Store
from endpoint_desk.store.tables import REQUESTS

from .conftest import full_request


@pytest.mark.parametrize("columns", [REQUEST, HEALTH, ROLLUP, ALERT], ids=lambda c: c.table.name)
def test_record_defaults_are_the_tables(columns: RecordColumns[Any]) -> None:
    for f in fields(columns.kind):
        if f.default is MISSING:
            continue
        col = columns.table.c[f.name]
        if f.default is None:
            assert col.nullable, f"{f.name} may be None in the record, not in the table"
        else:
            assert col.default is not None, f"{f.name} has no default in the table"
            assert getattr(col.default, "arg", None) == f.default, f.name


def test_a_record_that_drifts_from_its_table_is_refused() -> None:
    @dataclass(frozen=True)
    class Drifted:
        id: str
        ts: float
        endpoint: str
        shoe_size: int = 0

    with pytest.raises(TypeError) as info:
        RecordColumns.of(REQUESTS, Drifted)
    msg = str(info.value)
    assert "Drifted" in msg and "requests" in msg
    assert "shoe_size" in msg and "attempts" in msg


def _raw(path: Path, table: str, order: str) -> list[tuple[Any, ...]]:
    """Every row of ``table`` with each value's SQLite storage class, bypassing the
    store's own conversions."""
    with sqlite3.connect(path) as conn:
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
        if table == "requests":
            cols.insert(0, "id")
        picks = ", ".join(f"{c}, typeof({c})" for c in cols)
        return conn.execute(f"SELECT {picks} FROM {table} ORDER BY {order}").fetchall()


async def test_both_write_paths_store_the_same_rows(paths: Paths, tmp_path: Path) -> None:
    requests = [
        full_request(),
        RequestRecord(id="plain", ts=1_700_000_030.0, endpoint="e", ttft_ms=4.5, cost=0.25),
        RequestRecord(id="other", ts=1_700_000_100.0, endpoint="e", cached=True),
    ]
    health = [
        HealthRecord(1_700_000_001.0, "e", ok=False, latency_ms=3.0, detail="x"),
        HealthRecord(1_700_000_002.0, "e", ok=True, error_kind=None),
    ]
    files = {"thread": tmp_path / "thread.sqlite3", "async": tmp_path / "async.sqlite3"}
    for how, file in files.items():
        store = await Store.open(StoreSettings(database_url=f"sqlite:///{file}"), paths)
        try:
            if how == "thread":
                writer = store.batch_writer()
                assert writer is not None
                writer.write(requests[:2], health[:1])
                writer.write(requests[2:], health[1:])
                writer.close()
            else:
                await store.write_batch(requests[:2], health[:1])
                await store.write_batch(requests[2:], health[1:])
            # and the store reads back what it was given, with the record's own types
            assert await store.recent_requests() == requests[::-1]
            got = await store.health_samples("e")
            assert got == health and [type(h.ok) for h in got] == [bool, bool]
            assert all(type(r.estimated) is bool for r in await store.recent_requests())
            assert [r.requests for r in await store.rollups(None, 0)] == [1, 1, 1]
        finally:
            await store.close()
    for table, order in [
        ("requests", "id"),
        ("health_samples", "ts"),
        ("rollups", "minute, endpoint"),
    ]:
        assert _raw(files["thread"], table, order) == _raw(files["async"], table, order), table


async def test_alerts_and_rollups_round_trip(store: Store) -> None:
    alert = AlertRecord(1_700_000_000.0, None, "warning", "desk", "spend at 80%")
    await store.add_alert(alert)
    assert await store.alerts() == [alert]
    rollup = Rollup(5, "e", 2, 1, 30.0, 4.0, 1, 10, 20, 0.5)
    await store.upsert_rollups([rollup])
    assert await store.rollups("e", 0) == [rollup]
