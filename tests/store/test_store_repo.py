"""The repository against real SQLite files."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import ConfigError, Duplicate, NotFound, StoreError
from endpoint_desk.core.models import EndpointState
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.database import resolve_database_url
from endpoint_desk.store.records import HealthRecord, RequestRecord, Rollup, RollupTotals
from endpoint_desk.store.repo import Store
from endpoint_desk.store.tables import SCHEMA_VERSION

from .conftest import spec


async def test_open_creates_file_with_wal_and_foreign_keys(store: Store, paths: Paths) -> None:
    assert paths.database_file.is_file()
    async with store.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
    # An independent connection sees the WAL mode persisted in the file itself.
    con = sqlite3.connect(paths.database_file)
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)
    finally:
        con.close()
    assert await store.schema_version() == SCHEMA_VERSION


async def test_endpoint_round_trip_survives_reopen(paths: Paths) -> None:
    s = spec(
        "Beta Chat",
        api_key="env:BETA_KEY",
        model_mapping={"gpt": "m1"},
        options={"selectors": {"input": "#in"}},
        tier=2,
    )
    store = await Store.open(StoreSettings(), paths)
    rec = await store.add_endpoint(s)
    assert rec.name == "beta-chat"
    assert rec.state is EndpointState.OFF
    assert rec.created_at == rec.updated_at
    await store.close()

    store = await Store.open(StoreSettings(), paths)
    try:
        got = await store.get_endpoint("beta-chat")
        assert got.spec == s
        assert got.state is EndpointState.OFF
        assert [r.name for r in await store.list_endpoints()] == ["beta-chat"]
    finally:
        await store.close()


async def test_list_is_sorted_and_state_is_kept(store: Store) -> None:
    await store.add_endpoint(spec("zeta"))
    await store.add_endpoint(spec("alpha"), state=EndpointState.ON)
    recs = await store.list_endpoints()
    assert [r.name for r in recs] == ["alpha", "zeta"]
    assert recs[0].state is EndpointState.ON


async def test_duplicate_name_is_refused(store: Store) -> None:
    await store.add_endpoint(spec("alpha"))
    with pytest.raises(Duplicate, match="'alpha' already exists"):
        await store.add_endpoint(spec("alpha", base_url="http://127.0.0.1:10"))
    assert (await store.get_endpoint("alpha")).spec.base_url == "http://127.0.0.1:9/v1"


async def test_not_found_names_the_name_and_close_names(store: Store) -> None:
    with pytest.raises(NotFound, match="no endpoint named 'ghost'; the portfolio is empty"):
        await store.get_endpoint("ghost")
    await store.add_endpoint(spec("openai-main"))
    await store.add_endpoint(spec("ollama-local"))
    with pytest.raises(NotFound) as info:
        await store.get_endpoint("openai-mian")
    assert "'openai-mian'" in str(info.value)
    assert "did you mean openai-main" in str(info.value)
    assert info.value.endpoint == "openai-mian"
    with pytest.raises(NotFound, match="no endpoint named 'x'"):
        await store.set_state("x", EndpointState.ON)
    with pytest.raises(NotFound):
        await store.update_endpoint(spec("nope"))
    with pytest.raises(NotFound):
        await store.delete_endpoint("nope")


async def test_state_changes(store: Store) -> None:
    await store.add_endpoint(spec("alpha"))
    until = time.time() + 30
    rec = await store.set_state("alpha", EndpointState.TRIPPED, "5 of 6 failed", until)
    assert (rec.state, rec.state_reason, rec.state_until) == (
        EndpointState.TRIPPED,
        "5 of 6 failed",
        until,
    )
    got = await store.get_endpoint("alpha")
    assert got.state is EndpointState.TRIPPED
    assert got.state_until == until
    assert got.updated_at >= got.created_at
    rec = await store.set_state("alpha", EndpointState.ON)
    assert (rec.state, rec.state_reason, rec.state_until) == (EndpointState.ON, "", None)


async def test_update_keeps_state(store: Store) -> None:
    await store.add_endpoint(spec("alpha"), state=EndpointState.ON)
    rec = await store.update_endpoint(spec("alpha", models=["m1", "m2"], weight=3))
    assert rec.state is EndpointState.ON
    assert (await store.get_endpoint("alpha")).spec.models == ["m1", "m2"]


async def test_delete_removes_health_and_rollups(store: Store) -> None:
    now = time.time()
    for name in ("alpha", "beta"):
        await store.add_endpoint(spec(name))
        await store.write_health([HealthRecord(now, name, True)])
        await store.upsert_rollups([Rollup(int(now // 60), name, requests=1)])
    await store.delete_endpoint("alpha")
    assert [r.name for r in await store.list_endpoints()] == ["beta"]
    assert await store.health_samples("alpha") == []
    assert await store.rollups("alpha", 0) == []
    assert len(await store.health_samples("beta")) == 1
    assert len(await store.rollups("beta", 0)) == 1


async def test_request_log_queries(store: Store) -> None:
    now = time.time()
    recs = [
        RequestRecord(id=f"r{i}", ts=now - 100 + i, endpoint="a" if i % 2 else "b", cost=0.5)
        for i in range(10)
    ]
    await store.write_requests(recs)
    await store.write_requests(recs[:2])  # ids already stored are skipped
    assert await store.count_requests() == 10
    assert await store.count_requests("a") == 5
    recent = await store.recent_requests(limit=3)
    assert [r.id for r in recent] == ["r9", "r8", "r7"]
    assert recent[0] == recs[9]
    assert [r.id for r in await store.recent_requests("b", since=now - 95)] == ["r8", "r6"]


async def test_uptime_and_spend(store: Store) -> None:
    now = time.time()
    await store.write_health(
        [HealthRecord(now - 1000, "a", False)]
        + [HealthRecord(now - 50 + i, "a", ok=i != 1) for i in range(4)]
        + [HealthRecord(now, "b", False, error_kind="timeout", detail="no answer")]
    )
    assert await store.uptime("a", now - 100) == pytest.approx(0.75)
    assert await store.uptime("a", now - 2000) == pytest.approx(0.6)
    assert await store.uptime("b", now - 100) == 0.0
    assert await store.uptime("c", now - 100) is None
    samples = await store.health_samples("a", limit=2)
    assert [s.ts for s in samples] == [now - 48, now - 47]  # newest two, oldest first
    b = await store.health_samples("b")
    assert b == [HealthRecord(now, "b", False, 0.0, "timeout", "no answer")]

    await store.write_requests(
        [
            RequestRecord(id="old", ts=now - 90_000, endpoint="a", cost=10.0),
            RequestRecord(id="x1", ts=now - 10, endpoint="a", cost=0.25),
            RequestRecord(id="x2", ts=now - 5, endpoint="b", cost=0.5, status="error"),
        ]
    )
    assert await store.spend_since(now - 3600) == pytest.approx(0.75)
    assert await store.spend_since(now - 3600, endpoint="a") == pytest.approx(0.25)
    assert await store.spend_since(now - 100_000) == pytest.approx(10.75)
    assert await store.spend_since(now + 10) == 0.0


async def test_rollups_add_up(store: Store) -> None:
    r1 = Rollup(100, "a", requests=2, errors=1, latency_ms_sum=30.0, cost=0.1)
    await store.upsert_rollups([r1, Rollup(101, "a", requests=1)])
    await store.upsert_rollups([Rollup(100, "a", requests=3, ttft_ms_sum=9.0, ttft_count=3)])
    got = await store.rollups("a", 100 * 60)
    assert got[0] == Rollup(100, "a", 5, 1, 30.0, 9.0, 3, 0, 0, 0.1)
    assert got[0].mean_ttft_ms == 3.0
    assert [r.minute for r in got] == [100, 101]
    assert [r.minute for r in await store.rollups("a", 101 * 60 + 59)] == [101]


async def test_rollup_totals_sum_every_minute_and_the_cost_since_one(store: Store) -> None:
    assert await store.rollup_totals(0) == []
    await store.upsert_rollups(
        [
            Rollup(99, "b", requests=1, cost=0.5),  # before the minute: no cost_since
            Rollup(99, "a", requests=2, errors=1, input_tokens=10, output_tokens=20, cost=1.0),
            Rollup(100, "a", requests=3, errors=0, input_tokens=5, output_tokens=7, cost=0.25),
            Rollup(101, "a", requests=1, errors=1, input_tokens=1, output_tokens=1, cost=0.125),
        ]
    )
    assert await store.rollup_totals(100) == [
        RollupTotals("a", 6, 2, 16, 28, 1.375, 0.375),
        RollupTotals("b", 1, 0, 0, 0, 0.5, 0.0),
    ]
    [a, b] = await store.rollup_totals(0)
    assert (a.cost_since, b.cost_since) == (1.375, 0.5)
    assert [t.cost_since for t in await store.rollup_totals(102)] == [0.0, 0.0]


async def test_patterns(store: Store) -> None:
    a = await store.save_pattern("fp1", "gradio", {"input": "textarea", "n": 1})
    b = await store.save_pattern("fp2", "open-webui", {"input": "#chat-input"})
    await store.record_pattern_result(b, True)
    await store.record_pattern_result(b, True)
    await store.record_pattern_result(a, False)
    pats = await store.list_patterns()
    assert [p.id for p in pats] == [b, a]
    assert (pats[0].successes, pats[0].failures) == (2, 0)
    assert pats[1].config == {"input": "textarea", "n": 1}
    assert pats[1].last_used_at is not None
    assert [p.id for p in await store.list_patterns(framework="gradio")] == [a]
    with pytest.raises(NotFound, match="no pattern with id 999"):
        await store.record_pattern_result(999, True)


async def test_closed_store_refuses_work(paths: Paths) -> None:
    store = await Store.open(StoreSettings(), paths)
    await store.close()
    with pytest.raises(StoreError, match="is closed"):
        await store.list_endpoints()


# ---- migrations, versions, corruption ------------------------------------------

V1_SCHEMA = """
CREATE TABLE meta (key VARCHAR NOT NULL PRIMARY KEY, value VARCHAR NOT NULL);
CREATE TABLE endpoints (name VARCHAR NOT NULL PRIMARY KEY, kind VARCHAR NOT NULL,
  spec_json TEXT NOT NULL, state VARCHAR NOT NULL, state_reason VARCHAR NOT NULL,
  state_until FLOAT, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL);
CREATE TABLE requests (id VARCHAR NOT NULL PRIMARY KEY, ts FLOAT NOT NULL,
  endpoint VARCHAR NOT NULL, model VARCHAR NOT NULL, status VARCHAR NOT NULL,
  error_kind VARCHAR, error VARCHAR, latency_ms FLOAT NOT NULL, ttft_ms FLOAT,
  input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost FLOAT NOT NULL,
  estimated BOOLEAN NOT NULL, cached BOOLEAN NOT NULL, stream BOOLEAN NOT NULL);
CREATE INDEX ix_requests_endpoint_ts ON requests (endpoint, ts);
CREATE TABLE health_samples (id INTEGER NOT NULL PRIMARY KEY, ts FLOAT NOT NULL,
  endpoint VARCHAR NOT NULL, ok BOOLEAN NOT NULL, latency_ms FLOAT NOT NULL,
  error_kind VARCHAR, detail VARCHAR NOT NULL);
CREATE TABLE rollups (minute INTEGER NOT NULL, endpoint VARCHAR NOT NULL,
  requests INTEGER NOT NULL, errors INTEGER NOT NULL, latency_ms_sum FLOAT NOT NULL,
  ttft_ms_sum FLOAT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
  cost FLOAT NOT NULL, PRIMARY KEY (minute, endpoint));
CREATE TABLE patterns (id INTEGER NOT NULL PRIMARY KEY, fingerprint TEXT NOT NULL,
  framework TEXT NOT NULL, config_json TEXT NOT NULL, successes INTEGER NOT NULL,
  failures INTEGER NOT NULL, created_at FLOAT NOT NULL, updated_at FLOAT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def _make_v1(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    spec_json = spec("legacy", api_key="env:LEGACY_KEY").model_dump_json()
    con = sqlite3.connect(path)
    try:
        con.executescript(V1_SCHEMA)
        con.execute(
            "INSERT INTO endpoints VALUES ('legacy', 'openai', ?, 'tripped', 'too many errors',"
            " 123.5, 1.0, 2.0)",
            (spec_json,),
        )
        con.execute(
            "INSERT INTO requests VALUES ('req-1', 1000.0, 'legacy', 'm1', 'ok', NULL, NULL,"
            " 12.5, 4.0, 10, 20, 0.01, 0, 0, 1)"
        )
        con.execute("INSERT INTO health_samples VALUES (1, 1000.0, 'legacy', 1, 3.0, NULL, '')")
        con.execute("INSERT INTO rollups VALUES (16, 'legacy', 4, 1, 50.0, 16.0, 40, 80, 0.04)")
        con.execute(
            "INSERT INTO patterns VALUES (7, 'fp', 'gradio', '{\"input\": \"textarea\"}', 3, 1,"
            " 1.0, 2.0)"
        )
        con.commit()
    finally:
        con.close()
    return spec_json


async def test_migrates_a_v1_database_keeping_the_portfolio(paths: Paths) -> None:
    _make_v1(paths.database_file)
    store = await Store.open(StoreSettings(), paths)
    try:
        assert await store.schema_version() == SCHEMA_VERSION == 3
        rec = await store.get_endpoint("legacy")
        assert rec.spec == spec("legacy", api_key="env:LEGACY_KEY")
        assert (rec.state, rec.state_reason, rec.state_until) == (
            EndpointState.TRIPPED,
            "too many errors",
            123.5,
        )
        (req,) = await store.recent_requests()
        assert (req.id, req.ttft_ms, req.stream, req.attempts) == ("req-1", 4.0, True, 1)
        assert req.kind == "chat"  # every request logged before v3 was a chat
        (roll,) = await store.rollups("legacy", 0)
        assert (roll.requests, roll.ttft_count, roll.mean_ttft_ms) == (4, 4, 4.0)
        (pat,) = await store.list_patterns()
        assert (pat.id, pat.successes, pat.config, pat.last_used_at) == (
            7,
            3,
            {"input": "textarea"},
            None,
        )
        assert len(await store.health_samples("legacy")) == 1
        # New columns are writable after the migration.
        await store.write_requests(
            [RequestRecord(id="req-2", ts=2000.0, endpoint="x", attempts=3, kind="embeddings")]
        )
        newest = (await store.recent_requests(limit=1))[0]
        assert (newest.attempts, newest.kind) == (3, "embeddings")
    finally:
        await store.close()
    con = sqlite3.connect(paths.database_file)
    try:
        indexes = {r[1] for r in con.execute("PRAGMA index_list('requests')")}
        assert "ix_requests_ts" in indexes
    finally:
        con.close()
    # Opening again is a no-op.
    store = await Store.open(StoreSettings(), paths)
    assert len(await store.list_endpoints()) == 1
    await store.close()


async def test_refuses_a_database_from_a_newer_version(paths: Paths) -> None:
    store = await Store.open(StoreSettings(), paths)
    await store.add_endpoint(spec("alpha"))
    await store.close()
    con = sqlite3.connect(paths.database_file)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError) as info:
        await Store.open(StoreSettings(), paths)
    msg = str(info.value)
    assert "schema version 99" in msg
    assert str(paths.database_file) in msg
    assert "upgrade endpoint-desk" in msg
    con = sqlite3.connect(paths.database_file)
    try:
        assert con.execute("SELECT value FROM meta").fetchone() == ("99",)
        assert con.execute("SELECT name FROM endpoints").fetchall() == [("alpha",)]
    finally:
        con.close()


async def test_corrupt_database_file_gives_store_error(paths: Paths) -> None:
    paths.database_file.parent.mkdir(parents=True)
    paths.database_file.write_bytes(b"this is not a database, just some garbage\n" * 200)
    with pytest.raises(StoreError) as info:
        await Store.open(StoreSettings(), paths)
    msg = str(info.value)
    assert msg.startswith(f"cannot open database at {paths.database_file}")
    assert "not a database" in msg
    assert info.value.one_line().startswith("Database error: cannot open database")


async def test_unopenable_path_gives_store_error(paths: Paths, tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    settings = StoreSettings(database_url=f"sqlite:///{blocker}/sub/desk.db")
    with pytest.raises(StoreError, match=f"cannot open database at {blocker}/sub/desk.db"):
        await Store.open(settings, paths)


# ---- URLs ---------------------------------------------------------------------------


async def test_database_url_overrides_the_default_file(paths: Paths, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "portfolio.db"
    for url in (f"sqlite:///{target}", f"sqlite+aiosqlite:///{target}"):
        store = await Store.open(StoreSettings(database_url=url), paths)
        try:
            assert store.where == str(target)
            if not await store.list_endpoints():
                await store.add_endpoint(spec("alpha"))
            assert [r.name for r in await store.list_endpoints()] == ["alpha"]
        finally:
            await store.close()
    assert target.is_file()
    assert not paths.database_file.exists()


def test_resolve_database_url(paths: Paths) -> None:
    url, path = resolve_database_url(StoreSettings(), paths)
    assert url.drivername == "sqlite+aiosqlite"
    assert path == paths.database_file
    url, path = resolve_database_url(StoreSettings(database_url="sqlite://"), paths)
    assert (url.drivername, path) == ("sqlite+aiosqlite", None)
    with pytest.raises(ConfigError, match="'mysql' is not supported"):
        resolve_database_url(StoreSettings(database_url="mysql://u:pw@h/db"), paths)
    with pytest.raises(ConfigError, match="not a database URL"):
        resolve_database_url(StoreSettings(database_url="no url at all"), paths)


def test_postgres_url_without_asyncpg_is_a_clear_config_error(
    paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    import endpoint_desk.store.database as database

    monkeypatch.setattr(database, "find_spec", lambda name: None)
    for raw in ("postgresql://desk:hunter22@db.example/desk", "postgres://desk:hunter22@h/d"):
        with pytest.raises(ConfigError) as info:
            resolve_database_url(StoreSettings(database_url=raw), paths)
        msg = str(info.value)
        assert "asyncpg" in msg and "endpoint-desk[pg]" in msg
        assert "hunter22" not in msg


def test_postgres_url_maps_to_asyncpg(paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    import endpoint_desk.store.database as database

    monkeypatch.setattr(database, "find_spec", lambda name: object())
    url, path = resolve_database_url(
        StoreSettings(database_url="postgresql://desk:pw@127.0.0.1:5432/desk"), paths
    )
    assert (url.drivername, url.host, url.database, path) == (
        "postgresql+asyncpg",
        "127.0.0.1",
        "desk",
        None,
    )


async def test_in_memory_database_works(paths: Paths) -> None:
    store = await Store.open(StoreSettings(database_url="sqlite+aiosqlite://"), paths)
    try:
        await store.add_endpoint(spec("alpha"))
        assert [r.name for r in await store.list_endpoints()] == ["alpha"]
    finally:
        await store.close()


def test_import_creates_no_engine_and_no_files(tmp_path: Path) -> None:
    code = (
        "import endpoint_desk.store, sys, gc\n"
        "from sqlalchemy.ext.asyncio import AsyncEngine\n"
        "assert not [o for o in gc.get_objects() if isinstance(o, AsyncEngine)]\n"
        "assert 'textual' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {"DESK_HOME": str(tmp_path / "home"), "PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=root, timeout=60)
    assert not (tmp_path / "home").exists()


async def test_echo_setting_logs_sql(paths: Paths, caplog: pytest.LogCaptureFixture) -> None:
    store = await Store.open(StoreSettings(echo=True), paths)
    try:
        caplog.clear()
        with caplog.at_level("INFO", logger="sqlalchemy.engine"):
            await store.list_endpoints()
        assert any("FROM endpoints" in r.getMessage() for r in caplog.records)
    finally:
        await store.close()


# ---- several processes on one file -------------------------------------------------


async def test_concurrent_opens_and_writes_share_one_file(paths: Paths) -> None:
    # Four stores (as four desk processes would) open a fresh file at once.
    stores = await asyncio.gather(*(Store.open(StoreSettings(), paths) for _ in range(4)))
    try:
        await asyncio.gather(*(s.add_endpoint(spec(f"ep{i}")) for i, s in enumerate(stores)))
        now = time.time()
        await asyncio.gather(
            *(
                s.write_batch([RequestRecord(id=f"{i}-{j}", ts=now, endpoint=f"ep{i}")], [])
                for i, s in enumerate(stores)
                for j in range(25)
            ),
            *(s.list_endpoints() for s in stores for _ in range(10)),
        )
        assert [r.name for r in await stores[0].list_endpoints()] == [f"ep{i}" for i in range(4)]
        assert await stores[3].count_requests() == 100
        assert sum(r.requests for r in await stores[1].rollups(None, now)) == 100
        assert await stores[2].schema_version() == SCHEMA_VERSION
    finally:
        for s in stores:
            await s.close()


async def test_writes_take_the_lock_up_front(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    def before(_c: object, _cur: object, statement: str, *_a: object) -> None:
        seen.append(statement)

    event.listen(store.engine.sync_engine, "before_cursor_execute", before)
    await store.add_endpoint(spec("alpha"))
    await store.list_endpoints()
    assert seen[0] == "BEGIN IMMEDIATE"
    assert "BEGIN" in seen[2:]  # the read is a plain deferred transaction
