"""Endpoint detail: configuration (secrets masked), editable limits and routing, charts
of latency and success over time (drawn by :mod:`endpoint_desk.tui.charts`), recent
requests, health history, last trips."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    Static,
    TabbedContent,
    TabPane,
)
from textual_plotext import PlotextPlot

from endpoint_desk.core.errors import ConfigError, DeskError
from endpoint_desk.core.inputs import parse_model_map
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

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

#: editable fields: (input id, label, where it lives, parser)
LIMIT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("max_requests_per_minute", "requests / minute", "int"),
    ("max_concurrent_requests", "concurrent requests", "int"),
    ("timeout_seconds", "timeout (s)", "float"),
    ("retry_attempts", "retries (other endpoints)", "int"),
    ("health_check_interval", "health check every (s)", "float"),
    ("daily_budget", "daily budget (USD, empty: none)", "float?"),
)


def parse_number(label: str, text: str, kind: str) -> float | int | None:
    """Parse a form field; a readable ConfigError names the field."""
    text = text.strip()
    if not text:
        if kind.endswith("?"):
            return None
        raise ConfigError(f"{label} needs a value")
    try:
        return int(text) if kind.startswith("int") else float(text)
    except ValueError:
        raise ConfigError(f"{label} must be a number, got {text!r}") from None


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


class DetailScreen(Screen[None]):
    """Everything about one endpoint; ``escape`` goes back to the portfolio."""

    HELP = (
        "## Endpoint detail\n"
        "**Overview**: state and why, figures, configuration (secrets masked), the "
        "reasons of the last trips. **Settings**: edit limits, model mapping, strategy "
        "weight and tier, then **Save** (the adapter restarts). **Charts**: latency and "
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
                with Grid(id="detail-form"):
                    for key, label, _kind in LIMIT_FIELDS:
                        yield Label(label)
                        yield Input(id=f"f-{key}")
                    yield Label("weight (weighted strategy)")
                    yield Input(id="f-weight")
                    yield Label("tier (lower first)")
                    yield Input(id="f-tier")
                    yield Label("model mapping (asked=upstream, …)")
                    yield Input(id="f-mapping")
                    yield Label("default model")
                    yield Input(id="f-default-model")
                with Horizontal(classes="dialog-buttons"):
                    yield Button("Save", id="detail-save", variant="primary")
                    yield Button("Reset", id="detail-reset")
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
            f"[b]requests[/b] {m.requests} ({m.errors} failed)   [b]in flight[/b] {m.in_flight}   "
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
        limits = view.spec.limits
        for key, _label, _kind in LIMIT_FIELDS:
            value = getattr(limits, key)
            self.query_one(f"#f-{key}", Input).value = "" if value is None else f"{value:g}"
        self.query_one("#f-weight", Input).value = f"{view.spec.weight:g}"
        self.query_one("#f-tier", Input).value = str(view.spec.tier)
        self.query_one("#f-mapping", Input).value = ", ".join(
            f"{a}={b}" for a, b in view.spec.model_mapping.items()
        )
        self.query_one("#f-default-model", Input).value = view.spec.default_model or ""

    def form_changes(self) -> dict[str, Any]:
        """The form as ``desk.update`` keyword arguments.

        Raises:
            ConfigError: a field does not parse (names the field).
            BadRequest: the model mapping is not ``ASKED=UPSTREAM`` items.
        """
        view = self.desk_app.desk.endpoint(self.endpoint_name)
        limits = view.spec.limits.model_dump()
        for key, label, kind in LIMIT_FIELDS:
            limits[key] = parse_number(label, self.query_one(f"#f-{key}", Input).value, kind)
        weight = parse_number("weight", self.query_one("#f-weight", Input).value, "float")
        tier = parse_number("tier", self.query_one("#f-tier", Input).value, "int")
        mapping = parse_model_map(self.query_one("#f-mapping", Input).value)
        default_model = self.query_one("#f-default-model", Input).value.strip() or None
        return {
            "limits": limits,
            "weight": weight,
            "tier": tier,
            "model_mapping": mapping,
            "default_model": default_model,
        }

    @on(Button.Pressed, "#detail-save")
    def action_save(self) -> None:
        app = self.desk_app
        try:
            changes = self.form_changes()
        except DeskError as exc:
            app.show_error(exc, "Settings")
            return
        name = self.endpoint_name

        async def save() -> None:
            view = await app.desk.update(name, **changes)
            self.fill_form(view)
            app.notify(f"saved the settings of {name}", title="Settings")

        app.run_engine(save, f"Saving {name}")

    @on(Button.Pressed, "#detail-reset")
    def _reset(self) -> None:
        self.fill_form(self.desk_app.desk.endpoint(self.endpoint_name))

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self.reload()

    def action_switch(self) -> None:
        self.desk_app.switch_endpoint(self.endpoint_name)

    def action_test(self) -> None:
        app = self.desk_app
        name = self.endpoint_name

        async def test() -> None:
            result = await app.desk.test(name, "Reply with the word OK.")
            app.notify(
                f"“{result.content.strip()[:60]}” in {fmt_ms(result.latency_ms)}",
                title=f"{name} answered",
            )
            self.reload()

        app.run_engine(test, f"Testing {name}")


__all__ = ["DetailScreen", "config_lines", "parse_number"]
