"""Write-behind recorder: request records and health samples leave the hot path at once.

``record_request()`` and ``record_health()`` are plain, non-blocking, O(1) calls that
append to an in-memory deque; they never await and never raise. A background task
(``run()``) writes what is waiting every ``flush_interval`` seconds, or sooner when
``batch_size`` items are waiting, one transaction per batch, and adds the batch's
requests to the per-minute rollups in that same transaction.

A failing flush (database locked, disk full...) keeps its batch for the next try and
logs a warning; the queue is bounded (``max_pending``, 100,000 by default): beyond it
the oldest items are dropped and counted in ``dropped``.

What can be lost: a clean shutdown (``aclose()``) writes everything. On SIGKILL, a
power cut or a crash, the items still waiting in memory are lost: at most
``flush_interval`` seconds' worth of records, or one batch (``batch_size`` items) when
traffic is faster than that. Items whose flush is failing when the process dies are
lost too (at most ``max_pending``). Committed batches are durable (SQLite WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.errors import DeskError
from endpoint_desk.store.records import HealthRecord, RequestRecord
from endpoint_desk.store.repo import Store

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
    ) -> None:
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
        self.dropped = 0
        """Items dropped because the queue was full (oldest first)."""
        self.written = 0
        """Items written to the database."""
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
            self._wake.set()

    @property
    def pending(self) -> int:
        """How many items wait in memory."""
        return len(self._pending)

    # ---- the background side ---------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Start ``run()`` as a task of the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="desk-recorder")
        return self._task

    async def run(self) -> None:
        """Flush every ``flush_interval`` seconds or when a batch is full, until
        ``aclose()``; then write what is left."""
        try:
            while not self._closing:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.flush_interval)
                self._wake.clear()
                await self.flush()
        finally:
            if self._closing:
                await self.flush()

    async def flush(self) -> bool:
        """Write everything waiting, one transaction per batch.

        Returns:
            True when nothing is left waiting; False when a batch failed (it stays
            queued for the next try and a warning is logged).
        """
        async with self._lock:
            while self._pending:
                n = min(self.batch_size, len(self._pending))
                batch = [self._pending.popleft() for _ in range(n)]
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
        except (DeskError, OSError) as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning(
                "could not write %d records (%d waiting, kept for the next try): %s",
                len(batch),
                len(batch) + len(self._pending),
                exc,
            )
            return False
        except Exception as exc:  # a bug must not take the engine down
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("recorder flush failed unexpectedly: %s", self.last_error, exc_info=True)
            return False
        self.written += len(batch)
        return True

    def _requeue(self, batch: list[Item]) -> None:
        # The failed batch is older than anything queued since: put it back in front.
        self._pending.extendleft(reversed(batch))
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
        ok = await self.flush()
        if not ok:
            log.warning("recorder closed with %d records not written", len(self._pending))
        self._closed = True
