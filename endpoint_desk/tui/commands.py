"""What a person can ask the desk app to do: the app-wide key actions (panes, help,
theme, the /v1 server, the demo portfolio, quit) and the command palette's entries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import SystemCommand
from textual.screen import Screen
from textual.widgets import TabbedContent

from endpoint_desk.core.errors import DeskError
from endpoint_desk.tui.engine_link import EngineLink
from endpoint_desk.tui.help import HelpScreen
from endpoint_desk.tui.messages import ServerStatus

PANES = ("portfolio", "terminal", "discovery", "log")


class DeskCommands(EngineLink):
    """The actions and palette of :class:`~endpoint_desk.tui.app.DeskApp` (its base;
    the bindings that call them are declared on the app)."""

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
        from endpoint_desk.server.app import start_server

        if not self.desk_ready:
            raise DeskError("the desk is not open yet")
        self.server = await start_server(self.desk)
        self.server_url = str(self.server.url)
        self.notify(f"/v1 server at {self.server_url}", title="Server")
        self.post_message(ServerStatus(self.server_url))

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
