"""The ticker: the desk's headline figures on one line at the top."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.format import fmt_money, fmt_pct, role_color


class Ticker(Static):
    """ON/total, requests per minute, queued requests, success rate, spend against
    budget, /v1, alerts."""

    HELP = (
        "## Ticker\n"
        "The top line: endpoints **ON** out of all, requests per minute over the last "
        "minute, requests *queued* for a slot (when a limit you set is full), the desk's "
        "success rate, spend today against the daily budget, the "
        "`/v1` server address (or *off*), and the count of warnings and errors."
    )

    def on_mount(self) -> None:
        self.update(Text(" endpoint-desk  opening the desk…"))

    def update_figures(self, app: Any, views: Sequence[EndpointView]) -> None:
        """Redraw from the desk's figures (called by the app in its refresh batch)."""
        colors = app.role_colors()
        total = len(views)
        on = sum(1 for v in views if v.state.serving)
        m = app.desk.totals.snapshot()
        budget = app.settings.budget.daily_desk_budget
        spend = m.cost_today
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" DESK ", style=f"bold reverse {role_color(colors, 'primary')}")
        text.append("  ")
        on_role = "success" if on else ("muted" if not total else "error")
        text.append(f"ON {on}/{total}", style=f"bold {role_color(colors, on_role)}")
        rpm = sum(v.metrics.req_per_min for v in views)
        text.append(f"  {rpm:.0f} req/min")
        if m.queued:
            text.append(f"  queued {m.queued}", style=f"bold {role_color(colors, 'warning')}")
        ok_role = "muted"
        if m.success_rate is not None:
            ok_role = (
                "success"
                if m.success_rate >= 0.95
                else ("warning" if m.success_rate >= 0.8 else "error")
            )
        text.append("  ok ")
        text.append(fmt_pct(m.success_rate), style=role_color(colors, ok_role))
        text.append("  spend ")
        if budget:
            over = spend >= budget
            text.append(
                f"{fmt_money(spend)}/{fmt_money(budget)}",
                style=role_color(colors, "error" if over else "foreground"),
            )
        else:
            text.append(fmt_money(spend))
        text.append("  /v1 ")
        url = app.server_url
        if url:
            text.append(url.removeprefix("http://"), style=role_color(colors, "success"))
        else:
            text.append("off", style=role_color(colors, "muted"))
        alerts = app.logbook.alert_count
        text.append("  alerts ")
        text.append(str(alerts), style=f"bold {role_color(colors, 'error' if alerts else 'muted')}")
        self.update(text)
