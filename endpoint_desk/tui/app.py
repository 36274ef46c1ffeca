"""The desk: a full-screen Textual trading desk over the engine.

:class:`DeskApp` is the layout (ticker, the four panes, footer), the theme's colours
and the one place the panes are redrawn from the engine's state. Its bases hold the
rest: :class:`~endpoint_desk.tui.engine_link.EngineLink` opens the engine, runs the
one event subscriber that turns bursts of events into merged messages, and runs every
engine call in a worker (failures become readable notifications);
:class:`~endpoint_desk.tui.commands.DeskCommands` holds the key actions and the
command palette.
"""

from __future__ import annotations

import logging
import time

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.color import Color
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.engine.desk import Desk
from endpoint_desk.tui.alerts import AlertsPane
from endpoint_desk.tui.commands import DeskCommands
from endpoint_desk.tui.discovery import DiscoveryPane
from endpoint_desk.tui.format import Clock
from endpoint_desk.tui.messages import DeskOpened, LogDirty, PortfolioDirty, ServerStatus
from endpoint_desk.tui.portfolio import PortfolioPane
from endpoint_desk.tui.terminal import TerminalPane
from endpoint_desk.tui.ticker import Ticker

log = logging.getLogger(__name__)


class DeskApp(DeskCommands):
    """The terminal desk.

    Args:
        settings: typed settings (default: loaded from file and environment).
        desk: an engine to drive (default: ``Desk(settings, autostart=True)``); the app
            opens it on mount and closes it when the app exits.
        clock: wall-clock source (tests freeze it for snapshots).
        refresh_interval: seconds between refreshes of time-based figures.
        demo: start the demo portfolio as soon as the desk is open (``desk demo``).
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
        settings = settings or (desk.settings if desk is not None else load_settings())
        super().__init__(
            desk or Desk(settings, autostart=True), refresh_interval=refresh_interval, demo=demo
        )
        self.settings = settings
        self.clock = clock
        self._colors_cache: dict[str, dict[str, str]] = {}
        self._portfolio_stale = False
        self._portfolio_rows = 0
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

    # ------------------------------------------------------------------ refresh

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

    def on_server_status(self, message: ServerStatus) -> None:
        self.server_url = message.url
        self._all_dirty = True
        self.refresh_portfolio()


def run_app(*, demo: bool = False) -> None:
    """Run the desk full-screen until the person quits (``desk`` with a terminal).

    Args:
        demo: start the demo portfolio as soon as the desk is open (``desk demo``).
    """
    settings = load_settings()
    DeskApp(settings, demo=demo).run()
