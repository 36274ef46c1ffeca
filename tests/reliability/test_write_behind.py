"""The write-behind request log when the engine stops in the middle of a flush: the
recorder's task is cancelled (as the engine's task group does on shutdown) while a batch
is being written. Nothing may be lost and the database must not stay locked."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import new_id
from endpoint_desk.core.paths import get_paths
from endpoint_desk.store import Recorder, RequestRecord, Store

from .kit import wait_for

pytestmark = pytest.mark.timeout(60)


def record() -> RequestRecord:
    return RequestRecord(
        id=new_id(),
        ts=time.time(),
        endpoint="e",
        model="m",
        status="ok",
        error_kind=None,
        error=None,
        latency_ms=1.0,
        ttft_ms=1.0,
        input_tokens=1,
        output_tokens=2,
        cost=0.0,
        estimated=True,
        cached=False,
        stream=False,
        attempts=1,
    )


@pytest.mark.parametrize("thread", [False, True], ids=["loop", "thread"])
@pytest.mark.parametrize("cancel_after", [500, 2000, 6000])
async def test_cancelled_mid_flush_loses_nothing(
    desk_home: Path, cancel_after: int, thread: bool
) -> None:
    paths = get_paths()
    paths.ensure()
    store = await Store.open(load_settings().store, paths)
    try:
        rec = Recorder(store, flush_interval=0.05, batch_size=500, thread=thread)
        total = 10_000
        for _ in range(total):
            rec.record_request(record())
        task = asyncio.create_task(rec.run())
        await wait_for(lambda: rec.written >= cancel_after, 10.0, "the flush to be under way")
        task.cancel()  # what the engine's task group does when the desk closes
        with pytest.raises(asyncio.CancelledError):
            await task
        await rec.aclose()
        assert rec.pending == 0 and rec.failures == 0, rec.last_error
        assert await store.count_requests() == total
    finally:
        await store.close()


async def test_writer_thread_writes_while_the_event_loop_is_busy(desk_home: Path) -> None:
    """A saturated event loop does not hold the request log back: the writer thread
    commits batches while the loop never gets a turn."""
    paths = get_paths()
    paths.ensure()
    store = await Store.open(load_settings().store, paths)
    try:
        rec = Recorder(store, flush_interval=0.05, batch_size=200)
        assert rec.threaded
        rec.start()
        await asyncio.sleep(0)  # the task starts the thread
        for _ in range(1000):
            rec.record_request(record())
        deadline = time.monotonic() + 20
        while rec.written < 1000:  # busy, without awaiting: the loop is blocked here
            assert time.monotonic() < deadline, f"only {rec.written} written"
        assert await store.count_requests() == 1000
        await rec.aclose()
    finally:
        await store.close()
