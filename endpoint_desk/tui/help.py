"""F1 (help for the focused pane) and ``?`` (every key, as remapped by the keymap)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Markdown, Static

if TYPE_CHECKING:
    from textual.app import App

GENERAL = (
    "## endpoint-desk\n"
    "Every AI endpoint is a position: switched ON or OFF, health-checked, measured and "
    "served through one local `/v1`. Panes: `1` portfolio, `2` testing terminal, "
    "`3` discovery, `4` alerts and log. `v` starts or stops the `/v1` server, `ctrl+p` "
    "opens the command palette (demo portfolio, themes, panes), `q` quits.\n\n"
    "Keys can be remapped in the config file: `[ui.keymap]` maps a binding id "
    '(shown below) to keys, e.g. `"portfolio.test" = "ctrl+t"`.'
)


def focused_help(app: App[Any]) -> str:
    """The HELP text of the focused widget or its nearest ancestor that has one."""
    node: Any = app.focused
    while node is not None and isinstance(node, Widget):
        text = getattr(type(node), "HELP", None)
        if isinstance(text, str) and text:
            return text
        node = node.parent
    screen = app.screen
    text = getattr(type(screen), "HELP", None)
    if isinstance(text, str) and text:
        return text
    return GENERAL


def key_rows(app: App[Any]) -> list[tuple[str, str, str]]:
    """(keys, description, binding id) of the active bindings, as the keymap set them."""
    rows: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for key, active in app.screen.active_bindings.items():
        b = active.binding
        desc = b.description or b.tooltip or b.action
        if (desc, b.id or "") in seen:
            continue
        seen.add((desc, b.id or ""))
        display = app.get_key_display(b) if b.key else key
        tip = b.tooltip if b.tooltip and b.tooltip != desc else ""
        rows.append((display, f"{desc}" + (f" — {tip}" if tip else ""), b.id or ""))
    return rows


class HelpScreen(ModalScreen[None]):
    """Help: the focused pane's explanation and the keys that work right now."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def __init__(self, app: App[Any], *, focused_only: bool) -> None:
        super().__init__()
        self.help_text = focused_help(app) if focused_only else GENERAL
        self.rows = key_rows(app)
        lines = ["", "## Keys", "", "| key | does | id |", "| --- | --- | --- |"]
        for keys, desc, bid in self.rows:
            lines.append(f"| `{keys}` | {desc} | {bid} |")
        self._keys_text = "\n".join(lines)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Static("[b]Help[/b]  (esc closes)", id="help-title")
            with VerticalScroll(id="help-scroll"):
                yield Markdown(self.help_text + "\n" + self._keys_text, id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
