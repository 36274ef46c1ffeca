"""The portfolio: one live row per endpoint, updated in place by key, and the keys
that act on the endpoint under the cursor. What a row shows lives in
:mod:`endpoint_desk.tui.portfolio_table`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Static

from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.dialogs import ConfirmScreen
from endpoint_desk.tui.portfolio_table import (
    COLUMNS,
    SORTABLE,
    PortfolioTable,
    plain_name,
    render_cell,
    render_cells,
    row_values,
    sort_value,
)
from endpoint_desk.tui.quick_test import quick_test

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp


class PortfolioPane(Vertical):
    """The portfolio pane: filter, table, empty state."""

    BINDINGS = [
        Binding("space", "switch", "ON/OFF", id="portfolio.toggle", tooltip="Switch ON or OFF"),
        Binding("t", "test", "Test", id="portfolio.test", tooltip="Send a quick test message"),
        Binding("enter", "details", "Details", id="portfolio.details", tooltip="Open details"),
        Binding("c", "chat", "Chat", id="portfolio.chat", tooltip="Chat with it in the terminal"),
        Binding("a", "add", "Add", id="portfolio.add", tooltip="Add an endpoint (discovery)"),
        Binding("d", "delete", "Delete", id="portfolio.delete", tooltip="Delete (asks first)"),
        Binding("slash", "filter", "Filter", id="portfolio.filter", tooltip="Filter rows"),
        Binding("s", "sort", "Sort", id="portfolio.sort", tooltip="Sort by the next column"),
        Binding("r", "reverse", "Reverse", id="portfolio.reverse", show=False),
        Binding("escape", "clear_filter", "Clear filter", id="portfolio.clear", show=False),
    ]

    HELP = PortfolioTable.HELP

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.filter_text = ""
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._raw: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._shown_total = 0
        self._restore_cursor: str | None = None

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: name, kind, state, model…", id="portfolio-filter")
        table = PortfolioTable(id="portfolio-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table
        with Vertical(id="portfolio-empty"):
            yield Static(
                "[b]No endpoints yet.[/b]\n\n"
                "Add one: press [b]a[/b] and paste a URL (an OpenAI-, Anthropic-, Gemini- or "
                "Ollama-style API, or a web chat page).\n"
                "Or watch the desk work first: start the [b]demo portfolio[/b] "
                '("paper trading"): simulated endpoints with different latencies, prices '
                "and failure rates, marked [i]demo[/i], removed with one command.",
                id="portfolio-empty-text",
            )
            with Horizontal(id="portfolio-empty-buttons"):
                yield Button("Start the demo", id="start-demo", variant="primary")
                yield Button("Add an endpoint", id="go-add")
                yield Button("Scan this machine", id="go-scan")
        yield Static("", id="portfolio-status")

    def on_mount(self) -> None:
        self.query_one("#portfolio-filter").display = False
        self.query_one("#portfolio-empty").display = False
        self.query_one("#portfolio-status", Static).update("opening the desk…")

    @property
    def table(self) -> PortfolioTable:
        return self.query_one(PortfolioTable)

    def focus_default(self) -> None:
        if self.table.row_count:
            self.table.focus()
        else:
            self.query_one("#start-demo", Button).focus()

    def show_open_error(self, error: str) -> None:
        self.query_one("#portfolio-status", Static).update(f"[b]The desk did not open[/b]: {error}")

    # ------------------------------------------------------------------ live rows

    def update_rows(self, views: Sequence[EndpointView], names: Collection[str] | None) -> None:
        """Diff the table against ``views``: changed cells only, stale rows removed,
        cursor, sort and filter kept. ``names``: only these changed (None: all)."""
        app = self.desk_app
        colors = app.role_colors()
        now = app.clock()
        table = self.table
        wanted: dict[str, EndpointView] = {}
        for v in views:
            if self._matches(v):
                wanted[v.name] = v
        self._shown_total = len(views)
        cursor_key = self.selected_name() or self._restore_cursor
        self._restore_cursor = None
        added = False
        changed_sort = False
        for name in [n for n in self._raw if n not in wanted]:
            del self._raw[name]
            table.remove_row(name)
        changes: list[tuple[str, str, Any]] = []
        for name, view in wanted.items():
            if names is not None and name in self._raw and name not in names:
                continue
            raw = row_values(view, now)
            old = self._raw.get(name)
            if old == raw:
                continue
            if old is None:
                table.add_row(*render_cells(raw, colors), key=name)
                added = True
            else:
                for key, _label, _w in COLUMNS:
                    same = old.get(key) == raw.get(key)
                    if key == "name":
                        same = same and old["demo"] == raw["demo"]
                    if not same:
                        changes.append((name, key, render_cell(raw, key, colors)))
                if self.sort_column and old.get(self.sort_column) != raw.get(self.sort_column):
                    changed_sort = True
            self._raw[name] = raw
        table.set_cells(changes)
        if self.sort_column and (added or changed_sort):
            self._apply_sort(cursor_key)
        elif added and cursor_key is not None and cursor_key in self._raw:
            table.move_cursor(row=table.get_row_index(cursor_key), animate=False)
        self._update_chrome()

    def recolor(self) -> None:
        """Force every cell to be re-rendered (theme changed); the cursor stays put."""
        self._restore_cursor = self.selected_name()
        self._raw.clear()
        self.table.clear()

    def _matches(self, view: EndpointView) -> bool:
        if not self.filter_text:
            return True
        hay = " ".join(
            [
                view.name,
                view.spec.kind.value,
                view.state.value,
                "demo" if view.spec.demo else "",
                "on" if view.spec.enabled else "off",
                *view.spec.answers_to()[:50],
            ]
        ).lower()
        return all(part in hay for part in self.filter_text.lower().split())

    def _apply_sort(self, cursor_key: str | None) -> None:
        column = self.sort_column
        if column is None:
            return
        raw = self._raw
        self.table.sort(
            "name",
            key=lambda name_cell: sort_value(raw[plain_name(name_cell)], column),
            reverse=self.sort_reverse,
        )
        if cursor_key is not None and cursor_key in raw:
            self.table.move_cursor(row=self.table.get_row_index(cursor_key), animate=False)

    def _update_chrome(self) -> None:
        has_any = self._shown_total > 0
        empty = self.query_one("#portfolio-empty")
        if empty.display == has_any:
            empty.display = not has_any
            self.table.display = has_any
            focused = self.app.focused
            if has_any and (focused is None or empty in focused.ancestors):
                self.table.focus()
            elif not has_any and (focused is None or focused is self.table):
                self.query_one("#start-demo", Button).focus()
        parts = [f"{self.table.row_count} of {self._shown_total} endpoints"]
        if self.filter_text:
            parts.append(f"filter “{self.filter_text}” (esc clears)")
        if self.sort_column:
            arrow = "↓" if self.sort_reverse else "↑"
            label = next(lbl for k, lbl, _ in COLUMNS if k == self.sort_column)
            parts.append(f"sorted by {label or self.sort_column} {arrow}")
        parts.append("? keys")
        self.query_one("#portfolio-status", Static).update("  ·  ".join(parts))

    def selected_name(self) -> str | None:
        """The endpoint under the cursor."""
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return str(key.value) if key.value is not None else None

    def _selected_or_warn(self) -> str | None:
        name = self.selected_name()
        if name is None:
            self.app.notify("No endpoint selected", severity="warning")
        return name

    # ------------------------------------------------------------------ actions

    def action_switch(self) -> None:
        name = self._selected_or_warn()
        if name is not None:
            self.desk_app.switch_endpoint(name)

    def action_test(self) -> None:
        name = self._selected_or_warn()
        if name is None:
            return
        quick_test(self.desk_app, name)

    def action_details(self) -> None:
        name = self._selected_or_warn()
        if name is None:
            return
        from endpoint_desk.tui.detail import DetailScreen

        self.app.push_screen(DetailScreen(name))

    @on(DataTable.RowSelected, "#portfolio-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_chat(self) -> None:
        name = self._selected_or_warn()
        if name is None:
            return
        from endpoint_desk.tui.terminal import TerminalPane

        self.desk_app.action_pane("terminal")
        self.app.query_one(TerminalPane).select_endpoint(name)

    def action_add(self) -> None:
        self.desk_app.action_pane("discovery")

    def action_delete(self) -> None:
        name = self._selected_or_warn()
        if name is None:
            return
        app = self.desk_app

        def confirmed(yes: bool | None) -> None:
            if not yes:
                return

            async def remove() -> None:
                await app.desk.remove(name)
                app.notify(f"deleted {name}", title="Portfolio")

            app.run_engine(remove, f"Deleting {name}")

        app.push_screen(
            ConfirmScreen(
                f"Delete endpoint [b]{name}[/b]?",
                "Its configuration and stored secrets go; its request history stays.",
                yes_label="Delete",
            ),
            confirmed,
        )

    def action_filter(self) -> None:
        box = self.query_one("#portfolio-filter", Input)
        box.display = True
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#portfolio-filter", Input)
        box.value = ""
        box.display = False
        self._set_filter("")
        self.table.focus()

    @on(Input.Changed, "#portfolio-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value.strip())

    @on(Input.Submitted, "#portfolio-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.table.focus()

    def _set_filter(self, text: str) -> None:
        self.filter_text = text
        app = self.desk_app
        if app.desk_ready:
            self.update_rows(app.desk.endpoints(), None)

    def action_sort(self) -> None:
        current = self.sort_column
        idx = SORTABLE.index(current) + 1 if current in SORTABLE else 0
        self.set_sort(SORTABLE[idx % len(SORTABLE)])

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply_sort(self.selected_name())
        self._update_chrome()

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        """Sort by ``column`` (kept while rows update)."""
        if reverse is not None:
            self.sort_reverse = reverse
        self.sort_column = column
        self._apply_sort(self.selected_name())
        self._update_chrome()

    @on(DataTable.HeaderSelected, "#portfolio-table")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = str(event.column_key.value)
        if column not in SORTABLE:
            return
        if column == self.sort_column:
            self.action_reverse()
        else:
            self.set_sort(column, reverse=False)

    @on(Button.Pressed, "#start-demo")
    def _start_demo(self) -> None:
        self.desk_app.action_demo()

    @on(Button.Pressed, "#go-add")
    def _go_add(self) -> None:
        self.action_add()

    @on(Button.Pressed, "#go-scan")
    def _go_scan(self) -> None:
        from endpoint_desk.tui.discovery import DiscoveryPane

        self.action_add()
        self.app.query_one(DiscoveryPane).action_scan()


__all__ = ["PortfolioPane"]
