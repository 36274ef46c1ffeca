"""The portfolio's quote board: its columns, a row's comparable values, how each cell
is drawn and sorted, and the table that writes a whole diff with one repaint.

:class:`~endpoint_desk.tui.portfolio.PortfolioPane` decides which rows changed; this
module knows what a row looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.format import (
    fmt_count,
    fmt_money,
    fmt_ms,
    fmt_pct,
    models_summary,
    sparkline,
    state_text,
    switch_text,
)

#: (key, label, width) of the columns, in order; the most useful first so 80 columns
#: show the decision-making figures and the rest scroll in.
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("switch", "", 3),
    ("name", "Endpoint", 18),
    ("state", "State", 10),
    ("ok", "OK", 5),
    ("p50", "p50", 6),
    ("trend", "Latency", 8),
    ("req", "Req", 5),
    ("cost", "Cost", 8),
    ("uptime", "Up", 5),
    ("kind", "Kind", 9),
    ("models", "Models", 24),
)
SORTABLE = ("name", "state", "ok", "p50", "req", "cost", "uptime", "kind")
_STATE_ORDER = {"on": 0, "degraded": 1, "starting": 2, "tripped": 3, "error": 4, "off": 5}


def row_values(view: EndpointView, now: float) -> dict[str, Any]:
    """Raw, comparable values of a row (used for diffing and sorting)."""
    m = view.metrics
    return {
        "switch": view.spec.enabled,
        "name": view.name,
        "demo": view.spec.demo,
        "state": view.state.value,
        "ok": m.success_rate,
        "p50": m.p50_ms,
        "trend": tuple(round(x) for x in m.recent_latency[-8:]),
        "req": m.requests,
        "cost": round(m.cost_today, 6),
        "uptime": m.uptime,
        "kind": view.spec.kind.value,
        "models": tuple(view.spec.answers_to()),
        "since": int(now - view.state_since) // 60,
    }


def sort_value(raw: dict[str, Any], column: str) -> Any:
    """A sort key for a column that puts missing figures last."""
    if column == "state":
        return (_STATE_ORDER.get(raw["state"], 9), raw["name"])
    value = raw.get(column)
    if value is None:
        return (1, 0)
    return (0, value)


def render_cell(raw: dict[str, Any], column: str, colors: dict[str, str]) -> Any:
    """One cell of a row."""
    if column == "switch":
        return switch_text(raw["switch"], colors)
    if column == "name":
        name = Text(raw["name"])
        if raw["demo"]:
            name.append(" demo", style=colors.get("muted", "dim"))
        return name
    if column == "state":
        return state_text(raw["state"], colors)
    if column == "ok":
        ok = raw["ok"]
        ok_text = Text(fmt_pct(ok), justify="right")
        if ok is not None:
            role = "success" if ok >= 0.95 else ("warning" if ok >= 0.8 else "error")
            ok_text.stylize(colors.get(role, ""))
        return ok_text
    if column == "p50":
        return Text(fmt_ms(raw["p50"]), justify="right")
    if column == "trend":
        return Text(sparkline(raw["trend"]), style=colors.get("accent", ""))
    if column == "req":
        return Text(fmt_count(raw["req"]), justify="right")
    if column == "cost":
        return Text(fmt_money(raw["cost"]), justify="right")
    if column == "uptime":
        up = raw["uptime"]
        return Text(fmt_pct(up) if up is not None else "–", justify="right")
    if column == "kind":
        return raw["kind"]
    return models_summary(raw["models"], 24)


def render_cells(raw: dict[str, Any], colors: dict[str, str]) -> list[Any]:
    """The cells of one row, in column order."""
    return [render_cell(raw, key, colors) for key, _label, _width in COLUMNS]


class PortfolioTable(DataTable[Any]):
    """The quote board."""

    def set_cells(self, changes: Sequence[tuple[str, str, Any]]) -> None:
        """Write many cells and repaint once (``update_cell`` repaints per cell, which
        costs more than the whole diff with 200 live rows)."""
        if not changes:
            return
        data = getattr(self, "_data", None)
        if not isinstance(data, dict) or not hasattr(self, "_update_count"):
            for row, column, value in changes:  # a DataTable without the fast path
                self.update_cell(row, column, value)
            return
        for row, column, value in changes:
            data[RowKey(row)][ColumnKey(column)] = value
        self._update_count += 1
        self.refresh()

    HELP = (
        "## Portfolio\n"
        "One row per endpoint, live. **ON/OFF** is your switch; **State** is what the "
        "desk sees (*on*, *degraded*, *tripped* by the stop-loss, *error* needing you, "
        "*off*). OK is the recent success rate, p50 the median latency with a sparkline "
        "of recent requests, Req the request count, Cost today's spend, Up the uptime "
        "from health checks.\n\n"
        "Keys: `space` switch ON/OFF, `t` quick test, `enter` details, `c` chat with it "
        "in the terminal, `a` add, `d` delete (asks first), `/` filter, `s` sort by the "
        "next column (or click a header), `r` reverse the sort."
    )


def plain_name(cell: Any) -> str:
    """The endpoint name inside a name cell (which may carry a ``demo`` tag)."""
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return text.removesuffix(" demo")


__all__ = [
    "COLUMNS",
    "SORTABLE",
    "PortfolioTable",
    "plain_name",
    "render_cell",
    "render_cells",
    "row_values",
    "sort_value",
]
