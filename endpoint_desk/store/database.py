"""The database itself: which one (``DATABASE_URL``), opening it, its schema version.

SQLite through aiosqlite by default (WAL, foreign keys on, a busy timeout) in the
data folder; ``DATABASE_URL`` (``Settings.store.database_url``) points elsewhere:
``sqlite:///path``, ``sqlite+aiosqlite:///path`` or ``postgresql://...`` (run through
asyncpg, an optional dependency: ``pip install endpoint-desk[pg]``).

No engine exists before ``open()``. Every SQLAlchemy, driver or OS error leaves the
store as a ``StoreError`` that names the database and the reason.

``Database`` is the base of the store's table families (``portfolio.py``,
``requestlog.py``, ``health_alerts.py``, ``patterns.py``): it opens, creates or migrates
(``migrations.py``) and closes the database, and gives them guarded read and write
transactions. A database written by a newer endpoint-desk is refused.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Self

from sqlalchemy import URL, Table, event, inspect, make_url, select
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import ConfigError, DeskError, StoreError
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.migrations import MIGRATIONS
from endpoint_desk.store.tables import ALL_TABLES, META, SCHEMA_VERSION, desk_metadata

__all__ = ["Database", "driver_reason", "resolve_database_url"]

log = logging.getLogger(__name__)


def resolve_database_url(settings: StoreSettings, paths: Paths) -> tuple[URL, Path | None]:
    """The async SQLAlchemy URL to use, and the SQLite file behind it (if any).

    Raises:
        ConfigError: an unsupported or malformed URL, or PostgreSQL without asyncpg.
    """
    raw = (settings.database_url or "").strip()
    if not raw:
        path = paths.database_file
        return URL.create("sqlite+aiosqlite", database=str(path)), path
    try:
        url = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(
            "DATABASE_URL is not a database URL (expected sqlite:///PATH or "
            "postgresql://USER@HOST/DB)"
        ) from exc
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    if backend == "sqlite":
        if url.drivername not in ("sqlite", "sqlite+aiosqlite"):
            raise ConfigError(
                f"DATABASE_URL {shown}: driver {url.drivername!r} is not supported; "
                "use sqlite:///PATH or sqlite+aiosqlite:///PATH"
            )
        url = url.set(drivername="sqlite+aiosqlite")
        db = url.database or ""
        if not db or db == ":memory:" or db.startswith("file:"):
            return url, None
        path = Path(db).expanduser()
        return url.set(database=str(path)), path
    if backend in ("postgresql", "postgres"):
        if url.drivername not in ("postgresql", "postgres", "postgresql+asyncpg"):
            raise ConfigError(
                f"DATABASE_URL {shown}: driver {url.drivername!r} is not supported; "
                "use postgresql://... (run through asyncpg)"
            )
        if find_spec("asyncpg") is None:
            raise ConfigError(
                f"DATABASE_URL {shown} points at PostgreSQL, but the asyncpg package is "
                "not installed; install it with: pip install 'endpoint-desk[pg]'"
            )
        return url.set(drivername="postgresql+asyncpg"), None
    raise ConfigError(
        f"DATABASE_URL {shown}: database {backend!r} is not supported; "
        "use sqlite:///PATH or postgresql://..."
    )


_IMMEDIATE = "desk_begin_immediate"


def _install_sqlite_hooks(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, foreign keys and a busy timeout on every connection, and real transactions.

    Python's sqlite3 module starts transactions only before DML; taking over BEGIN
    makes DDL (migrations) transactional too (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            _enter_wal(cur, busy_timeout_ms)
            cur.execute("PRAGMA foreign_keys = ON")
            cur.execute("PRAGMA synchronous = NORMAL")
        finally:
            cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front (waiting up to busy_timeout for it), so a
        # read-then-write transaction never fails on a lock upgrade; readers don't.
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _enter_wal(cur: Any, busy_timeout_ms: int) -> None:
    """Switch to WAL, retrying while another process holds the lock.

    Changing the journal mode of a fresh file needs an exclusive lock, and SQLite
    reports "database is locked" at once (without its busy handler) when several
    processes open the same new file together; retry within the busy timeout.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    delay = 0.005
    while True:
        try:
            cur.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def driver_reason(exc: BaseException) -> str:
    """The driver's own words for what went wrong, on one line."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text or type(exc).__name__


class Database:
    """An open database and the guarded transactions the table families use.

    All methods are coroutines and raise ``StoreError`` (with the database's path or
    masked URL and the reason) when the database cannot be read or written.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        where: str,
        *,
        path: Path | None = None,
        busy_timeout_ms: int = 5000,
    ) -> None:
        self._engine = engine
        self._where = where
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._closed = False
        self._pg = engine.dialect.name == "postgresql"

    # ---- lifecycle ---------------------------------------------------------

    @classmethod
    async def open(
        cls, settings: StoreSettings, paths: Paths, *, busy_timeout_ms: int = 5000
    ) -> Self:
        """Open (creating or migrating as needed) the database the settings name.

        Args:
            settings: the ``store`` section of the settings.
            paths: where the desk keeps its files (the default SQLite file).
            busy_timeout_ms: how long SQLite waits for another writer's lock.

        Raises:
            ConfigError: a bad ``DATABASE_URL``.
            StoreError: the database cannot be opened, is corrupt, or was written by a
                newer endpoint-desk.
        """
        url, path = resolve_database_url(settings, paths)
        where = str(path) if path else url.render_as_string(hide_password=True)
        try:
            paths.ensure()
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open database at {where}: {driver_reason(exc)}") from exc
        kwargs: dict[str, Any] = {"echo": settings.echo}
        if url.get_backend_name() == "postgresql":
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_async_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database at {where}: {driver_reason(exc)}") from exc
        if engine.dialect.name == "sqlite":
            _install_sqlite_hooks(engine, busy_timeout_ms)
        store = cls(engine, where, path=path, busy_timeout_ms=busy_timeout_ms)
        try:
            await store._prepare()
        except BaseException:
            await engine.dispose()
            raise
        return store

    async def _prepare(self) -> None:
        async with self._guard("open"), self._begin() as conn:
            version = await self._stored_version(conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database at {self._where} has schema version {version}, "
                    f"newer than this endpoint-desk understands ({SCHEMA_VERSION}); "
                    "upgrade endpoint-desk or point DATABASE_URL at another database"
                )
            for target, migrate in MIGRATIONS:
                if 0 < version < target:
                    log.info("migrating %s to schema version %d", self._where, target)
                    await migrate(conn)
            await conn.run_sync(desk_metadata.create_all, tables=ALL_TABLES, checkfirst=True)
            if version != SCHEMA_VERSION:
                await self._set_meta(conn, "schema_version", str(SCHEMA_VERSION))

    async def _stored_version(self, conn: AsyncConnection) -> int:
        """0 for an empty database; 1 for desk tables without a meta table."""
        names: list[str] = await conn.run_sync(lambda c: inspect(c).get_table_names())
        if "meta" not in names:
            return 1 if "endpoints" in names else 0
        value = await conn.scalar(select(META.c.value).where(META.c.key == "schema_version"))
        if value is None:
            return 1 if "endpoints" in names else 0
        try:
            return int(value)
        except ValueError:
            raise StoreError(
                f"the database at {self._where} has an unreadable schema version {value!r}"
            ) from None

    async def _set_meta(self, conn: AsyncConnection, key: str, value: str) -> None:
        ins = self._insert(META).values(key=key, value=value)
        await conn.execute(ins.on_conflict_do_update(index_elements=["key"], set_={"value": value}))

    async def close(self) -> None:
        """Close every pooled connection; the store cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine (for tests and diagnostics)."""
        return self._engine

    @property
    def where(self) -> str:
        """The SQLite file path, or the URL with its password hidden."""
        return self._where

    async def schema_version(self) -> int:
        """The schema version stored in the database."""
        async with self._read("read") as conn:
            return await self._stored_version(conn)

    # ---- plumbing ------------------------------------------------------------

    @asynccontextmanager
    async def _guard(self, action: str) -> AsyncIterator[None]:
        if self._closed:
            raise StoreError(f"the database at {self._where} is closed")
        try:
            yield
        except DeskError:
            raise
        except (SQLAlchemyError, OSError, sqlite3.Error) as exc:
            raise StoreError(
                f"cannot {action} database at {self._where}: {driver_reason(exc)}"
            ) from exc

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._guard("write to"), self._begin() as conn:
            yield conn

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE)."""
        async with self._engine.connect() as conn:
            conn = await conn.execution_options(**{_IMMEDIATE: True})
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _read(self, action: str = "read from") -> AsyncIterator[AsyncConnection]:
        async with self._guard(action), self._engine.connect() as conn:
            yield conn

    def _insert(self, table: Table) -> Any:
        if self._pg:
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)
