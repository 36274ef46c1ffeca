"""The discovery pane over the engine's add flow: a save whose proof fails leaves no
secret and no endpoint (also a web chat's login), Save then tries again, and a plan
that is never saved takes its secrets with it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Input

from endpoint_desk.core.config import Settings
from endpoint_desk.core.errors import AuthFailed
from endpoint_desk.core.paths import get_paths
from endpoint_desk.sim import SimConfig, SimServer
from endpoint_desk.store.secrets import SecretStore
from endpoint_desk.tui.app import DeskApp
from endpoint_desk.tui.discovery import DiscoveryPane
from tests.secretkit import secrets_left
from tests.tui.conftest import wait_for

pytestmark = pytest.mark.timeout(90)

KEY = "sk-tui-secret-key-0123456789"


def steps(app: DeskApp) -> str:
    return "\n".join("".join(seg.text for seg in line) for line in app.query_one("#d-steps").lines)


async def detect(pilot: Any, app: DeskApp, url: str, name: str, **boxes: str) -> DiscoveryPane:
    await wait_for(pilot, lambda: app.desk_ready, what="the desk to open")
    app.action_pane("discovery")
    app.query_one("#d-url", Input).value = url
    app.query_one("#d-name", Input).value = name
    for box, value in boxes.items():
        app.query_one(f"#d-{box}", Input).value = value
    pane = app.query_one(DiscoveryPane)
    pane.action_detect()
    return pane


async def test_a_failed_proof_keeps_no_secret_and_save_tries_again(settings: Settings) -> None:
    app = DeskApp(settings)
    async with SimServer(SimConfig(api_key=KEY)) as sim, app.run_test(size=(100, 30)) as pilot:
        pane = await detect(pilot, app, sim.url, "keyed", key=KEY)
        await wait_for(pilot, lambda: pane.found is not None, what="detection")
        assert pane.found is not None
        ref = pane.found.spec.api_key
        assert ref is not None and app.desk.secrets.resolve(ref) == KEY
        # the upstream's key changes between the review and the save: the proof fails
        sim.config.update({"api_key": "sk-rotated-0000000000000"})
        pane.action_save()
        await wait_for(pilot, lambda: "nothing was saved" in steps(app), what="the failure")
        assert "Authentication failed" in steps(app) and KEY not in steps(app)
        assert not secrets_left(app.desk.secrets, [ref])
        assert app.desk.endpoints() == [] and await app.desk.store.list_endpoints() == []
        # Save again (the upstream is right again): planned anew, proved, saved
        sim.config.update({"api_key": KEY})
        pane.action_save()
        await wait_for(pilot, lambda: "keyed" in {v.name for v in app.desk.endpoints()})
        saved = app.desk.endpoint("keyed").spec.api_key
        assert saved is not None and app.desk.secrets.resolve(saved) == KEY


async def test_a_plan_left_unsaved_takes_its_secret_with_it(settings: Settings) -> None:
    app = DeskApp(settings)
    async with SimServer(SimConfig(api_key=KEY)) as sim:
        async with app.run_test(size=(100, 30)) as pilot:
            pane = await detect(pilot, app, sim.url, "left", key=KEY)
            await wait_for(pilot, lambda: pane.found is not None, what="detection")
            assert pane.found is not None
            first = pane.found.spec.api_key
            assert first is not None and app.desk.secrets.resolve(first) == KEY
            # detecting again under another name drops the first plan's secret
            pane.query_one("#d-name", Input).value = "right"
            pane.action_detect()
            await wait_for(pilot, lambda: pane.found and pane.found.spec.name == "right")
            assert not secrets_left(app.desk.secrets, [first])
            second = pane.found.spec.api_key
            assert second is not None
        # the app closed with the plan still under review
        secrets = SecretStore(get_paths())
        with pytest.raises(AuthFailed):
            secrets.resolve(second)


@pytest.mark.browser
@pytest.mark.timeout(240)
async def test_a_web_chat_login_is_rolled_back_when_the_save_fails(settings: Settings) -> None:
    from endpoint_desk.sim.chatpages import ChatPagesServer

    app = DeskApp(settings)
    pages = await ChatPagesServer(username="alice", password="s3cret").start()
    try:
        async with app.run_test(size=(100, 40)) as pilot:
            url = pages.url_for("shadow", delay=0.01)
            pane = await detect(pilot, app, url, "walled", user="alice", **{"pass": "s3cret"})
            await wait_for(pilot, lambda: pane.found is not None, timeout=180, what="web chat")
            assert pane.found is not None
            spec = pane.found.spec
            refs = [spec.username or "", spec.password or ""]
            assert app.desk.secrets.resolve(refs[1]) == "s3cret"
            await pages.close()  # the page is gone before the save: the proof fails
            pane.action_save()
            await wait_for(
                pilot, lambda: "nothing was saved" in steps(app), timeout=90, what="failure"
            )
            assert not secrets_left(app.desk.secrets, refs), (
                "the login's secrets are rolled back too"
            )
            assert app.desk.endpoints() == [] and await app.desk.store.list_endpoints() == []
    finally:
        await pages.close()
