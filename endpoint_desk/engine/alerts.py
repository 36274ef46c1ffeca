"""The alert log: every alert published on the bus is stored (rare: one write each, off
the request path) and can be read back (``Desk.alert_history``, the TUI's log)."""

from __future__ import annotations

import asyncio
import logging

from endpoint_desk.core.errors import DeskError
from endpoint_desk.engine.events import Alert, Event, EventBus
from endpoint_desk.store.records import AlertRecord
from endpoint_desk.store.repo import Store

log = logging.getLogger(__name__)


class AlertLog:
    """Keeps the bus's alerts for the store; :meth:`writer` runs while the desk is open."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self._store: Store | None = None
        self._waiting: list[AlertRecord] = []
        self._wake = asyncio.Event()

    def attach(self, store: Store) -> None:
        """Start keeping alerts, for ``store`` (when the desk opens)."""
        self._store = store
        self.bus.listen(Alert, self._keep)

    def _keep(self, event: Event) -> None:
        assert isinstance(event, Alert)
        self._waiting.append(
            AlertRecord(event.ts, event.name, event.level, event.title, event.message)
        )
        self._wake.set()

    async def writer(self) -> None:
        """Store every alert as it comes, until cancelled (then the rest)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                await self.flush()
        finally:
            await self.flush()

    async def flush(self) -> None:
        """Store the alerts kept so far; a failed write is logged, never raised."""
        while self._waiting and self._store is not None:
            alert = self._waiting.pop(0)
            try:
                await self._store.add_alert(alert)
            except DeskError as exc:
                log.warning("could not store an alert: %s", exc.one_line())
