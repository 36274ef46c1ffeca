"""Schema migrations: numbered steps from one schema version to the next.

``Database.open()`` applies them in order from the version stored in
``meta.schema_version``, inside the opening transaction, so an upgrade never loses a
portfolio. The tables' current shape (and its version, ``SCHEMA_VERSION``) is in
``tables.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["MIGRATIONS", "Migration"]

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _columns(conn: AsyncConnection, table: str) -> set[str] | None:
    """Column names of ``table``, None when the table does not exist."""

    def read(sync_conn: Any) -> set[str] | None:
        insp = inspect(sync_conn)
        if not insp.has_table(table):
            return None
        return {c["name"] for c in insp.get_columns(table)}

    return await conn.run_sync(read)


async def _add_column(conn: AsyncConnection, table: str, column: str, ddl: str) -> None:
    cols = await _columns(conn, table)
    if cols is not None and column not in cols:
        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


async def _migrate_to_2(conn: AsyncConnection) -> None:
    """v2: request attempts, pattern last use, rollup TTFT counts, index on requests(ts)."""
    await _add_column(conn, "requests", "attempts", "INTEGER NOT NULL DEFAULT 1")
    await _add_column(conn, "patterns", "last_used_at", "FLOAT")
    rollup_cols = await _columns(conn, "rollups")
    if rollup_cols is not None and "ttft_count" not in rollup_cols:
        await _add_column(conn, "rollups", "ttft_count", "INTEGER NOT NULL DEFAULT 0")
        # Before v2 every rollup with a TTFT sum counted all its requests.
        await conn.exec_driver_sql("UPDATE rollups SET ttft_count = requests WHERE ttft_ms_sum > 0")
    if await _columns(conn, "requests") is not None:
        await conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_requests_ts ON requests (ts)")


async def _migrate_to_3(conn: AsyncConnection) -> None:
    """v3: what each logged request asked for (``chat`` before embeddings existed)."""
    await _add_column(conn, "requests", "kind", "TEXT NOT NULL DEFAULT 'chat'")


MIGRATIONS: list[tuple[int, Migration]] = [
    (2, _migrate_to_2),
    (3, _migrate_to_3),
]
"""(version, function) pairs: each function turns a database of ``version - 1`` into one
of ``version``. Append new ones; never edit or reorder a released one."""
