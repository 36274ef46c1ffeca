"""The SQLite writer thread's side of the request log: a batch of request records,
health samples and their per-minute rollups in one transaction, through a plain
``sqlite3`` connection of its own, so a busy event loop never holds the log back.

Each kind of row goes in as one ``INSERT ... SELECT FROM json_each(?)`` per batch (see
``_json_insert``): a measured fix, keep it.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from endpoint_desk.core.errors import StoreError
from endpoint_desk.store.columns import (
    HEALTH,
    REQUEST,
    ROLLUP,
    ROLLUP_KEYS,
    ROLLUP_SUMS,
    RecordColumns,
)
from endpoint_desk.store.database import driver_reason
from endpoint_desk.store.records import HealthRecord, RequestRecord, rollups_from

__all__ = ["SQLiteBatchWriter"]


def _json_insert(columns: RecordColumns[Any], conflict: str = "") -> str:
    """``INSERT INTO table SELECT ... FROM json_each(?)``: a whole batch of rows as one
    JSON array in one parameter, so SQLite takes it in one step. (``executemany``
    steps once per row and gives up the GIL each time; with a busy event loop in the
    other thread, getting it back costs up to the switch interval, 5 ms, per row.)"""
    names = columns.names
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(names)))
    return (
        f"INSERT {conflict} INTO {columns.table.name} ({', '.join(names)}) "
        f"SELECT {picks} FROM json_each(?)"
    )


_INSERT_REQUESTS = _json_insert(REQUEST, "OR IGNORE")
_INSERT_HEALTH = _json_insert(HEALTH)
_UPSERT_ROLLUPS = (
    f"INSERT INTO {ROLLUP.table.name} ({', '.join(ROLLUP.names)}) "
    f"VALUES ({', '.join('?' * len(ROLLUP.names))}) "
    f"ON CONFLICT ({', '.join(ROLLUP_KEYS)}) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in ROLLUP_SUMS)
)
"""Rollups are few per batch (one per endpoint and minute): one row each is fine."""


class SQLiteBatchWriter:
    """Writes request records, health samples and their rollups to a SQLite file with
    a plain ``sqlite3`` connection of its own, for the recorder's writer thread: a
    batch is one transaction and never waits on the event loop.

    Not thread-safe by itself: one thread writes at a time (the recorder holds a
    lock). ``write()`` raises ``StoreError`` naming the file and the reason.
    """

    def __init__(self, path: Path, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._conn = conn
        return self._conn

    def write(self, requests: Sequence[RequestRecord], health: Sequence[HealthRecord]) -> None:
        """Write one batch in one transaction: all of it lands or none of it does."""
        if not requests and not health:
            return
        try:
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                if requests:
                    rows = list(map(REQUEST.values, requests))
                    conn.execute(_INSERT_REQUESTS, (_json_rows(rows),))
                    rollups = rollups_from(list(requests))
                    conn.executemany(_UPSERT_ROLLUPS, map(ROLLUP.values, rollups))
                if health:
                    conn.execute(_INSERT_HEALTH, (_json_rows(list(map(HEALTH.values, health))),))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(
                f"cannot write to the database at {self.path}: {driver_reason(exc)}"
            ) from exc

    def close(self) -> None:
        """Close the connection (the next ``write()`` opens a new one)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def _json_rows(rows: list[tuple[Any, ...]]) -> str:
    # NaN and infinities have no JSON form: stored as NULL, as sqlite3 itself does
    return orjson.dumps(rows).decode()
