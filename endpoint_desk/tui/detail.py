"""Endpoint detail: configuration (secrets masked), editable limits and routing, charts
of latency and success over time (drawn by :mod:`endpoint_desk.tui.charts`), recent
requests, health history, last trips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import Limits
from endpoint_desk.core.tools import capability_words
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.charts import draw_latency, draw_success
from endpoint_desk.tui.format import (
    fmt_clock,
    fmt_day_clock,
    fmt_duration,
    fmt_money,
    fmt_ms,
    fmt_pct,
    level_text,
    mask_secret_ref,
    mask_value,
    role_color,
    state_text,
)
from endpoint_desk.tui.quick_test import quick_test
from endpoint_desk.tui.settings_form import SettingsForm

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp


def config_lines(view: EndpointView) -> list[tuple[str, str]]:
    """(label, value) lines of an endpoint's configuration, secrets masked."""
    spec = view.spec
    lines = [
        ("name", spec.name + ("  (demo)" if spec.demo else "")),
        ("kind", spec.kind.value),
        ("base URL", spec.base_url),
        ("API key", mask_secret_ref(spec.api_key)),
    ]
    if spec.username or spec.password:
        lines.append(
            ("login", f"{mask_secret_ref(spec.username)} / {mask_secret_ref(spec.password)}")
        )
    for header, value in spec.headers.items():
        lines.append(
            (f"header {header}", mask_value(value) if ":" not in value else mask_secret_ref(value))
        )
    lines.append(("models", ", ".join(spec.models) or "any name"))
    mapping = ", ".join(f"{a}→{b}" for a, b in spec.model_mapping.items())
    lines.append(("model mapping", mapping or "none"))
    lines.append(("default model", spec.default_model or "first listed"))
    lines.append(("limits", limits_summary(spec.limits)))
    lines.append(("weight / tier", f"{spec.weight:g} / {spec.tier}"))
    if spec.prices:
        lines.append(
            (
                "prices",
                f"${spec.prices.input_per_mtok:g} in / "
                f"${spec.prices.output_per_mtok:g} out per Mtok",
            )
        )
    lines.append(("can do", capability_words(view.capabilities)))
    lines.append(("health probe", spec.health_probe))
    if spec.note:
        lines.append(("note", spec.note))
    return lines


def limits_summary(limits: Limits) -> str:
    """The limits on one line; an unset rate or concurrency limit reads "no limit"."""
    rpm, conc = limits.max_requests_per_minute, limits.max_concurrent_requests
    queue = limits.queue_seconds
    budget = limits.daily_budget
    return (
        f"{'no rate limit' if rpm is None else f'{rpm}/min'} · "
        f"{'no concurrency limit' if conc is None else f'{conc} at once'} · "
        f"queue {'desk default' if queue is None else f'{queue:g} s'} · "
        f"timeout {limits.timeout_seconds:g} s · {limits.retry_attempts} retries · "
        f"health every {limits.health_check_interval:g} s · "
        f"budget {'none' if budget is None else fmt_money(budget) + '/day'}"
    )


class DetailScreen(Screen[None]):
    """Everything about one endpoint; ``escape`` goes back to the portfolio."""

    HELP = (
        "## Endpoint detail\n"
        "**Overview**: state and why, figures, configuration (secrets masked), the "
        "reasons of the last trips. **Settings**: edit limits, model mapping, strategy "
        "weight and tier, prices, the reply cache, and any other setting as KEY=VALUE "
        "(the keys of `desk set`), then **Save**: all or nothing, a bad value is named "
        "and nothing changes (the adapter restarts). **Charts**: latency and "
        "success over time. **Requests** and **Health**: the newest first.\n\n"
        "`escape` back, `space` switch ON/OFF, `t` test, `r` reload."
    )

    BINDINGS = [
        Binding("escape", "back", "Back", id="detail.back", tooltip="Back to the portfolio"),
        Binding("space", "switch", "ON/OFF", id="detail.toggle"),
        Binding("t", "test", "Test", id="detail.test"),
        Binding("r", "reload", "Reload", id="detail.reload"),
    ]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.endpoint_name = name
        self.requests: list[Any] = []
        self.health: list[Any] = []
        self.stored_trips: list[tuple[float, str, str]] = []
        """(ts, level, message) of the endpoint's stored warnings and errors."""

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("", id="detail-head")
        with TabbedContent(id="detail-tabs"):
            with TabPane("Overview", id="detail-overview"), VerticalScroll():
                yield Static("", id="detail-figures")
                yield Static("", id="detail-config")
                yield Static("", id="detail-trips")
            with TabPane("Settings", id="detail-settings"), VerticalScroll():
                yield SettingsForm(self.endpoint_name, id="detail-settings-form")
            with TabPane("Charts", id="detail-charts"), Vertical():
                yield PlotextPlot(id="chart-latency")
                yield PlotextPlot(id="chart-success")
            with TabPane("Requests", id="detail-requests"):
                yield DataTable(id="detail-requests-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Health", id="detail-health"):
                yield DataTable(id="detail-health-table", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        req = self.query_one("#detail-requests-table", DataTable)
        req.add_columns(
            "Time", "Result", "Model", "Latency", "First token", "Tokens", "Cost", "Error"
        )
        health = self.query_one("#detail-health-table", DataTable)
        health.add_columns("Time", "Result", "Latency", "Detail")
        try:
            view = self.desk_app.desk.endpoint(self.endpoint_name)
        except DeskError as exc:
            self.desk_app.show_error(exc, "Details")
            self.dismiss(None)
            return
        self.fill_form(view)
        self.refresh_from_desk([view])
        self.reload()
        self.set_interval(5.0, self.reload, name="detail-reload")

    # ------------------------------------------------------------------ live

    def refresh_from_desk(self, views: Sequence[EndpointView]) -> None:
        """Called in the app's refresh batch with the current views."""
        view = next((v for v in views if v.name == self.endpoint_name), None)
        if view is None:
            if self.desk_app.desk_ready and all(
                v.name != self.endpoint_name for v in self.desk_app.desk.endpoints()
            ):
                self.query_one("#detail-head", Static).update(
                    f"[b]{self.endpoint_name}[/b] was removed (escape to go back)"
                )
            return
        colors = self.desk_app.role_colors()
        now = self.desk_app.clock()
        head = Text.assemble((f" {view.name} ", "bold reverse"), "  ")
        head.append_text(state_text(view.state.value, colors))
        head.append(f" for {fmt_duration(now - view.state_since)}")
        if view.reason:
            head.append(f"  — {view.reason}")
        if view.until:
            head.append(f"  (retry in {fmt_duration(view.until - now)})")
        head.append("   switch ")
        head.append("ON" if view.spec.enabled else "OFF", style="bold")
        self.query_one("#detail-head", Static).update(head)
        m = view.metrics
        figures = (
            f"[b]success[/b] {fmt_pct(m.success_rate)}   [b]p50[/b] {fmt_ms(m.p50_ms)}   "
            f"[b]p95[/b] {fmt_ms(m.p95_ms)}   [b]first token p50[/b] {fmt_ms(m.ttft_p50_ms)}\n"
            f"[b]requests[/b] {m.requests} ({m.errors} failed)   [b]in flight[/b] {m.in_flight}"
            f"{f'   [b]queued[/b] {m.queued}' if m.queued else ''}   "
            f"[b]req/min[/b] {m.req_per_min:.0f}   [b]tokens[/b] {m.input_tokens}+{m.output_tokens}"
            f"   [b]cost today[/b] {fmt_money(m.cost_today)}   [b]uptime[/b] {fmt_pct(m.uptime)}"
        )
        self.query_one("#detail-figures", Static).update(figures)
        cfg = Text()
        for label, value in config_lines(view):
            cfg.append(f"{label:>16}  ", style=role_color(colors, "muted"))
            cfg.append(value + "\n")
        self.query_one("#detail-config", Static).update(cfg)
        self._show_trips()

    def _show_trips(self) -> None:
        colors = self.desk_app.role_colors()
        # what happened since the desk opened (alerts and state changes), plus the
        # stored alerts from before
        seen: dict[tuple[float, str], tuple[float, str, str]] = {}
        for ts, level, message in self.stored_trips:
            seen[(round(ts, 3), message)] = (ts, level, message)
        for e in self.desk_app.logbook.of(self.endpoint_name, ("alert", "state")):
            if e.level in ("warning", "error"):
                seen.setdefault((round(e.ts, 3), e.message), (e.ts, e.level, e.message))
        entries = sorted(seen.values())[-8:]
        text = Text("Last trips and errors\n", style="bold")
        if not entries:
            text.append("none on record", style=role_color(colors, "muted"))
        for ts, level, message in reversed(entries):
            text.append(f"{fmt_day_clock(ts)} ")
            text.append_text(level_text(level, colors))
            text.append(f" {message}\n")
        self.query_one("#detail-trips", Static).update(text)

    def reload(self) -> None:
        """Read recent requests and health samples (in a worker)."""
        self.desk_app.run_worker(
            self._load(), group="detail-load", exclusive=True, exit_on_error=False
        )

    async def _load(self) -> None:
        desk = self.desk_app.desk
        try:
            requests = await desk.recent_requests(self.endpoint_name, limit=300)
            health = await desk.health_history(self.endpoint_name, limit=200)
            alerts = await desk.alert_history(self.endpoint_name, limit=50)
        except DeskError as exc:
            self.desk_app.show_error(exc, "Loading history")
            return
        self.requests = requests
        self.health = health
        self.stored_trips = [
            (a.ts, a.level, f"{a.title}: {a.message}" if a.message else a.title)
            for a in alerts
            if a.level in ("warning", "error")
        ]
        self._show_trips()
        self._fill_requests()
        self._fill_health()
        self._draw_charts()

    def _fill_requests(self) -> None:
        colors = self.desk_app.role_colors()
        table = self.query_one("#detail-requests-table", DataTable)
        table.clear()
        for r in self.requests[:200]:
            ok = r.status == "ok"
            table.add_row(
                fmt_clock(r.ts),
                level_text("ok" if ok else "error", colors),
                r.model or "–",
                fmt_ms(r.latency_ms),
                fmt_ms(r.ttft_ms),
                f"{r.input_tokens}+{r.output_tokens}",
                fmt_money(r.cost),
                (r.error or "")[:80],
            )

    def _fill_health(self) -> None:
        colors = self.desk_app.role_colors()
        table = self.query_one("#detail-health-table", DataTable)
        table.clear()
        for h in reversed(self.health):
            table.add_row(
                fmt_clock(h.ts),
                level_text("ok" if h.ok else "error", colors),
                fmt_ms(h.latency_ms),
                (h.detail or h.error_kind or "")[:80],
            )

    def _draw_charts(self) -> None:
        now = self.desk_app.clock()
        reqs = list(reversed(self.requests))
        draw_latency(self.query_one("#chart-latency", PlotextPlot), reqs, now)
        draw_success(self.query_one("#chart-success", PlotextPlot), reqs, now)

    # ------------------------------------------------------------------ form

    def fill_form(self, view: EndpointView) -> None:
        """Show the endpoint's stored settings in the Settings tab."""
        self.query_one(SettingsForm).fill(view)

    def action_save(self) -> None:
        """Save the Settings tab (its **Save** button)."""
        self.query_one(SettingsForm).save()

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.reload()

    def action_switch(self) -> None:
        self.desk_app.switch_endpoint(self.endpoint_name)

    def action_test(self) -> None:
        quick_test(self.desk_app, self.endpoint_name, after=self.reload)


__all__ = ["DetailScreen", "config_lines"]
