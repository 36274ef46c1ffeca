"""Alerts and log: recent requests, alerts, health checks and state changes, filterable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, DataTable, Input, Static

from endpoint_desk.tui.format import fmt_clock, level_text, role_color, truncate
from endpoint_desk.tui.logbook import KINDS, LogEntry

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

MAX_ROWS = 500


class AlertsPane(Vertical):
    """The newest entries first; a text filter and one switch per kind of entry."""

    HELP = (
        "## Alerts and log\n"
        "Newest at the bottom (the table follows new entries while the cursor is on "
        "the last row): **request** (every request the desk served, with latency or the "
        "error), **alert** (tripped, recovered, errors, budget), **health** (checks) and "
        "**state** (ON/OFF and the desk's own changes). Type in the filter to narrow "
        "(all words must match: endpoint, kind, level, text); tick kinds on and off. "
        "`/` focuses the filter, `escape` clears it."
    )

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="log.filter", tooltip="Filter the log"),
        Binding("escape", "clear_filter", "Clear", id="log.clear", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.filter_text = ""
        self.kinds: set[str] = set(KINDS)
        self._shown_seq = 0

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="log-bar"):
            yield Input(placeholder="filter: endpoint, error, tripped…", id="log-filter")
            for kind in KINDS:
                yield Checkbox(kind, value=True, id=f"log-kind-{kind}", classes="log-kind")
        table = DataTable[Any](id="log-table", cursor_type="row", zebra_stripes=True)
        table.add_column("Time", key="time", width=8)
        table.add_column("Level", key="level", width=5)
        table.add_column("Kind", key="kind", width=7)
        table.add_column("Endpoint", key="endpoint", width=16)
        table.add_column("What", key="what")
        yield table
        yield Static("", id="log-status")

    def focus_default(self) -> None:
        self.query_one("#log-table").focus()

    def _visible(self, entry: LogEntry) -> bool:
        return entry.kind in self.kinds and entry.matches(self.filter_text)

    def _row(self, entry: LogEntry) -> list[Any]:
        colors = self.desk_app.role_colors()
        return [
            Text(fmt_clock(entry.ts), style=role_color(colors, "muted")),
            level_text(entry.level, colors),
            entry.kind,
            truncate(entry.endpoint, 16),
            entry.message,
        ]

    def refresh_entries(self, *, rebuild: bool = False) -> None:
        """Add entries newer than the last shown (or rebuild after a filter change)."""
        book = self.desk_app.logbook
        table = self.query_one("#log-table", DataTable)
        if rebuild:
            table.clear()
            self._shown_seq = 0
        new = [e for e in book.since(self._shown_seq) if self._visible(e)]
        if book:
            self._shown_seq = max(self._shown_seq, max(e.seq for e in book))
        if new:
            cursor = table.cursor_row
            following = table.row_count == 0 or cursor >= table.row_count - 1
            for entry in new[-MAX_ROWS:]:
                table.add_row(*self._row(entry), key=str(entry.seq))
            dropped = 0
            while table.row_count > MAX_ROWS:
                first = next(iter(table.rows))
                table.remove_row(first)
                dropped += 1
            if following:
                last = table.row_count - 1
                table.move_cursor(row=last, animate=False)
                table.call_after_refresh(table.move_cursor, row=last, animate=False)
            else:
                table.move_cursor(row=max(0, cursor - dropped), animate=False)
        self.query_one("#log-status", Static).update(
            f"{table.row_count} shown of {len(book)} · alerts {book.alert_count}"
            + (f" · filter “{self.filter_text}”" if self.filter_text else "")
            + " · newest at the bottom"
        )

    @on(Input.Changed, "#log-filter")
    def _filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.refresh_entries(rebuild=True)

    @on(Checkbox.Changed, ".log-kind")
    def _kind(self, event: Checkbox.Changed) -> None:
        kind = str(event.checkbox.id).removeprefix("log-kind-")
        if event.value:
            self.kinds.add(kind)
        else:
            self.kinds.discard(kind)
        self.refresh_entries(rebuild=True)

    def action_filter(self) -> None:
        self.query_one("#log-filter", Input).focus()

    def action_clear_filter(self) -> None:
        self.query_one("#log-filter", Input).value = ""
        self.query_one("#log-table").focus()
