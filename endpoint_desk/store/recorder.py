"""Write-behind recorder: request records and health samples leave the hot path at once.

``record_request()`` and ``record_health()`` are plain, non-blocking, O(1) calls that
append to an in-memory deque; they never await and never raise. Everything waiting is
written every ``flush_interval`` seconds, or sooner when ``batch_size`` items are
waiting, one transaction per batch, with the batch's requests added to the per-minute
rollups in that same transaction.

With a SQLite file (the default) the writing happens in a thread of its own with its
own ``sqlite3`` connection, so a busy event loop never delays it; with PostgreSQL or
an in-memory database a background task on the loop writes through the async store.

A failing flush (database locked, disk full...) keeps its batch for the next try and
logs a warning; the queue is bounded (``max_pending``, 100,000 by default): beyond it
the oldest items are dropped and counted in ``dropped``.

What can be lost: a clean shutdown (``aclose()``) writes everything. On SIGKILL, a
power cut or a crash, the items still waiting in memory are lost: about
``flush_interval`` seconds' worth of records plus the batch being written. Items whose
flush is failing when the process dies are lost too (at most ``max_pending``).
Committed batches are durable (SQLite WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import DeskError
from endpoint_desk.store.records import HealthRecord, RequestRecord
from endpoint_desk.store.repo import Store
from endpoint_desk.store.sqlite_writer import SQLiteBatchWriter

log = logging.getLogger(__name__)

Item = RequestRecord | HealthRecord


class Recorder:
    """Batches request records and health samples into the store, off the hot path.

    Run it with ``task = recorder.start()`` (or put ``recorder.run()`` in a task group)
    and stop it with ``await recorder.aclose()``, which writes what is left.
    """

    def __init__(
        self,
        store: Store,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        max_pending: int = 100_000,
        thread: bool | None = None,
    ) -> None:
        """``thread``: write from a thread of its own (the default when the store is
        a SQLite file; ``False`` keeps the writing on the event loop)."""
        if flush_interval <= 0 or batch_size < 1 or max_pending < 1:
            raise ValueError("flush_interval, batch_size and max_pending must be positive")
        self._store = store
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.max_pending = max_pending
        self._pending: deque[Item] = deque()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._closing = False
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._writer: SQLiteBatchWriter | None = None if thread is False else store.batch_writer()
        if thread and self._writer is None:
            raise ValueError("a writer thread needs a SQLite file database")
        self._thread: threading.Thread | None = None
        self._thread_wake = threading.Event()
        self._thread_stop = False
        self._write_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._in_flight = 0
        """Items of the batch being written (out of the queue until it lands)."""
        self.dropped = 0
        """Items dropped because the queue was full (oldest first)."""
        self.written = 0
        """Items written to the database."""
        self.batches = 0
        """Transactions written (one per batch)."""
        self.failures = 0
        """Flushes that failed (their items were kept for the next try)."""
        self.last_error: str | None = None
        """The latest flush failure, as one line."""

    @classmethod
    def from_settings(cls, store: Store, settings: StoreSettings) -> Recorder:
        """A recorder with the interval and batch size of ``Settings.store``."""
        return cls(store, flush_interval=settings.flush_interval, batch_size=settings.batch_size)

    # ---- the hot path ------------------------------------------------------------

    def record_request(self, rec: RequestRecord) -> None:
        """Queue one request record (sync, O(1), never blocks or raises)."""
        self._append(rec)

    def record_health(self, rec: HealthRecord) -> None:
        """Queue one health sample (sync, O(1), never blocks or raises)."""
        self._append(rec)

    def _append(self, item: Item) -> None:
        if len(self._pending) >= self.max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(item)
        if len(self._pending) >= self.batch_size:
            if self._writer is None:
                self._wake.set()
            elif not self._thread_wake.is_set():
                self._thread_wake.set()

    @property
    def pending(self) -> int:
        """How many items wait in memory (the batch being written included)."""
        with self._count_lock:
            return len(self._pending) + self._in_flight

    # ---- the background side ---------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start ``run()`` as a task of the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="desk-recorder")
        return self._task

    @property
    def threaded(self) -> bool:
        """Whether the writing happens in a thread of its own."""
        return self._writer is not None

    async def run(self) -> None:
        """Flush every ``flush_interval`` seconds or when a batch is full, until
        ``aclose()``; then write what is left."""
        if self._writer is not None:
            await self._run_thread()
            return
        try:
            while not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
                self._wake.clear()
                await self.flush()
        finally:
            if self._closing:
                await self.flush()

    async def _run_thread(self) -> None:
        thread = threading.Thread(target=self._thread_main, name="desk-recorder", daemon=True)
        self._thread = thread
        thread.start()
        try:
            while not self._closing:
                await self._wake.wait()
                self._wake.clear()
        finally:
            await self._stop_thread()
            await self.flush()

    async def _stop_thread(self) -> None:
        self._thread_stop = True
        self._thread_wake.set()
        thread = self._thread
        if thread is not None and thread.is_alive():
            await asyncio.to_thread(thread.join)

    def _thread_main(self) -> None:
        while not self._thread_stop:
            self._thread_wake.wait(self.flush_interval)
            self._thread_wake.clear()
            self._flush_sync()

    def _flush_sync(self) -> bool:
        assert self._writer is not None
        with self._write_lock:
            while self._pending:
                batch = self._take_batch()
                requests = [i for i in batch if isinstance(i, RequestRecord)]
                health = [i for i in batch if isinstance(i, HealthRecord)]
                try:
                    self._writer.write(requests, health)
                except Exception as exc:
                    self._failed(batch, exc)
                    self._requeue(batch)
                    return False
                self._landed(batch)
            return True

    def _take_batch(self) -> list[Item]:
        # The loop's thread may drop the oldest items meanwhile (queue full).
        batch: list[Item] = []
        with self._count_lock:
            with contextlib.suppress(IndexError):
                for _ in range(self.batch_size):
                    batch.append(self._pending.popleft())
            self._in_flight = len(batch)
        return batch

    def _landed(self, batch: list[Item]) -> None:
        with self._count_lock:
            self._in_flight = 0
        self.written += len(batch)
        self.batches += 1

    async def flush(self) -> bool:
        """Write everything waiting, one transaction per batch.

        Returns:
            True when nothing is left waiting; False when a batch failed (it stays
            queued for the next try and a warning is logged).
        """
        if self._writer is not None:
            return await asyncio.to_thread(self._flush_sync)
        async with self._lock:
            while self._pending:
                batch = self._take_batch()
                if not await self._write_through_cancel(batch):
                    self._requeue(batch)
                    return False
            return True

    async def _write_through_cancel(self, batch: list[Item]) -> bool:
        """Write one batch. A cancellation (the engine stopping) waits for the
        transaction in progress to end, committed or rolled back, before it propagates:
        a cancelled write would lose its batch and could leave the database locked, so
        that the final flush of ``aclose()`` fails too."""
        write = asyncio.ensure_future(self._write(batch))
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            if not await write:
                self._requeue(batch)
            raise

    async def _write(self, batch: list[Item]) -> bool:
        requests = [i for i in batch if isinstance(i, RequestRecord)]
        health = [i for i in batch if isinstance(i, HealthRecord)]
        try:
            await self._store.write_batch(requests, health)
        except Exception as exc:
            self._failed(batch, exc)
            return False
        self._landed(batch)
        return True

    def _failed(self, batch: list[Item], exc: Exception) -> None:
        self.failures += 1
        if isinstance(exc, DeskError | OSError):
            self.last_error = str(exc)
            log.warning(
                "could not write %d records (%d waiting, kept for the next try): %s",
                len(batch),
                len(batch) + len(self._pending),
                exc,
            )
        else:  # a bug must not take the engine down
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("recorder flush failed unexpectedly: %s", self.last_error, exc_info=True)

    def _requeue(self, batch: list[Item]) -> None:
        # The failed batch is older than anything queued since: put it back in front.
        with self._count_lock:
            self._pending.extendleft(reversed(batch))
            self._in_flight = 0
            over = len(self._pending) - self.max_pending
            for _ in range(max(0, over)):
                self._pending.popleft()
                self.dropped += 1
        if over > 0:
            log.warning("recorder queue full: dropped the %d oldest records", over)

    async def aclose(self) -> None:
        """Stop the background task and write what is left (a failure is logged,
        never raised)."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                log.warning("recorder task ended with an error", exc_info=True)
        await self._stop_thread()
        ok = await self.flush()
        if not ok:
            log.warning("recorder closed with %d records not written", len(self._pending))
        if self._writer is not None:
            with self._write_lock:
                self._writer.close()
        self._closed = True
