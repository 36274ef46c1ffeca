"""The write-behind recorder against a real SQLite file."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.paths import Paths
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import HealthRecord, RequestRecord, Rollup
from endpoint_desk.store.repo import Store

from .conftest import full_request


async def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``cond()`` holds, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@pytest.fixture(params=[False, True], ids=["loop", "thread"])
def threaded(request: pytest.FixtureRequest) -> bool:
    """Every recorder test runs with the writing on the event loop and in a thread."""
    return bool(request.param)


def req(i: int, ts: float, endpoint: str = "a", **kw: Any) -> RequestRecord:
    return RequestRecord(id=f"r{i}", ts=ts, endpoint=endpoint, **kw)


async def test_many_records_few_transactions(store: Store, threaded: bool) -> None:
    commits = [0]
    event.listen(
        store.engine.sync_engine, "commit", lambda _c: commits.__setitem__(0, commits[0] + 1)
    )
    rec = Recorder(store, flush_interval=30.0, batch_size=250, thread=threaded)
    assert rec.threaded is threaded
    task = rec.start()
    now = time.time()
    for i in range(1000):
        rec.record_request(req(i, now, cost=0.001))
    for _ in range(10):
        rec.record_health(HealthRecord(now, "a", ok=True))
    # A full batch wakes the task long before the 30 s interval.
    await wait_for(lambda: rec.written == 1010)
    assert await store.count_requests() == 1000
    assert len(await store.health_samples("a")) == 10
    if threaded:
        # the thread may take a batch before the loop queued all 250 of it
        assert 5 <= rec.batches <= 10
        assert commits[0] == 0  # its own connection, not the store's
    else:
        assert rec.batches == commits[0] == 5  # 1010 items in batches of 250: 4 full, 1 of 10
    assert rec.pending == 0
    await rec.aclose()
    assert task.done()


async def test_interval_flush_and_close_flush(store: Store, threaded: bool) -> None:
    rec = Recorder(store, flush_interval=0.05, batch_size=500, thread=threaded)
    rec.start()
    now = time.time()
    rec.record_request(req(1, now))
    await wait_for(lambda: rec.written == 1)
    assert await store.count_requests() == 1

    slow = Recorder(store, flush_interval=60.0, batch_size=500, thread=threaded)
    slow.start()
    for i in range(2, 12):
        slow.record_request(req(i, now))
    await asyncio.sleep(0)
    assert slow.written == 0
    await slow.aclose()
    assert slow.written == 10
    assert await store.count_requests() == 11
    await rec.aclose()


async def test_close_without_task_flushes(store: Store, threaded: bool) -> None:
    rec = Recorder(store, flush_interval=60.0, thread=threaded)
    rec.record_health(HealthRecord(time.time(), "a", ok=False, detail="down"))
    await rec.aclose()
    assert [h.detail for h in await store.health_samples("a")] == ["down"]
    await rec.aclose()  # twice is fine


async def test_record_calls_are_synchronous(store: Store, threaded: bool) -> None:
    rec = Recorder(store, flush_interval=60.0, batch_size=1_000_000, thread=threaded)
    now = time.time()
    records = [req(i, now) for i in range(50_000)]
    for r in records:
        assert rec.record_request(r) is None  # type: ignore[func-returns-value]
    assert rec.pending == 50_000
    await rec.aclose()
    assert await store.count_requests() == 50_000


async def test_rollups_from_batches(store: Store, threaded: bool) -> None:
    rec = Recorder(store, flush_interval=60.0, batch_size=3, thread=threaded)
    m = 29_000_000  # a minute number
    base = m * 60.0
    rec.record_request(req(1, base + 1, latency_ms=100, ttft_ms=10, input_tokens=5, cost=0.1))
    rec.record_request(req(2, base + 59, latency_ms=300, status="error", error_kind="timeout"))
    rec.record_request(req(3, base + 60, latency_ms=50, ttft_ms=20, output_tokens=7))
    rec.record_request(req(4, base + 30, endpoint="b", latency_ms=10, cost=0.2))
    rec.record_request(req(5, base + 2, latency_ms=100, ttft_ms=30, output_tokens=1))
    assert await rec.flush()
    got = await store.rollups(None, base)
    assert got == [
        Rollup(m, "a", 3, 1, 500.0, 40.0, 2, 5, 1, 0.1),
        Rollup(m, "b", 1, 0, 10.0, 0.0, 0, 0, 0, 0.2),
        Rollup(m + 1, "a", 1, 0, 50.0, 20.0, 1, 0, 7, 0.0),
    ]
    assert got[0].mean_latency_ms == pytest.approx(500 / 3)
    assert got[0].mean_ttft_ms == 20.0
    # The request log and the rollups agree.
    assert await store.spend_since(base) == pytest.approx(sum(r.cost for r in got))
    await rec.aclose()


async def test_failed_flush_keeps_the_batch_and_recovers(
    paths: Paths, caplog: pytest.LogCaptureFixture, threaded: bool
) -> None:
    store = await Store.open(StoreSettings(), paths, busy_timeout_ms=50)
    rec = Recorder(store, flush_interval=0.05, batch_size=4, thread=threaded)
    now = time.time()
    # Another process holds the write lock: every write times out ("database is locked").
    locker = sqlite3.connect(paths.database_file, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        for i in range(10):
            rec.record_request(req(i, now, cost=1.0))
        with caplog.at_level(logging.WARNING, logger="endpoint_desk.store.recorder"):
            assert await rec.flush() is False
        assert rec.failures == 1
        assert rec.pending == 10
        assert rec.last_error is not None and "locked" in rec.last_error
        assert any("kept for the next try" in r.getMessage() for r in caplog.records)

        rec.start()  # the background task keeps failing quietly while the lock is held
        await wait_for(lambda: rec.failures >= 3)
        assert rec.pending == 10
        assert rec.written == 0
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await wait_for(lambda: rec.written == 10)
    assert await store.count_requests() == 10
    assert [r.requests for r in await store.rollups("a", now)] == [10]  # counted once
    await rec.aclose()
    await store.close()


async def test_queue_is_bounded_dropping_the_oldest(paths: Paths, threaded: bool) -> None:
    store = await Store.open(StoreSettings(), paths, busy_timeout_ms=20)
    rec = Recorder(store, flush_interval=60.0, batch_size=2, max_pending=5, thread=threaded)
    now = time.time()
    for i in range(8):
        rec.record_request(req(i, now))
    assert (rec.pending, rec.dropped) == (5, 3)

    locker = sqlite3.connect(paths.database_file, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        assert await rec.flush() is False
        rec.record_request(req(8, now))  # queue full again: drops the oldest (r3)
        assert (rec.pending, rec.dropped) == (5, 4)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert await rec.flush() is True
    ids = sorted(r.id for r in await store.recent_requests())
    assert ids == ["r4", "r5", "r6", "r7", "r8"]
    await rec.aclose()
    await store.close()


async def test_closed_store_never_raises_into_callers(
    paths: Paths, caplog: pytest.LogCaptureFixture
) -> None:
    store = await Store.open(StoreSettings(), paths)
    rec = Recorder(store, flush_interval=60.0, thread=False)  # the store's own connection
    await store.close()
    rec.record_request(req(1, time.time()))
    with caplog.at_level(logging.WARNING, logger="endpoint_desk.store.recorder"):
        await rec.aclose()
    assert rec.pending == 1
    assert any("not written" in r.getMessage() for r in caplog.records)


def test_from_settings_and_bad_arguments(store: Store) -> None:
    rec = Recorder.from_settings(store, StoreSettings(flush_interval=2.0, batch_size=7))
    assert (rec.flush_interval, rec.batch_size) == (2.0, 7)
    with pytest.raises(ValueError):
        Recorder(store, batch_size=0)
    assert Recorder(store).threaded  # a SQLite file: a writer thread by default


async def test_every_field_round_trips(store: Store, threaded: bool) -> None:
    rec = Recorder(store, flush_interval=60.0, thread=threaded)
    full = full_request()
    rec.record_request(full)
    rec.record_health(HealthRecord(1_700_000_001.0, "e", ok=False, latency_ms=3.0, detail="x"))
    assert await rec.flush()
    assert await store.recent_requests() == [full]
    [h] = await store.health_samples("e")
    assert (h.ok, h.latency_ms, h.error_kind, h.detail) == (False, 3.0, None, "x")
    await rec.aclose()
