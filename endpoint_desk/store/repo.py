"""The async repository: endpoints, request log, health samples, rollups, patterns.

SQLite through aiosqlite by default (WAL, foreign keys on, a busy timeout) in the
data folder; ``DATABASE_URL`` (``Settings.store.database_url``) points elsewhere:
``sqlite:///path``, ``sqlite+aiosqlite:///path`` or ``postgresql://...`` (run through
asyncpg, an optional dependency: ``pip install endpoint-desk[pg]``).

No engine exists before ``Store.open()``. Every SQLAlchemy, driver or OS error leaves
this module as a ``StoreError`` that names the database and the reason.

Schema changes are numbered migrations (``MIGRATIONS``), applied in order from the
version stored in ``meta.schema_version``, inside one transaction, so an upgrade never
loses a portfolio. A database written by a newer endpoint-desk is refused.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from importlib.util import find_spec
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import (
    URL,
    Table,
    and_,
    case,
    delete,
    event,
    func,
    inspect,
    make_url,
    select,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import ConfigError, DeskError, Duplicate, NotFound, StoreError
from endpoint_desk.core.models import EndpointSpec, EndpointState
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.records import (
    AlertRecord,
    EndpointRecord,
    HealthRecord,
    PatternRecord,
    RequestRecord,
    Rollup,
    rollups_from,
)
from endpoint_desk.store.tables import (
    ALERTS,
    ALL_TABLES,
    ENDPOINTS,
    HEALTH_SAMPLES,
    META,
    PATTERNS,
    REQUESTS,
    ROLLUPS,
    SCHEMA_VERSION,
    desk_metadata,
)

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "EndpointRecord",
    "HealthRecord",
    "PatternRecord",
    "RequestRecord",
    "Rollup",
    "Store",
    "resolve_database_url",
]

log = logging.getLogger(__name__)

_ROLLUP_SUMS = (
    "requests",
    "errors",
    "latency_ms_sum",
    "ttft_ms_sum",
    "ttft_count",
    "input_tokens",
    "output_tokens",
    "cost",
)

# ---------------------------------------------------------------------------
# Migrations
# ---------------------------------------------------------------------------

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


MIGRATIONS: list[tuple[int, Migration]] = [
    (2, _migrate_to_2),
]
"""(version, function) pairs: each function turns a database of ``version - 1`` into one
of ``version``. Append new ones; never edit or reorder a released one."""


# ---------------------------------------------------------------------------
# URLs and engines
# ---------------------------------------------------------------------------


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
            cur.execute("PRAGMA journal_mode = WAL")
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


def _reason(exc: BaseException) -> str:
    """The driver's own words for what went wrong, on one line."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig)
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text or type(exc).__name__


# ---------------------------------------------------------------------------
# The repository
# ---------------------------------------------------------------------------


class Store:
    """The desk's database: open it with ``await Store.open(settings, paths)``.

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
    ) -> Store:
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
            raise StoreError(f"cannot open database at {where}: {_reason(exc)}") from exc
        kwargs: dict[str, Any] = {"echo": settings.echo}
        if url.get_backend_name() == "postgresql":
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_async_engine(url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot open database at {where}: {_reason(exc)}") from exc
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

    async def __aenter__(self) -> Store:
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
            raise StoreError(f"cannot {action} database at {self._where}: {_reason(exc)}") from exc

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

    # ---- endpoints -------------------------------------------------------------

    def _endpoint(self, row: Any) -> EndpointRecord:
        try:
            spec = EndpointSpec.model_validate_json(row.spec_json)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise StoreError(
                f"stored endpoint {row.name!r} in {self._where} is not a valid spec "
                f"({where}: {first['msg']})"
            ) from exc
        try:
            state = EndpointState(row.state)
        except ValueError:
            state = EndpointState.OFF
        return EndpointRecord(
            spec=spec,
            state=state,
            state_reason=row.state_reason or "",
            state_until=row.state_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def _not_found(self, conn: AsyncConnection, name: str) -> NotFound:
        names = list((await conn.scalars(select(ENDPOINTS.c.name))).all())
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        msg = f"no endpoint named {name!r}"
        if close:
            msg += f"; did you mean {', '.join(close)}?"
        elif names:
            shown = ", ".join(sorted(names)[:10])
            msg += f"; the portfolio has {shown}" + (" ..." if len(names) > 10 else "")
        else:
            msg += "; the portfolio is empty"
        return NotFound(msg, endpoint=name)

    async def list_endpoints(self) -> list[EndpointRecord]:
        """Every endpoint, by name."""
        async with self._read() as conn:
            rows = (await conn.execute(select(ENDPOINTS).order_by(ENDPOINTS.c.name))).all()
        return [self._endpoint(r) for r in rows]

    async def endpoint_specs(self) -> dict[str, str]:
        """Every endpoint's name and its spec as stored JSON (cheap: nothing parsed)."""
        async with self._read() as conn:
            rows = (await conn.execute(select(ENDPOINTS.c.name, ENDPOINTS.c.spec_json))).all()
        return {name: raw for name, raw in rows}

    async def get_endpoint(self, name: str) -> EndpointRecord:
        """One endpoint by name.

        Raises:
            NotFound: naming ``name`` and the closest existing names.
        """
        async with self._read() as conn:
            row = (await conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.name == name))).first()
            if row is None:
                raise await self._not_found(conn, name)
        return self._endpoint(row)

    async def add_endpoint(
        self, spec: EndpointSpec, state: EndpointState = EndpointState.OFF
    ) -> EndpointRecord:
        """Add a new endpoint.

        Raises:
            Duplicate: an endpoint with this name exists.
        """
        now = time.time()
        values = {
            "name": spec.name,
            "kind": spec.kind.value,
            "spec_json": spec.model_dump_json(),
            "state": EndpointState(state).value,
            "state_reason": "",
            "state_until": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._write() as conn:
                await conn.execute(ENDPOINTS.insert().values(**values))
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise Duplicate(
                    f"an endpoint named {spec.name!r} already exists", endpoint=spec.name
                ) from None
            raise
        return EndpointRecord(spec, EndpointState(state), "", None, now, now)

    async def update_endpoint(self, spec: EndpointSpec) -> EndpointRecord:
        """Replace an endpoint's spec (its state stays).

        Raises:
            NotFound: no endpoint has this name.
        """
        now = time.time()
        async with self._write() as conn:
            result = await conn.execute(
                update(ENDPOINTS)
                .where(ENDPOINTS.c.name == spec.name)
                .values(kind=spec.kind.value, spec_json=spec.model_dump_json(), updated_at=now)
            )
            if result.rowcount == 0:
                raise await self._not_found(conn, spec.name)
            row = (await conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.name == spec.name))).one()
        return self._endpoint(row)

    async def set_state(
        self,
        name: str,
        state: EndpointState,
        reason: str = "",
        until: float | None = None,
    ) -> EndpointRecord:
        """Record an endpoint's state, why, and (for ``tripped``) when to retry.

        Raises:
            NotFound: no endpoint has this name.
        """
        now = time.time()
        async with self._write() as conn:
            result = await conn.execute(
                update(ENDPOINTS)
                .where(ENDPOINTS.c.name == name)
                .values(
                    state=EndpointState(state).value,
                    state_reason=reason,
                    state_until=until,
                    updated_at=now,
                )
            )
            if result.rowcount == 0:
                raise await self._not_found(conn, name)
            row = (await conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.name == name))).one()
        return self._endpoint(row)

    async def delete_endpoint(self, name: str) -> None:
        """Remove an endpoint with its health samples, rollups and alerts (the request log,
        which spend totals read, stays).

        Raises:
            NotFound: no endpoint has this name.
        """
        async with self._write() as conn:
            result = await conn.execute(delete(ENDPOINTS).where(ENDPOINTS.c.name == name))
            if result.rowcount == 0:
                raise await self._not_found(conn, name)
            await conn.execute(delete(HEALTH_SAMPLES).where(HEALTH_SAMPLES.c.endpoint == name))
            await conn.execute(delete(ALERTS).where(ALERTS.c.endpoint == name))
            await conn.execute(delete(ROLLUPS).where(ROLLUPS.c.endpoint == name))

    # ---- request log, health, rollups ------------------------------------------

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
                    _SQLITE_INSERT_REQUESTS, [_request_tuple(r) for r in requests]
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
            set_={c: ROLLUPS.c[c] + ins.excluded[c] for c in _ROLLUP_SUMS},
        )
        rows = [
            {
                "minute": r.minute,
                "endpoint": r.endpoint,
                **{c: getattr(r, c) for c in _ROLLUP_SUMS},
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

    async def health_samples(
        self, endpoint: str, since: float | None = None, limit: int = 1000
    ) -> list[HealthRecord]:
        """The newest ``limit`` health samples of an endpoint, oldest first."""
        q = select(HEALTH_SAMPLES).where(HEALTH_SAMPLES.c.endpoint == endpoint)
        if since is not None:
            q = q.where(HEALTH_SAMPLES.c.ts >= since)
        q = q.order_by(HEALTH_SAMPLES.c.ts.desc(), HEALTH_SAMPLES.c.id.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [
            HealthRecord(
                ts=r.ts,
                endpoint=r.endpoint,
                ok=bool(r.ok),
                latency_ms=r.latency_ms,
                error_kind=r.error_kind,
                detail=r.detail,
            )
            for r in reversed(rows)
        ]

    async def add_alert(self, alert: AlertRecord) -> None:
        """Keep one alert (the history behind a detail screen's "last trips")."""
        async with self._write() as conn:
            await conn.execute(
                ALERTS.insert(),
                {
                    "ts": alert.ts,
                    "endpoint": alert.endpoint,
                    "level": alert.level,
                    "title": alert.title,
                    "message": alert.message,
                },
            )

    async def alerts(self, endpoint: str | None = None, limit: int = 100) -> list[AlertRecord]:
        """The newest ``limit`` alerts (of one endpoint when named), oldest first."""
        q = select(ALERTS)
        if endpoint is not None:
            q = q.where(ALERTS.c.endpoint == endpoint)
        q = q.order_by(ALERTS.c.ts.desc(), ALERTS.c.id.desc()).limit(max(0, limit))
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [
            AlertRecord(
                ts=r.ts, endpoint=r.endpoint, level=r.level, title=r.title, message=r.message
            )
            for r in reversed(rows)
        ]

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

    # ---- patterns ----------------------------------------------------------------

    async def save_pattern(self, fingerprint: str, framework: str, config: dict[str, Any]) -> int:
        """Keep a learned configuration; returns its id."""
        try:
            config_json = json.dumps(config, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"pattern config is not JSON data: {exc}") from exc
        now = time.time()
        async with self._write() as conn:
            result = await conn.execute(
                PATTERNS.insert()
                .values(
                    fingerprint=fingerprint,
                    framework=framework,
                    config_json=config_json,
                    successes=0,
                    failures=0,
                    created_at=now,
                    updated_at=now,
                    last_used_at=None,
                )
                .returning(PATTERNS.c.id)
            )
            return int(result.scalar_one())

    async def list_patterns(
        self, fingerprint: str | None = None, framework: str | None = None
    ) -> list[PatternRecord]:
        """Learned patterns, best track record first (most successes, fewest failures)."""
        q = select(PATTERNS)
        if fingerprint is not None:
            q = q.where(PATTERNS.c.fingerprint == fingerprint)
        if framework is not None:
            q = q.where(PATTERNS.c.framework == framework)
        q = q.order_by(PATTERNS.c.successes.desc(), PATTERNS.c.failures, PATTERNS.c.id)
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [
            PatternRecord(
                id=r.id,
                fingerprint=r.fingerprint,
                framework=r.framework,
                config=json.loads(r.config_json),
                successes=r.successes,
                failures=r.failures,
                created_at=r.created_at,
                updated_at=r.updated_at,
                last_used_at=r.last_used_at,
            )
            for r in rows
        ]

    async def record_pattern_result(self, id: int, ok: bool) -> None:
        """Count one success or failure of a pattern.

        Raises:
            NotFound: no pattern has this id.
        """
        now = time.time()
        column = PATTERNS.c.successes if ok else PATTERNS.c.failures
        async with self._write() as conn:
            result = await conn.execute(
                update(PATTERNS)
                .where(PATTERNS.c.id == id)
                .values({column: column + 1, "updated_at": now, "last_used_at": now})
            )
            if result.rowcount == 0:
                raise NotFound(f"no pattern with id {id}")


_REQUEST_COLUMNS = tuple(c.name for c in REQUESTS.columns)
_SQLITE_INSERT_REQUESTS = (
    f"INSERT OR IGNORE INTO requests ({', '.join(_REQUEST_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))})"
)
_request_tuple: Callable[[RequestRecord], tuple[Any, ...]] = attrgetter(*_REQUEST_COLUMNS)
"""A request record as the row ``_SQLITE_INSERT_REQUESTS`` takes (the table's columns,
in order, are ``RequestRecord``'s fields)."""


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


_HEALTH_COLUMNS = ("ts", "endpoint", "ok", "latency_ms", "error_kind", "detail")


def _json_insert(table: str, columns: Sequence[str], conflict: str = "") -> str:
    """``INSERT INTO table SELECT ... FROM json_each(?)``: a whole batch of rows as one
    JSON array in one parameter, so SQLite takes it in one step. (``executemany``
    steps once per row and gives up the GIL each time; with a busy event loop in the
    other thread, getting it back costs up to the switch interval, 5 ms, per row.)"""
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
    return f"INSERT {conflict} INTO {table} ({', '.join(columns)}) SELECT {picks} FROM json_each(?)"


_SQLITE_JSON_INSERT_REQUESTS = _json_insert("requests", _REQUEST_COLUMNS, "OR IGNORE")
_SQLITE_JSON_INSERT_HEALTH = _json_insert("health_samples", _HEALTH_COLUMNS)
_SQLITE_UPSERT_ROLLUPS = (
    f"INSERT INTO rollups (minute, endpoint, {', '.join(_ROLLUP_SUMS)}) "
    f"VALUES (?, ?, {', '.join('?' * len(_ROLLUP_SUMS))}) "
    "ON CONFLICT (minute, endpoint) DO UPDATE SET "
    + ", ".join(f"{c} = {c} + excluded.{c}" for c in _ROLLUP_SUMS)
)


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
                    rows = [_request_tuple(r) for r in requests]
                    conn.execute(_SQLITE_JSON_INSERT_REQUESTS, (_json_rows(rows),))
                    conn.executemany(
                        _SQLITE_UPSERT_ROLLUPS,
                        [
                            (r.minute, r.endpoint, *(getattr(r, c) for c in _ROLLUP_SUMS))
                            for r in rollups_from(list(requests))
                        ],
                    )
                if health:
                    hrows = [
                        (h.ts, h.endpoint, h.ok, h.latency_ms, h.error_kind, h.detail)
                        for h in health
                    ]
                    conn.execute(_SQLITE_JSON_INSERT_HEALTH, (_json_rows(hrows),))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            self.close()
            raise StoreError(
                f"cannot write to the database at {self.path}: {_reason(exc)}"
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
