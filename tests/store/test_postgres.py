"""The store, the recorder and the desk over a real PostgreSQL (``DATABASE_URL``).

A throwaway cluster is created with the machine's PostgreSQL (``initdb`` and
``pg_ctl``, as the ``postgres`` user when the tests run as root) on a free port on
127.0.0.1; each test gets a database of its own. ``scripts/install-dev`` installs
Debian's ``postgresql`` package, so this runs in CI; on a machine without it the tests
are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from endpoint_desk.core.config import Settings, StoreSettings
from endpoint_desk.core.errors import Duplicate, NotFound
from endpoint_desk.core.models import ChatRequest, EndpointState
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import (
    AlertRecord,
    HealthRecord,
    RequestRecord,
    Rollup,
    RollupTotals,
)
from endpoint_desk.store.repo import Store

from .conftest import spec

pytestmark = pytest.mark.timeout(120)


def _pg_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    """A PostgreSQL cluster for this module; yields its base URL (no database)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-dev installs it)")
    pytest.importorskip("asyncpg", reason="the pg extra (asyncpg) is not installed")
    root = Path(tempfile.mkdtemp(prefix="desk-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()

    def run(*args: str) -> None:
        # the server's own output goes to its log file (-l): a pipe here would stay
        # open as long as the server runs
        subprocess.run(
            [*as_user, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    opts = f"-h 127.0.0.1 -p {port} -k {sockets} -F"
    log = str(root / "server.log")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", log, "-o", opts, "-w", "-t", "30", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        with contextlib.suppress(Exception):
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def pg_url(pg_server: str) -> str:
    """A fresh database of its own for one test."""
    import asyncpg

    name = "desk_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(pg_server + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{pg_server}/{name}"


@pytest.fixture
async def pg_store(pg_url: str, paths: Paths) -> AsyncIterator[Store]:
    store = await Store.open(StoreSettings(database_url=pg_url), paths)
    yield store
    await store.close()


def req(i: int, ts: float, endpoint: str = "alpha", **kw: object) -> RequestRecord:
    return RequestRecord(id=f"r{i}", ts=ts, endpoint=endpoint, **kw)  # type: ignore[arg-type]


async def test_portfolio_round_trip(pg_store: Store) -> None:
    store = pg_store
    assert await store.schema_version() >= 2
    assert "postgres" not in str(store.engine.url.password or "")
    await store.add_endpoint(spec(), state=EndpointState.ON)
    with pytest.raises(Duplicate):
        await store.add_endpoint(spec())
    await store.update_endpoint(spec(models=["m1", "m2"]))
    await store.set_state("alpha", EndpointState.TRIPPED, "stop-loss", 123.0)
    rec = await store.get_endpoint("alpha")
    assert rec.spec.models == ["m1", "m2"]
    assert (rec.state, rec.state_reason, rec.state_until) == (
        EndpointState.TRIPPED,
        "stop-loss",
        123.0,
    )
    assert set(await store.endpoint_specs()) == {"alpha"}
    with pytest.raises(NotFound):
        await store.get_endpoint("alpah")
    await store.delete_endpoint("alpha")
    assert await store.list_endpoints() == []


async def test_request_log_rollups_health_alerts_and_patterns(pg_store: Store) -> None:
    store = pg_store
    now = time.time()
    full = RequestRecord(
        id="full",
        ts=now,
        endpoint="alpha",
        model="m1",
        status="error",
        error_kind="timeout",
        error="slow",
        latency_ms=12.5,
        ttft_ms=None,
        input_tokens=3,
        output_tokens=4,
        cost=0.25,
        estimated=True,
        cached=False,
        stream=True,
        attempts=2,
    )
    await store.write_batch([full, req(2, now, cost=0.5)], [HealthRecord(now, "alpha", ok=True)])
    assert await store.count_requests() == 2
    assert full in await store.recent_requests("alpha")
    [rollup] = await store.rollups("alpha", now - 60)
    assert (rollup.requests, rollup.errors) == (2, 1)
    assert await store.spend_since(now - 60) == pytest.approx(0.75)
    await store.write_requests([full])  # an id already stored is skipped
    assert await store.count_requests() == 2
    assert [h.ok for h in await store.health_samples("alpha")] == [True]
    assert await store.uptime("alpha", now - 60) == 1.0

    await store.add_alert(AlertRecord(now, "alpha", "warning", "Tripped", "why"))
    assert [a.title for a in await store.alerts("alpha")] == ["Tripped"]

    pid = await store.save_pattern("fp", "gradio", {"input": "textarea"})
    await store.record_pattern_result(pid, ok=True)
    [pattern] = await store.list_patterns()
    assert (pattern.config, pattern.successes) == ({"input": "textarea"}, 1)

    assert await store.prune(now + 120) >= 4
    assert await store.count_requests() == 0


async def test_rollup_totals(pg_store: Store) -> None:
    minute = 28_000_000
    await pg_store.upsert_rollups(
        [
            Rollup(minute - 1, "alpha", requests=2, errors=1, input_tokens=3, cost=1.0),
            Rollup(minute, "alpha", requests=1, output_tokens=4, cost=0.25),
            Rollup(minute, "beta", requests=5, cost=0.5),
        ]
    )
    totals = await pg_store.rollup_totals(minute)
    assert totals == [
        RollupTotals("alpha", 3, 1, 3, 4, 1.25, 0.25),
        RollupTotals("beta", 5, 0, 0, 0, 0.5, 0.5),
    ]
    assert all(type(t.requests) is int and type(t.cost) is float for t in totals)


async def test_recorder_writes_through_the_async_store(pg_store: Store) -> None:
    rec = Recorder(pg_store, flush_interval=0.05, batch_size=100)
    assert not rec.threaded  # the writer thread is for SQLite files only
    rec.start()
    now = time.time()
    for i in range(1000):
        rec.record_request(req(i, now, cost=0.001))
    deadline = time.monotonic() + 30
    while rec.written < 1000:
        assert time.monotonic() < deadline, f"only {rec.written} written"
        await asyncio.sleep(0.02)
    await rec.aclose()
    assert await pg_store.count_requests() == 1000
    [rollup] = await pg_store.rollups("alpha", now - 60)
    assert rollup.requests == 1000


async def test_the_desk_over_postgres(
    pg_url: str, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    from endpoint_desk.engine.desk import Desk
    from endpoint_desk.sim import SimServer

    monkeypatch.setenv("DATABASE_URL", pg_url)
    settings = Settings.model_validate({"store": {"flush_interval": 0.05}})
    assert settings.store.database_url == pg_url
    async with SimServer() as sim:
        async with Desk(settings) as desk:
            await desk.add(spec("pg-sim", base_url=sim.url + "/v1", models=["sim-model"]))
            result = await desk.chat(ChatRequest.from_text("hi", model="sim-model"))
            assert result.endpoint == "pg-sim" and result.content == "Echo: hi"
            served = desk.endpoint("pg-sim").metrics.requests  # the proof and the chat
        assert served == 2
        async with Desk(settings, autostart=False) as again:
            view = again.endpoint("pg-sim")
            assert view.metrics.requests == served  # seeded from the stored rollups
            recent = await again.recent_requests("pg-sim")
            assert result.id in {r.id for r in recent}
