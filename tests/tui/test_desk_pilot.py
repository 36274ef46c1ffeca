"""The desk driven like a person would: keys and clicks, assertions on the screen and in
the database. Real engine (Desk on a temporary DESK_HOME), real `desk sim` upstreams."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Input, Static

from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.models import EndpointKind, EndpointSpec, EndpointState
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim import SimConfig, SimServer
from endpoint_desk.store.records import AlertRecord
from endpoint_desk.tui.app import DeskApp
from endpoint_desk.tui.detail import DetailScreen
from endpoint_desk.tui.dialogs import ConfirmScreen, JsonScreen
from endpoint_desk.tui.discovery import DiscoveryPane
from endpoint_desk.tui.help import HelpScreen
from endpoint_desk.tui.portfolio import PortfolioPane
from endpoint_desk.tui.terminal import Exchange, TerminalPane
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(chunks=4, chunk_delay=0.01)) as server:
        yield server


def cell_text(app: DeskApp, name: str, column: str) -> str:
    table = app.query_one("#portfolio-table", DataTable)
    value: Any = table.get_cell(name, column)
    return value.plain if isinstance(value, Text) else str(value)


def rows(app: DeskApp) -> list[str]:
    table = app.query_one("#portfolio-table", DataTable)
    return [str(row.key.value) for row in table.ordered_rows]


def notes(app: DeskApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def add_endpoint(desk: Desk, name: str, url: str) -> None:
    await desk.add(EndpointSpec(name=name, kind=EndpointKind.OPENAI, base_url=url + "/v1"))


async def opened(pilot: Any, app: DeskApp) -> None:
    await wait_for(pilot, lambda: app.desk_ready, what="the desk to open")


async def test_first_minute_offers_the_demo_and_runs_it(settings: Settings) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await wait_for(pilot, lambda: app.query_one("#portfolio-empty").display)
        empty = app.query_one("#portfolio-empty-text", Static)
        assert "No endpoints yet" in str(empty.render())
        await pilot.click("#start-demo")
        await wait_for(pilot, lambda: len(rows(app)) == 5, what="five demo rows")
        for name in rows(app):
            assert name.startswith("demo-")
            assert cell_text(app, name, "name").endswith("demo")
        # every demo endpoint is switched ON and says so in words, not colour alone (the
        # flaky one may already be marked degraded or tripped by its first failures)
        await wait_for(
            pilot,
            lambda: all(
                cell_text(app, n, "state") == "● on" for n in rows(app) if "flaky" not in n
            ),
            what="every steady demo row ON",
        )
        assert all(app.desk.endpoint(n).spec.enabled for n in rows(app))
        assert all(re.fullmatch(r"\S+ [a-z]+", cell_text(app, n, "state")) for n in rows(app))
        # the traffic makes the figures move
        await wait_for(
            pilot,
            lambda: sum(v.metrics.requests for v in app.desk.endpoints()) >= 3,
            what="demo traffic",
        )
        stored = await app.desk.store.list_endpoints()
        assert sorted(r.spec.name for r in stored) == sorted(rows(app))
        assert all(r.spec.demo for r in stored)
        # the ticker shows ON/total in words
        ticker = str(app.query_one("#ticker", Static).render())
        assert re.search(r"ON [0-5]/5", ticker) and "/v1 off" in ticker
        # and the demo is removed with one command (the palette's)
        app.action_demo(remove=True)
        await wait_for(pilot, lambda: not rows(app), what="demo rows removed")
        assert await app.desk.store.list_endpoints() == []


async def test_add_through_discovery_toggle_test_details_filter_delete(
    settings: Settings, sim: SimServer
) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        # --- add through the discovery pane
        await pilot.press("a")  # from the empty portfolio: go and add
        await wait_for(pilot, lambda: app.focused is app.query_one("#d-url"))
        await pilot.press(*sim.url)
        name_box = app.query_one("#d-name", Input)
        name_box.value = "my-sim"
        await pilot.press("enter")
        pane = app.query_one(DiscoveryPane)
        await wait_for(pilot, lambda: pane.found is not None, what="detection")
        steps = "\n".join(
            "".join(seg.text for seg in line) for line in app.query_one("#d-steps").lines
        )
        assert "probing" in steps and "it is openai" in steps
        # each probe shows as a step of its own, before the verdict
        probe_line = steps.index(f"openai: GET {sim.url}/v1/models -> 200 (JSON)")
        assert probe_line < steps.index("it is openai")
        review = str(app.query_one("#d-review", Static).render())
        assert "openai" in review and "sim-model" in review and "confidence" in review
        await pilot.click("#d-save")
        await wait_for(pilot, lambda: "my-sim" in rows(app), what="the new row")
        record = await app.desk.store.get_endpoint("my-sim")
        assert record.spec.base_url.startswith(sim.url)
        assert record.state is EndpointState.ON
        await wait_for(pilot, lambda: cell_text(app, "my-sim", "state") == "● on")

        # --- toggle it OFF and ON again from the portfolio
        app.action_pane("portfolio")
        await pilot.press("space")
        await wait_for(pilot, lambda: cell_text(app, "my-sim", "state") == "○ off")
        assert cell_text(app, "my-sim", "switch").strip() == "OFF"
        record = await app.desk.store.get_endpoint("my-sim")
        assert record.state is EndpointState.OFF and not record.spec.enabled
        await pilot.press("space")
        await wait_for(pilot, lambda: cell_text(app, "my-sim", "state") == "● on")

        # --- test it in the terminal: the reply streams in, with its figures
        await pilot.press("c")
        terminal = app.query_one(TerminalPane)
        await wait_for(pilot, lambda: app.focused is app.query_one("#prompt"))
        assert terminal.target == "my-sim"
        await pilot.press(*"hello desk", "enter")
        await wait_for(
            pilot,
            lambda: terminal.query_one(Exchange).result is not None,
            what="the streamed reply",
        )
        exchange = terminal.query_one(Exchange)
        assert exchange.text == "Echo: hello desk"
        meta = str(exchange.query_one(".meta", Static).render())
        assert "served by my-sim" in meta and "first token" in meta and "tokens" in meta
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, JsonScreen))
        assert app.screen.data["response"]["content"] == "Echo: hello desk"
        await pilot.press("escape")

        # --- details (with an alert stored before, as after a restart)
        await app.desk.store.add_alert(
            AlertRecord(1_700_000_000.0, "my-sim", "warning", "Tripped", "my-sim taken out")
        )
        app.action_pane("portfolio")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        head = str(app.screen.query_one("#detail-head", Static).render())
        assert "my-sim" in head and "on" in head
        config = str(app.screen.query_one("#detail-config", Static).render())
        assert "base URL" in config and sim.url in config
        await wait_for(
            pilot,
            lambda: app.screen.query_one("#detail-requests-table", DataTable).row_count >= 1,
            what="recent requests from the store",
        )
        await wait_for(
            pilot,
            lambda: (
                "Tripped: my-sim taken out"
                in str(app.screen.query_one("#detail-trips", Static).render())
            ),
            what="the stored trip",
        )
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailScreen))

        # --- filter
        await app.desk.add(
            EndpointSpec(name="other", kind=EndpointKind.OPENAI, base_url=sim.url + "/v1"),
            prove=False,
        )
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        await pilot.press("slash", *"other")
        await wait_for(pilot, lambda: rows(app) == ["other"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(rows(app)) == 2)

        # --- delete with confirmation: "n" keeps it, "y" deletes it
        table = app.query_one("#portfolio-table", DataTable)
        table.move_cursor(row=table.get_row_index("my-sim"))
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert "my-sim" in rows(app)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "my-sim" not in rows(app))
        assert [r.spec.name for r in await app.desk.store.list_endpoints()] == ["other"]


async def test_failures_read_as_words_and_the_desk_lives_on(
    settings: Settings, sim: SimServer
) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await add_endpoint(app.desk, "gone", sim.url)
        await wait_for(pilot, lambda: rows(app) == ["gone"])
        await sim.stop()
        app.action_pane("portfolio")
        await pilot.press("t")
        await wait_for(
            pilot, lambda: any("Unreachable" in n for n in notes(app)), what="an error toast"
        )
        text = " ".join(notes(app))
        assert "Traceback" not in text and "gone" in text
        # the chat shows the error under the prompt and gives the prompt back
        app.action_pane("terminal")
        terminal = app.query_one(TerminalPane)
        terminal.select_endpoint("gone")
        await pilot.press(*"are you there", "enter")
        await wait_for(
            pilot, lambda: "failed" in terminal.query_one(Exchange).query_one(".meta").classes
        )
        assert app.query_one("#prompt", Input).value == "are you there"
        meta = str(terminal.query_one(Exchange).query_one(".meta", Static).render())
        assert meta.startswith("error") and "Traceback" not in meta
        # bad settings are refused with a readable reason, nothing saved
        app.action_pane("portfolio")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen))
        app.screen.query_one("#f-max_requests_per_minute", Input).value = "lots"
        app.screen.action_save()
        await wait_for(pilot, lambda: any("must be a whole number" in n for n in notes(app)))
        app.screen.query_one("#f-max_requests_per_minute", Input).value = "7"
        app.screen.query_one("#f-mapping", Input).value = "fast=sim-model"
        app.screen.action_save()
        await wait_for(
            pilot, lambda: app.desk.endpoint("gone").spec.limits.max_requests_per_minute == 7
        )
        record = await app.desk.store.get_endpoint("gone")
        assert record.spec.model_mapping == {"fast": "sim-model"}


async def test_compare_sends_one_prompt_to_several(settings: Settings, sim: SimServer) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(120, 35)) as pilot:
        await opened(pilot, app)
        for name in ("left", "right"):
            await add_endpoint(app.desk, name, sim.url)
        await wait_for(pilot, lambda: len(rows(app)) == 2)
        app.action_pane("terminal")
        await pilot.press("f2")
        terminal = app.query_one(TerminalPane)
        assert terminal.compare_mode
        chooser = terminal.query_one("#compare-targets")
        chooser.select_all()  # type: ignore[attr-defined]
        terminal.query_one("#prompt").focus()
        await pilot.press(*"same question", "enter")
        await wait_for(
            pilot,
            lambda: len([e for e in terminal.query(Exchange) if e.result is not None]) == 2,
            what="two replies",
        )
        served = sorted(e.result.endpoint for e in terminal.query(Exchange) if e.result)
        assert served == ["left", "right"]
        titles = sorted(str(c.border_title) for c in terminal.query(".compare-column"))
        assert titles == ["left", "right"]


async def test_keymap_from_settings_and_help(home: Any, sim: SimServer) -> None:
    settings = load_settings(server={"port": 0}, ui={"keymap": {"portfolio.test": "x"}})
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await add_endpoint(app.desk, "mapped", sim.url)
        await wait_for(pilot, lambda: rows(app) == ["mapped"])
        app.action_pane("portfolio")
        before = app.desk.endpoint("mapped").metrics.requests
        await pilot.press("x")
        await wait_for(pilot, lambda: app.desk.endpoint("mapped").metrics.requests > before)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert any(k == "x" and bid == "portfolio.test" for k, _d, bid in app.screen.rows)
        await pilot.press("escape")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "Portfolio" in app.screen.help_text


async def test_sort_keeps_the_cursor_on_its_endpoint(settings: Settings, sim: SimServer) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        for name in ("bravo", "alpha", "charlie"):
            await add_endpoint(app.desk, name, sim.url)
        await wait_for(pilot, lambda: len(rows(app)) == 3)
        app.action_pane("portfolio")
        pane = app.query_one(PortfolioPane)
        table = app.query_one("#portfolio-table", DataTable)
        table.move_cursor(row=table.get_row_index("charlie"))
        pane.set_sort("name")
        await pilot.pause()
        assert rows(app) == ["alpha", "bravo", "charlie"]
        assert pane.selected_name() == "charlie"
        await pilot.press("r")
        assert rows(app) == ["charlie", "bravo", "alpha"]
        assert pane.selected_name() == "charlie"
        # a live update does not move the cursor away
        await app.desk.test("alpha", "hi")
        await wait_for(pilot, lambda: cell_text(app, "alpha", "req").strip() != "1")
        assert pane.selected_name() == "charlie"


async def test_server_key_starts_and_stops_v1(settings: Settings) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await pilot.press("v")
        await wait_for(pilot, lambda: app.server_url is not None, what="the /v1 server")
        url = app.server_url
        assert url is not None and url.startswith("http://127.0.0.1:")
        await wait_for(
            pilot, lambda: url.removeprefix("http://") in str(app.query_one("#ticker").render())
        )
        import aiohttp

        async with aiohttp.ClientSession() as client, client.get(url + "/health") as resp:
            assert resp.status == 200
        await pilot.press("v")
        await wait_for(pilot, lambda: app.server_url is None)
        assert "/v1 off" in str(app.query_one("#ticker").render())


async def test_closing_closes_the_engine_and_reopening_shows_the_same_desk(
    settings: Settings, sim: SimServer
) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(pilot, app)
        await add_endpoint(app.desk, "keeper", sim.url)
        await app.desk.test("keeper", "remember me")
        await wait_for(pilot, lambda: rows(app) == ["keeper"])
        await pilot.press("q")
    assert not app.desk._opened  # the engine closed: loops stopped, writes flushed

    again = DeskApp(load_settings(server={"port": 0}))
    async with again.run_test(size=(80, 24)) as pilot:
        await opened(pilot, again)
        await wait_for(pilot, lambda: rows(again) == ["keeper"], what="the same portfolio")
        await wait_for(
            pilot,
            lambda: any(e.endpoint == "keeper" and e.kind == "request" for e in again.logbook),
            what="the request history",
        )


async def test_the_desk_that_cannot_open_says_why(home: Any) -> None:
    # a folder where the database file should be: SQLite cannot open it
    settings = load_settings(store={"database_url": f"sqlite+aiosqlite:///{home}"})
    app = DeskApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(
            pilot,
            lambda: "did not open" in str(app.query_one("#portfolio-status", Static).render()),
            what="the reason",
        )
        assert not app.desk_ready
        assert "Traceback" not in " ".join(notes(app))


async def test_palette_commands_and_theme_toggle(settings: Settings, sim: SimServer) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await opened(pilot, app)
        await add_endpoint(app.desk, "shade", sim.url)
        await wait_for(pilot, lambda: rows(app) == ["shade"])
        before = cell_text(app, "shade", "state")
        dark = app.current_theme.dark
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: app.current_theme.dark != dark)
        await wait_for(pilot, lambda: rows(app) == ["shade"])
        assert cell_text(app, "shade", "state") == before  # same words, new colours
        table = app.query_one("#portfolio-table", DataTable)
        state_cell = table.get_cell("shade", "state")
        assert str(state_cell.style) == app.role_colors()["success"]
        await pilot.press("ctrl+p")
        await pilot.press(*"remove the demo")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("removed 0 demo" in n for n in notes(app)))
        assert rows(app) == ["shade"]  # a real endpoint is never touched by the demo


@pytest.mark.browser
@pytest.mark.timeout(180)
async def test_add_a_web_chat_page_through_the_discovery_pane(settings: Settings) -> None:
    from endpoint_desk.sim.chatpages import ChatPagesServer

    app = DeskApp(settings)
    async with ChatPagesServer() as pages, app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        app.action_pane("discovery")
        url = pages.url_for("textarea", delay=0.01)
        app.query_one("#d-url", Input).value = url
        app.query_one("#d-name", Input).value = "page-chat"
        pane = app.query_one(DiscoveryPane)
        pane.action_detect()
        await wait_for(pilot, lambda: pane.found is not None, timeout=150, what="web chat")
        steps = "\n".join(
            "".join(seg.text for seg in line) for line in app.query_one("#d-steps").lines
        )
        assert "headless browser" in steps
        review = str(app.query_one("#d-review", Static).render())
        assert "web_chat" in review and "confidence" in review
        pane.action_save()
        await wait_for(pilot, lambda: "page-chat" in rows(app), timeout=60, what="saved")
        record = await app.desk.store.get_endpoint("page-chat")
        assert record.spec.kind is EndpointKind.WEB_CHAT and record.spec.options
