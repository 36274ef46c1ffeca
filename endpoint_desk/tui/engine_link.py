"""The desk app's link to the engine: opening it, the one event subscriber, engine
calls in workers, and the one place their failures become readable notifications.

Events only mark what changed; ``_flush_pending`` turns the marks into
:class:`~endpoint_desk.tui.messages.PortfolioDirty` and
:class:`~endpoint_desk.tui.messages.LogDirty`, which :class:`~endpoint_desk.tui.app.DeskApp`
draws. A burst of events costs one repaint.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from textual import work
from textual.app import App
from textual.worker import Worker, WorkerState

from endpoint_desk.core.errors import DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import EndpointChanged, RequestDone, ServerChanged
from endpoint_desk.tui.logbook import Logbook
from endpoint_desk.tui.messages import DeskOpened, LogDirty, PortfolioDirty

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(title, one readable line) for any failure; never a traceback."""
    if isinstance(exc, DeskError):
        return exc.title, " ".join(str(exc.message).split())
    text = str(exc) or type(exc).__name__
    return "Unexpected error", f"{type(exc).__name__}: {text} (details in the log file)"


class EngineLink(App[None]):
    """The engine side of the desk app (the base of :class:`DeskApp`).

    The app runs the engine in its own event loop: :meth:`open_desk` opens it on mount,
    :meth:`pump_events` is the one subscriber to ``desk.events()``, every engine call
    runs in a worker (:meth:`run_engine`), and :meth:`close_engine` closes it as the
    app unmounts.

    Args:
        desk: the engine to drive.
        refresh_interval: seconds between refreshes of time-based figures.
        demo: start the demo portfolio as soon as the desk is open.
    """

    FLUSH_SECONDS = 0.25
    TOAST_EVERY = 30.0

    def __init__(self, desk: Desk, *, refresh_interval: float, demo: bool) -> None:
        super().__init__()
        self.desk = desk
        self.refresh_interval = refresh_interval
        self.start_demo_on_open = demo
        self.logbook = Logbook()
        self.desk_ready = False
        self.server: Any = None
        self.server_url: str | None = None
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._flush_scheduled = False
        self._toasted: dict[tuple[str, str], float] = {}
        self._log_pending = False
        self._engine_closed = False

    # ------------------------------------------------------------------ open

    @work(name="open-desk", exit_on_error=False, group="engine")
    async def open_desk(self) -> None:
        """Open the engine in this loop, then start the event pump and the timer."""
        try:
            await self.desk.open()
        except Exception as exc:
            title, line = describe_error(exc)
            log.exception("opening the desk failed")
            self.post_message(DeskOpened(f"{title}: {line}"))
            return
        self.desk_ready = True
        self.pump_events()
        self.set_interval(self.refresh_interval, self._tick, name="desk-refresh")
        self.post_message(DeskOpened())
        await self._load_history()
        await self._resume_demo()

    async def _resume_demo(self) -> None:
        """Demo endpoints from last time point at servers that are gone: restart them."""
        from endpoint_desk.engine import demo

        if self.start_demo_on_open or demo.demo_names(self.desk):
            try:
                await demo.start_demo(self.desk)
            except Exception as exc:
                self.show_error(exc, "The demo portfolio")

    async def _load_history(self) -> None:
        """Fill the log with the newest stored requests (the same history as last time)."""
        try:
            records = await self.desk.recent_requests(limit=200)
        except Exception as exc:  # history is nice to have, never fatal
            log.warning("cannot read request history: %s", exc)
            return
        for rec in reversed(records):
            ok = rec.status == "ok"
            msg = (
                f"{rec.model or '-'} ok in {rec.latency_ms:.0f} ms"
                if ok
                else f"{rec.model or '-'} failed: {rec.error or rec.error_kind or '?'}"
            )
            self.logbook.add(
                rec.ts,
                "request",
                "ok" if ok else "error",
                rec.endpoint,
                msg,
                latency_ms=rec.latency_ms,
                ok=ok,
            )
        if records:
            self.post_message(LogDirty())

    # ------------------------------------------------------------------ events

    @work(name="event-pump", exit_on_error=False, group="events")
    async def pump_events(self) -> None:
        """The one subscriber: engine events -> merged, rate-limited Textual messages.

        Events only mark what changed. State changes and alerts are drawn within
        ``FLUSH_SECONDS``; request figures with the next once-a-second tick. A burst of
        1,000 events costs one repaint."""
        async for event in self.desk.events():
            if isinstance(event, EndpointChanged):
                self._dirty.add(event.name)
                self._schedule_flush()  # a state change shows within FLUSH_SECONDS
            elif isinstance(event, RequestDone):
                self._dirty.add(event.endpoint)  # figures move with the next tick
            elif isinstance(event, ServerChanged):
                self.server_url = event.url
            entry = self.logbook.add_event(event)
            if entry is not None:
                self._log_pending = True
                if entry.kind != "request":
                    self._schedule_flush()
            if entry is not None and entry.kind == "alert" and entry.level in ("warning", "error"):
                self._toast_alert(entry.endpoint, entry.message, entry.level)

    def _toast_alert(self, endpoint: str, message: str, level: str) -> None:
        """A toast for an alert, at most one per endpoint and title every TOAST_EVERY s
        (the log keeps every one)."""
        key = (endpoint, message.partition(":")[0])
        now = time.monotonic()
        if now - self._toasted.get(key, -1e9) < self.TOAST_EVERY:
            return
        self._toasted[key] = now
        if level == "error":
            self.notify(message, title=endpoint, severity="error", timeout=6)
        else:
            self.notify(message, title=endpoint, severity="warning", timeout=6)

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.set_timer(self.FLUSH_SECONDS, self._flush_pending)

    def _flush_pending(self) -> None:
        self._flush_scheduled = False
        if self._dirty or self._all_dirty:
            self.post_message(PortfolioDirty())
        if self._log_pending:
            self._log_pending = False
            self.post_message(LogDirty())

    def _tick(self) -> None:
        """Once a second: every figure (rates decay with time even without events)."""
        self._all_dirty = True
        self._flush_pending()

    # ------------------------------------------------------------------ engine calls

    def run_engine(
        self,
        call: Callable[[], Awaitable[Any]] | Awaitable[Any],
        description: str,
        *,
        group: str = "engine",
        exclusive: bool = False,
    ) -> Worker[Any]:
        """Run an engine call in a worker; a failure becomes a readable notification."""

        async def runner() -> Any:
            awaitable = call() if callable(call) else call
            return await awaitable

        return self.run_worker(
            runner(),
            name=description,
            group=group,
            exclusive=exclusive,
            exit_on_error=False,
            description=description,
        )

    def switch_endpoint(self, name: str) -> None:
        """The ON/OFF switch (``space`` in the portfolio and the details): OFF when a
        person switched it ON and it is not in error, else ON."""
        view = self.desk.endpoint(name)
        if view.spec.enabled and view.state.value != "error":
            self.run_engine(lambda: self.desk.stop(name), f"Switching {name} OFF")
        else:
            self.run_engine(lambda: self.desk.start(name), f"Switching {name} ON")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place worker failures are shown."""
        if event.state != WorkerState.ERROR:
            return
        exc = event.worker.error
        if exc is None:
            return
        title, line = describe_error(exc)
        if not isinstance(exc, DeskError):
            log.error("%s failed", event.worker.name, exc_info=exc)
        what = event.worker.name or "The desk"
        self.notify(line, title=f"{what}: {title}", severity="error", timeout=8)

    def show_error(self, exc: BaseException, doing: str) -> None:
        """Show a failure caught inside a worker (same words as the handler above)."""
        title, line = describe_error(exc)
        if not isinstance(exc, DeskError):
            log.error("%s failed", doing, exc_info=exc)
        self.notify(line, title=f"{doing}: {title}", severity="error", timeout=8)

    # ------------------------------------------------------------------ close

    async def close_engine(self) -> None:
        """Stop the server (if running) and close the engine: pending writes flushed."""
        if self._engine_closed:
            return
        self._engine_closed = True
        self.workers.cancel_group(self, "events")
        if self.server is not None:
            server, self.server = self.server, None
            try:
                await server.aclose()
            except Exception as exc:
                log.warning("stopping the server failed: %s", exc)
        try:
            from endpoint_desk.engine import demo

            await demo.stop_demo_servers(self.desk)
        except Exception as exc:
            log.warning("stopping the demo servers failed: %s", exc)
        try:
            await self.desk.close()
        except Exception as exc:
            log.warning("closing the desk failed: %s", exc)

    async def on_unmount(self) -> None:
        await self.close_engine()
