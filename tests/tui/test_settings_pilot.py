"""Settings, ON/OFF and queues in the desk, driven like a person would: the settings
form in an endpoint's detail, the test key on an endpoint switched OFF, queued
requests on the ticker. Real engine, real sims, the stored spec as the judge."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent

from endpoint_desk.core.config import Settings
from endpoint_desk.core.models import ChatRequest, EndpointKind, EndpointSpec, EndpointState
from endpoint_desk.sim import SimConfig, SimServer
from endpoint_desk.tui.app import DeskApp
from endpoint_desk.tui.detail import DetailScreen
from endpoint_desk.tui.dialogs import ConfirmScreen
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(60)

CHAT = "POST /v1/chat/completions"


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig()) as server:
        yield server


def notes(app: DeskApp) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def open_detail(pilot: Any, app: DeskApp, name: str, tab: str) -> DetailScreen:
    app.action_pane("portfolio")
    table = app.query_one("#portfolio-table", DataTable)
    await wait_for(pilot, lambda: table.row_count >= 1, what="the portfolio")
    table.move_cursor(row=table.get_row_index(name))
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DetailScreen), what="details")
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    screen.query_one("#detail-tabs", TabbedContent).active = f"detail-{tab}"
    await pilot.pause()
    return screen


async def type_into(pilot: Any, screen: DetailScreen, field: str, text: str) -> None:
    box = screen.query_one(f"#f-{field}", Input)
    box.focus()
    box.value = ""
    if text:
        await pilot.press(*text)


async def test_the_settings_form_saves_what_was_edited_and_refuses_bad_values(
    settings: Settings, sim: SimServer
) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(110, 50)) as pilot:
        await wait_for(pilot, lambda: app.desk_ready, what="the desk")
        await app.desk.add(
            EndpointSpec(name="s", kind=EndpointKind.OPENAI, base_url=sim.url + "/v1")
        )
        screen = await open_detail(pilot, app, "s", "settings")
        rpm = screen.query_one("#f-max_requests_per_minute", Input)
        assert rpm.value == ""  # no limit unless set
        assert screen.query_one("#f-timeout_seconds", Input).value == "30"

        # edit two values and one through the KEY=VALUE line, then Save
        await type_into(pilot, screen, "timeout_seconds", "12")
        await type_into(pilot, screen, "max_concurrent_requests", "3")
        await type_into(pilot, screen, "more", "note='set from the form'")
        await pilot.click("#detail-save")
        await wait_for(
            pilot, lambda: any(n.startswith("Saved s") for n in notes(app)), what="saved"
        )
        stored = (await app.desk.store.get_endpoint("s")).spec
        assert stored.limits.timeout_seconds == 12
        assert stored.limits.max_concurrent_requests == 3
        assert stored.limits.max_requests_per_minute is None  # not edited, not touched
        assert stored.note == "set from the form"
        saved = next(n for n in notes(app) if n.startswith("Saved s"))
        assert "limits.timeout_seconds: 30.0 → 12.0" in saved
        assert screen.query_one("#f-more", Input).value == ""

        # a bad value among good ones: one line naming it, nothing stored
        await type_into(pilot, screen, "weight", "4")
        await type_into(pilot, screen, "max_requests_per_minute", "0")
        await pilot.click("#detail-save")
        await wait_for(
            pilot, lambda: any("must be at least 1" in n for n in notes(app)), what="refusal"
        )
        line = next(n for n in notes(app) if "must be at least 1" in n)
        assert "limits.max_requests_per_minute" in line and "\n" not in line
        assert (await app.desk.store.get_endpoint("s")).spec == stored
        assert app.desk.endpoint("s").spec == stored

        # Reset shows what is stored again; emptying an optional field unsets it
        await pilot.click("#detail-reset")
        assert screen.query_one("#f-weight", Input).value == "1"
        assert screen.query_one("#f-max_requests_per_minute", Input).value == ""
        await type_into(pilot, screen, "max_concurrent_requests", "")
        await pilot.click("#detail-save")
        await wait_for(
            pilot,
            lambda: app.desk.endpoint("s").spec.limits.max_concurrent_requests is None,
            what="the limit unset",
        )


async def test_the_test_key_asks_before_testing_an_endpoint_switched_off(
    settings: Settings, sim: SimServer
) -> None:
    app = DeskApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.desk_ready, what="the desk")
        spec = EndpointSpec(
            name="s", kind=EndpointKind.OPENAI, base_url=sim.url + "/v1", models=["sim-model"]
        )
        await app.desk.add(spec, prove=False, start=False)
        app.action_pane("portfolio")
        table = app.query_one("#portfolio-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1, what="the row")
        table.focus()
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="a question")
        assert "switched OFF" in str(app.screen.query_one("#confirm-question", Static).render())
        await pilot.press("n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        await pilot.pause(0.3)
        assert sim.stats.count(CHAT) == 0  # "no" sends nothing

        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="a question")
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: any(n.startswith("s answered (switched OFF)") for n in notes(app)),
            what="the answer",
        )
        assert sim.stats.count(CHAT) == 1
        view = app.desk.endpoint("s")
        assert not view.spec.enabled and view.state is EndpointState.OFF  # still OFF

        # an endpoint switched ON is tested at once, from the detail screen too
        await app.desk.start("s")
        await open_detail(pilot, app, "s", "overview")
        await pilot.press("t")
        await wait_for(pilot, lambda: sim.stats.count(CHAT) == 2, what="the second test")
        assert not isinstance(app.screen, ConfirmScreen)


async def test_queued_requests_show_on_the_ticker_and_in_the_detail(
    settings: Settings,
) -> None:
    app = DeskApp(settings)
    async with SimServer(SimConfig(latency=1.0)) as slow, app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.desk_ready, what="the desk")
        spec = EndpointSpec.model_validate(
            {
                "name": "s",
                "kind": "openai",
                "base_url": slow.url + "/v1",
                "limits": {"max_concurrent_requests": 1},
            }
        )
        await app.desk.add(spec, prove=False)
        asks = [
            asyncio.create_task(
                app.desk.chat(ChatRequest.from_text("hi", model="sim-model"), endpoint="s")
            )
            for _ in range(3)
        ]
        ticker = app.query_one("#ticker", Static)
        await wait_for(pilot, lambda: "queued 2" in str(ticker.render()), what="ticker")
        screen = await open_detail(pilot, app, "s", "overview")
        figures = screen.query_one("#detail-figures", Static)
        await wait_for(pilot, lambda: "queued" in str(figures.render()), what="detail")
        results = await asyncio.gather(*asks)
        assert [r.endpoint for r in results] == ["s", "s", "s"]
        await wait_for(pilot, lambda: "queued" not in str(ticker.render()), what="drained")
