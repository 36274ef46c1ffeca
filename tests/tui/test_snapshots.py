"""Snapshot tests of every screen at fixed sizes, with a frozen clock and fixed data.

The engine is real (a Desk on a temporary DESK_HOME, health loop off); the figures are
recorded into its metrics directly so every run draws the same screen. Update with
``pytest tests/tui/test_snapshots.py --snapshot-update`` after reviewing the report.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import (
    ChatResult,
    EndpointKind,
    EndpointSpec,
    Prices,
    Usage,
)
from endpoint_desk.engine.credentials import StoredSecrets
from endpoint_desk.engine.events import Alert
from endpoint_desk.engine.onboard import AddPlan
from endpoint_desk.tui.app import DeskApp
from endpoint_desk.tui.discovery import DiscoveryPane
from endpoint_desk.tui.portfolio import PortfolioPane
from endpoint_desk.tui.terminal import Exchange, TerminalPane
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(60)

FROZEN = 1_790_000_000.0  # 2026-09-21 14:13:20 UTC
DEAD_URL = "http://127.0.0.1:9"  # nothing answers; nothing is called either

#: name, kind, enabled, outcomes [(ok, latency ms, ttft ms, tokens in, out, cost)]
PORTFOLIO: list[
    tuple[str, EndpointKind, bool, list[tuple[bool, float, float, int, int, float]]]
] = [
    (
        "gpt-main",
        EndpointKind.OPENAI,
        True,
        [(True, 420 + 30 * i, 120, 40, 80, 0.0021) for i in range(8)],
    ),
    (
        "claude-tier1",
        EndpointKind.ANTHROPIC,
        True,
        [(i % 5 != 0, 900 - 40 * i, 300, 50, 120, 0.0150) for i in range(10)],
    ),
    (
        "local-llama",
        EndpointKind.OLLAMA,
        True,
        [(True, 150 + 5 * i, 60, 30, 60, 0.0) for i in range(6)],
    ),
    ("spare", EndpointKind.OPENAI, False, []),
]


def make_app(home: Any, **ui: Any) -> DeskApp:
    settings = load_settings(server={"port": 0}, health={"enabled": False}, ui=ui or {})
    return DeskApp(settings, clock=lambda: FROZEN, refresh_interval=3600)


async def populate(pilot: Pilot[Any], app: DeskApp) -> None:
    """Open the desk, add the fixed portfolio and record its fixed figures."""
    await wait_for(pilot, lambda: app.desk_ready, what="the desk")
    for name, kind, enabled, outcomes in PORTFOLIO:
        spec = EndpointSpec(
            name=name,
            kind=kind,
            base_url=DEAD_URL,
            models=[f"{name}-model", "fast"],
            prices=Prices(input_per_mtok=1.0, output_per_mtok=2.0),
        )
        await app.desk.add(spec, prove=False, start=enabled)
        metrics = app.desk.portfolio.positions[name].metrics
        for ok, lat, ttft, tin, tout, cost in outcomes:
            metrics.record(ok, lat, ttft, tin, tout, cost)
            app.desk.totals.record(ok, lat, ttft, tin, tout, cost)
    await settle(pilot, app)


async def settle(pilot: Pilot[Any], app: DeskApp) -> None:
    """Apply pending events, then freeze the log to fixed entries."""
    await pilot.pause(0.2)
    app.logbook._entries.clear()
    app.logbook.alert_count = 0
    app._all_dirty = True
    app.refresh_portfolio()
    await pilot.pause()


def steady(app: DeskApp, before: Any) -> Any:
    """``before`` then a cursor that does not blink (the screenshot must not race it)."""

    async def run(pilot: Pilot[Any]) -> None:
        await before(pilot)
        for screen in app.screen_stack:
            for box in screen.query(Input):
                box.cursor_blink = False
        await pilot.pause()

    return run


def fixed_log(app: DeskApp) -> None:
    book = app.logbook
    book.add(FROZEN - 30, "request", "ok", "gpt-main", "gpt-main-model ok in 420 ms")
    book.add(FROZEN - 20, "request", "error", "claude-tier1", "fast failed: Upstream error: 529")
    book.add_event(
        Alert("warning", "claude-tier1", "Tripped", "4 of 10 failed in 60 s", ts=FROZEN - 15)
    )
    book.add(FROZEN - 10, "health", "ok", "local-llama", "healthy in 12 ms")
    book.add(FROZEN - 5, "state", "info", "spare", "now off: switched off")
    app.query_one("#log-pane").refresh_entries(rebuild=True)  # type: ignore[attr-defined]


def result(endpoint: str, content: str) -> ChatResult:
    return ChatResult(
        id="chatcmpl-fixed",
        provider="openai",
        model=f"{endpoint}-model",
        content=content,
        endpoint=endpoint,
        usage=Usage(input_tokens=12, output_tokens=9, cost=0.000042),
        latency_ms=812.0,
        ttft_ms=240.0,
        created=FROZEN,
    )


def test_first_minute(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot, app)
        await wait_for(pilot, lambda: app.desk_ready)
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
def test_portfolio(snap_compare: Any, home: Any, size: tuple[int, int]) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=steady(app, before))


def test_portfolio_light_sorted_filtered(snap_compare: Any, home: Any) -> None:
    app = make_app(home, theme="textual-light")

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        pane = app.query_one(PortfolioPane)
        pane.set_sort("p50")
        await pilot.press("slash", *"model")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


def test_confirm_delete(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        await pilot.press("d")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


@pytest.mark.parametrize("tab", ["overview", "settings"])
def test_detail(snap_compare: Any, home: Any, tab: str) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: app.screen.query("#detail-head"))
        if tab == "settings":
            app.screen.query_one("#detail-tabs").active = "detail-settings"  # type: ignore[attr-defined]
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


def test_terminal(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        app.action_pane("terminal")
        terminal = app.query_one(TerminalPane)
        terminal.select_endpoint("gpt-main")
        exchange = Exchange("What is the spread today?", "gpt-main")
        await terminal.query_one("#transcript").mount(exchange)
        terminal.query_one("#transcript-hint").display = False
        exchange.append("The spread is 3 basis points, ")
        exchange.append("unchanged since the open.")
        exchange.finish(result("gpt-main", exchange.text))
        failed = Exchange("And tomorrow?", "gpt-main")
        await terminal.query_one("#transcript").mount(failed)
        failed.fail("Rate limited: gpt-main answered 429; retry after 20 s")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


def test_terminal_compare(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        app.action_pane("terminal")
        terminal = app.query_one(TerminalPane)
        terminal.action_compare()
        await pilot.pause()
        from textual.containers import VerticalScroll

        columns = terminal.query_one("#compare-columns")
        for name, reply in (("gpt-main", "Paris."), ("local-llama", "It is Paris.")):
            terminal.query_one("#compare-targets").select(name)  # type: ignore[attr-defined]
            column = VerticalScroll(classes="compare-column", name=name)
            column.border_title = name
            await columns.mount(column)
            exchange = Exchange("Capital of France?", name)
            await column.mount(exchange)
            exchange.append(reply)
            exchange.finish(result(name, reply))
        terminal.query_one("#prompt").focus()
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 35), run_before=steady(app, before))


def test_discovery_review(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        app.action_pane("discovery")
        pane = app.query_one(DiscoveryPane)
        pane.query_one("#d-url").value = "http://127.0.0.1:11434"  # type: ignore[attr-defined]
        pane.step("probing http://127.0.0.1:11434: OpenAI, Anthropic, Gemini, Ollama, page")
        pane.step("GET /api/tags answered with 2 models", "ok")
        pane.step("it is ollama at http://127.0.0.1:11434 (found in 12 ms)", "ok")
        spec = EndpointSpec(
            name="local-11434",
            kind=EndpointKind.OLLAMA,
            base_url="http://127.0.0.1:11434",
            models=["llama3.2:latest", "qwen2.5:7b"],
        )
        evidence = ["GET /api/tags answered with 2 models"]
        stored = StoredSecrets(app.desk.secrets, spec.name)
        pane.show_found(AddPlan(spec, evidence, stored))
        pane.query_one("#d-save").focus()
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


def test_log(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        app.action_pane("log")
        fixed_log(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))


def test_help(snap_compare: Any, home: Any) -> None:
    app = make_app(home)

    async def before(pilot: Pilot[Any]) -> None:
        await populate(pilot, app)
        await pilot.press("f1")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=steady(app, before))
