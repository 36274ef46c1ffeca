"""The background loops of an open desk, in one task group.

Beside the store's write-behind recorder: the alert writer, the health loop (with
``autostart`` and ``health.enabled``), the alert webhook (with ``health.webhook_url``)
and the portfolio sync (with ``autostart`` and ``store.sync_interval``). The desk owns
them, so ``desk serve`` runs them without any UI.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from endpoint_desk.core.config import Settings
from endpoint_desk.engine.alerts import AlertLog
from endpoint_desk.engine.events import EventBus
from endpoint_desk.engine.health import AlertWebhook, HealthMonitor
from endpoint_desk.engine.sync import PortfolioSync
from endpoint_desk.store.recorder import Recorder

Loop = Coroutine[Any, Any, Any]


def desk_loops(
    settings: Settings,
    *,
    autostart: bool,
    alerts: AlertLog,
    health: HealthMonitor,
    bus: EventBus,
    sync: PortfolioSync,
) -> list[Loop]:
    """The loops an open desk runs beside its recorder, by its settings."""
    loops: list[Loop] = [alerts.writer()]
    if autostart and settings.health.enabled:
        loops.append(health.run())
    if settings.health.webhook_url:
        loops.append(AlertWebhook(settings.health.webhook_url).run(bus))
    if autostart and settings.store.sync_interval > 0:
        loops.append(sync.loop(settings.store.sync_interval))
    return loops


class BackgroundLoops:
    """Runs the recorder and the loops in one task group until :meth:`stop`."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None

    def start(self, recorder: Recorder, loops: list[Loop]) -> None:
        """Start the task group (in a task of its own)."""
        self._runner = asyncio.create_task(self._run(recorder, loops), name="desk-runner")

    async def _run(self, recorder: Recorder, loops: list[Loop]) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(recorder.run(), name="desk-recorder")
            for loop in loops:
                tg.create_task(loop)
            await self._stopping.wait()
            raise _Stop

    async def stop(self) -> None:
        """Cancel every loop and wait until they ended."""
        self._stopping.set()
        if self._runner is not None:
            with contextlib.suppress(_Stop, asyncio.CancelledError, BaseExceptionGroup):
                await self._runner


class _Stop(Exception):
    """Ends the runner's task group."""
