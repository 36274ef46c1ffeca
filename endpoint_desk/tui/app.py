"""The desk: a full-screen Textual trading desk over the engine.

The app runs the engine (:class:`~endpoint_desk.engine.desk.Desk`) in its own event
loop. One long-lived worker subscribes to ``desk.events()`` and turns bursts of events
into merged messages; every engine call runs in a worker (:meth:`DeskApp.run_engine`)
and one handler turns failures into a readable notification.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.color import Color
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.errors import DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import EndpointChanged, RequestDone, ServerChanged
from endpoint_desk.tui.alerts import AlertsPane
from endpoint_desk.tui.discovery import DiscoveryPane
from endpoint_desk.tui.format import Clock
from endpoint_desk.tui.help import HelpScreen
from endpoint_desk.tui.logbook import Logbook
from endpoint_desk.tui.messages import DeskOpened, LogDirty, PortfolioDirty, ServerStatus
from endpoint_desk.tui.portfolio import PortfolioPane
from endpoint_desk.tui.terminal import TerminalPane
from endpoint_desk.tui.ticker import Ticker

log = logging.getLogger(__name__)

PANES = ("portfolio", "terminal", "discovery", "log")


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(title, one readable line) for any failure; never a traceback."""
    if isinstance(exc, DeskError):
        return exc.title, " ".join(str(exc.message).split())
    text = str(exc) or type(exc).__name__
    return "Unexpected error", f"{type(exc).__name__}: {text} (details in the log file)"


class DeskApp(App[None]):
    """The terminal desk.

    Args:
        settings: typed settings (default: loaded from file and environment).
        desk: an engine to drive (default: ``Desk(settings, autostart=True)``); the app
            opens it on mount and closes it when the app exits.
        clock: wall-clock source (tests freeze it for snapshots).
        refresh_interval: seconds between refreshes of time-based figures.
    """

    CSS_PATH = "desk.tcss"
    TITLE = "endpoint-desk"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("f1", "help", "Help", id="help", tooltip="Explain the focused pane"),
        Binding("question_mark", "keys", "Keys", id="keys", tooltip="Every key, with what it does"),
        Binding("1", "pane('portfolio')", "Portfolio", id="pane.portfolio", show=False),
        Binding("2", "pane('terminal')", "Terminal", id="pane.terminal", show=False),
        Binding("3", "pane('discovery')", "Discovery", id="pane.discovery", show=False),
        Binding("4", "pane('log')", "Log", id="pane.log", show=False),
        Binding(
            "v",
            "toggle_server",
            "/v1",
            id="server",
            tooltip="Start or stop the local OpenAI-compatible /v1 server",
        ),
        Binding("ctrl+t", "toggle_theme", "Theme", id="theme", tooltip="Light or dark theme"),
        Binding("q", "quit", "Quit", id="quit", tooltip="Close the desk (the engine stops)"),
    ]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        desk: Desk | None = None,
        clock: Clock = time.time,
        refresh_interval: float = 1.0,
        demo: bool = False,
    ) -> None:
        super().__init__()
        self.settings = settings or (desk.settings if desk is not None else load_settings())
        self.desk = desk or Desk(self.settings, autostart=True)
        self.clock = clock
        self.refresh_interval = refresh_interval
        self.start_demo_on_open = demo
        self.logbook = Logbook()
        self.desk_ready = False
        self.server: Any = None
        self.server_url: str | None = None
        self._dirty: set[str] = set()
        self._all_dirty = True
        self._flush_scheduled = False
        self._colors_cache: dict[str, dict[str, str]] = {}
        self._portfolio_stale = False
        self._toasted: dict[tuple[str, str], float] = {}
        self._portfolio_rows = 0
        self._log_pending = False
        self._engine_closed = False
        self.refresh_count = 0
        self.refresh_seconds = 0.0
        self.refresh_max = 0.0
        theme = self.settings.ui.theme
        if theme in self.available_themes:
            self.theme = theme

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Ticker(id="ticker")
        with Vertical(id="main"), TabbedContent(id="panes", initial="portfolio"):
            with TabPane("1 Portfolio", id="portfolio"):
                yield PortfolioPane(id="portfolio-pane")
            with TabPane("2 Terminal", id="terminal"):
                yield TerminalPane(id="terminal-pane")
            with TabPane("3 Discovery", id="discovery"):
                yield DiscoveryPane(id="discovery-pane")
            with TabPane("4 Log", id="log"):
                yield AlertsPane(id="log-pane")
        yield Footer()

    def on_mount(self) -> None:
        keymap = dict(self.settings.ui.keymap)
        if keymap:
            self.set_keymap(keymap)
        self.open_desk()

    # ------------------------------------------------------------------ colours

    def role_colors(self) -> dict[str, str]:
        """Theme colours (hex) by role, for Rich text inside tables (cached per theme)."""
        cached = self._colors_cache.get(self.theme)
        if cached is not None:
            return cached
        colors = self._compute_colors()
        self._colors_cache[self.theme] = colors
        return colors

    def _compute_colors(self) -> dict[str, str]:
        v = self.get_css_variables()
        bg = Color.parse(v.get("background", "#000000"))
        muted = bg + Color.parse(v.get("foreground-muted", v.get("foreground", "#888888")))
        return {
            "success": v.get("text-success", v.get("success", "green")),
            "error": v.get("text-error", v.get("error", "red")),
            "warning": v.get("text-warning", v.get("warning", "yellow")),
            "accent": v.get("text-accent", v.get("accent", "cyan")),
            "primary": v.get("text-primary", v.get("primary", "blue")),
            "foreground": v.get("foreground", "default"),
            "muted": muted.hex,
        }

    def watch_theme(self, theme: str) -> None:
        """Table cells carry theme colours: draw them again."""
        self._all_dirty = True
        if self.desk_ready:
            self.query_one(PortfolioPane).recolor()
            self.post_message(PortfolioDirty())

    # ------------------------------------------------------------------ engine

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

    FLUSH_SECONDS = 0.25
    TOAST_EVERY = 30.0

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

    # ------------------------------------------------------------------ refresh

    def _tick(self) -> None:
        """Once a second: every figure (rates decay with time even without events)."""
        self._all_dirty = True
        self._flush_pending()

    def on_desk_opened(self, message: DeskOpened) -> None:
        portfolio = self.query_one(PortfolioPane)
        if message.error:
            portfolio.show_open_error(message.error)
            self.notify(message.error, title="The desk did not open", severity="error")
            return
        self._all_dirty = True
        self.refresh_portfolio()
        self.query_one(TerminalPane).endpoints_changed()
        self.query_one(PortfolioPane).focus_default()

    @on(PortfolioDirty)
    def refresh_portfolio(self) -> None:
        """Apply pending endpoint changes to every pane (one batch)."""
        if not self.desk_ready or self._engine_closed or self._active_pane() is None:
            return
        try:
            self._refresh_portfolio()
        except NoMatches:
            # a pane is being torn down (the desk closing): nothing left to show
            log.debug("portfolio refresh skipped: the screen is closing")

    def _refresh_portfolio(self) -> None:
        started = time.perf_counter()
        names = None if self._all_dirty else set(self._dirty)
        self._dirty.clear()
        self._all_dirty = False
        views = self.desk.endpoints()
        active = self._active_pane()
        with self.batch_update():
            if active == "portfolio" or self._portfolio_rows == 0:
                self.query_one(PortfolioPane).update_rows(views, names)
                self._portfolio_rows = len(views)
            else:  # hidden: catch up in one go when it is shown again
                self._portfolio_stale = True
            self.query_one(Ticker).update_figures(self, views)
            for screen in self.screen_stack:
                refresh = getattr(screen, "refresh_from_desk", None)
                if (
                    refresh is not None
                    and isinstance(screen, Screen)
                    and screen is not self.screen_stack[0]
                ):
                    refresh(views)
        if (names is None or names) and self.query_one(
            "#panes", TabbedContent
        ).active == "terminal":
            self.query_one(TerminalPane).endpoints_changed(views)
        took = time.perf_counter() - started
        self.refresh_count += 1
        self.refresh_seconds += took
        self.refresh_max = max(self.refresh_max, took)

    def _active_pane(self) -> str | None:
        """The pane on show; None while the app is starting or closing."""
        try:
            return self.query_one("#panes", TabbedContent).active
        except NoMatches:
            return None

    @on(LogDirty)
    def refresh_log(self) -> None:
        """New log entries: drawn now when the log pane shows, else when it is opened."""
        if self._active_pane() == "log" and not self._engine_closed:
            self.query_one(AlertsPane).refresh_entries()

    @on(TabbedContent.TabActivated, "#panes")
    def _pane_shown(self, event: TabbedContent.TabActivated) -> None:
        pane = event.pane.id
        if pane == "log":
            self.query_one(AlertsPane).refresh_entries()
        elif pane == "portfolio" and self._portfolio_stale:
            self._portfolio_stale = False
            self._all_dirty = True
            self.refresh_portfolio()
        elif pane == "terminal" and self.desk_ready:
            self.query_one(TerminalPane).endpoints_changed(self.desk.endpoints())

    # ------------------------------------------------------------------ actions

    def action_pane(self, pane: str) -> None:
        """Show one of the panes: portfolio, terminal, discovery, log."""
        if pane not in PANES:
            return
        self.query_one("#panes", TabbedContent).active = pane
        widget = self.query_one(f"#{pane}-pane")
        focus = getattr(widget, "focus_default", None)
        if focus is not None:
            focus()

    def action_help(self) -> None:
        """F1: help for the focused pane."""
        self.push_screen(HelpScreen(self, focused_only=True))

    def action_keys(self) -> None:
        """``?``: every key."""
        self.push_screen(HelpScreen(self, focused_only=False))

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_toggle_server(self) -> None:
        """Start the /v1 server in this process, or stop it."""
        self.run_engine(self._toggle_server, "The /v1 server", exclusive=True, group="server")

    async def _toggle_server(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            await server.aclose()
            self.server_url = None
            self.notify("/v1 server stopped", title="Server")
            self.post_message(ServerStatus(None))
            return
        try:
            module = importlib.import_module("endpoint_desk.server.app")
            start_server = module.start_server
        except (ImportError, AttributeError):
            self.notify(
                "server not available in this build (endpoint_desk.server.app is missing)",
                title="Server",
                severity="warning",
            )
            return
        if not self.desk_ready:
            raise DeskError("the desk is not open yet")
        self.server = await start_server(self.desk)
        self.server_url = str(self.server.url)
        self.notify(f"/v1 server at {self.server_url}", title="Server")
        self.post_message(ServerStatus(self.server_url))

    def on_server_status(self, message: ServerStatus) -> None:
        self.server_url = message.url
        self._all_dirty = True
        self.refresh_portfolio()

    def action_demo(self, remove: bool = False) -> None:
        """Start (or remove) the demo portfolio: simulated endpoints inside the desk."""
        from endpoint_desk.engine import demo

        async def go() -> None:
            if remove:
                names = await demo.remove_demo(self.desk)
                self.notify(f"removed {len(names)} demo endpoints", title="Demo")
            else:
                views = await demo.start_demo(self.desk)
                self.notify(
                    f"{len(views)} simulated endpoints are trading; remove them with "
                    "'desk demo --remove' or the command palette",
                    title="Demo portfolio",
                )

        self.run_engine(go, "The demo portfolio", group="demo", exclusive=True)

    async def action_quit(self) -> None:
        """Close the desk: the engine closes as the app unmounts (see ``on_unmount``)."""
        self.exit()

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

    # ------------------------------------------------------------------ palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Demo: start the paper-trading portfolio",
            "Simulated endpoints with different latencies, prices and failure rates",
            self.action_demo,
        )
        yield SystemCommand(
            "Demo: remove the demo endpoints",
            "Remove every endpoint marked as demo",
            lambda: self.action_demo(remove=True),
        )
        yield SystemCommand(
            "Server: start or stop /v1",
            "The local OpenAI-compatible server",
            self.action_toggle_server,
        )
        yield SystemCommand("Theme: light or dark", "Toggle the theme", self.action_toggle_theme)
        for pane, label in (
            ("portfolio", "Portfolio"),
            ("terminal", "Testing terminal"),
            ("discovery", "Discovery: add an endpoint or scan"),
            ("log", "Alerts and log"),
        ):
            yield SystemCommand(
                f"Go to: {label}", f"Show the {pane} pane", lambda p=pane: self.action_pane(p)
            )
        yield SystemCommand("Keys: every key", "Show all key bindings", self.action_keys)


def run_app(*, demo: bool = False) -> None:
    """Run the desk full-screen until the person quits (``desk`` with a terminal).

    Args:
        demo: start the demo portfolio as soon as the desk is open (``desk demo``).
    """
    settings = load_settings()
    DeskApp(settings, demo=demo).run()
