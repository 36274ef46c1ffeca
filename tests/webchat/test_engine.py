"""A web chat endpoint through the whole engine: ``Desk.add`` proves it, ``Desk.chat``
serves it, and the desk's shutdown closes the shared Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from endpoint_desk.adapters.webchat import browser
from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import ChatMessage, ChatRequest, EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


async def test_desk_serves_a_web_chat_endpoint(desk_home: Path, pages: ChatPagesServer) -> None:
    spec = EndpointSpec(
        name="fixture-chat",
        kind="web_chat",
        base_url=pages.url_for("textarea"),
        options=pages.options_for("textarea"),
        limits={"max_concurrent_requests": 2},
    )
    async with Desk(load_settings()) as desk:
        view = await desk.add(spec)  # proves it with a real message
        assert view.state.value == "on"
        result = await desk.chat(ChatRequest.from_text("What is 19 + 23?"), endpoint=view.name)
        assert result.content == "The answer is 42."
        assert result.endpoint == "fixture-chat" and result.provider == "web_chat"
        assert result.session_id and result.session_persistent
        assert result.ttft_ms is not None and result.usage.estimated

        follow = ChatRequest(
            messages=[
                ChatMessage("user", "What is 19 + 23?"),
                ChatMessage("assistant", result.content),
                ChatMessage("user", "thanks"),
            ]
        )
        again = await desk.chat(follow, endpoint=view.name)
        assert again.content.endswith("[turn 2]")
        assert again.session_id == result.session_id
        assert pages.replies[-1].prompt == "thanks"
        assert browser.launch_count() == 1
    # the desk's shutdown closed the shared browser of this loop
    assert browser.launch_count() == 0


async def test_desk_login_command_saves_the_session(
    desk_home: Path, pages: ChatPagesServer
) -> None:
    import asyncio
    import os
    import sys

    spec = EndpointSpec(
        name="walled",
        kind="web_chat",
        base_url=pages.url_for("shadow"),
        options=pages.options_for("shadow"),
        username="env:WALLED_USER",
        password="env:WALLED_PASS",
    )
    async with Desk(load_settings(), autostart=False) as desk:
        await desk.add(spec, prove=False, start=False)
    env = {**os.environ, "WALLED_USER": "alice", "WALLED_PASS": "s3cret"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endpoint_desk",
        "login",
        "walled",
        "--headless",
        "--timeout",
        "30",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "session saved" in out.decode()
    assert "s3cret" not in out.decode() + err.decode()
    saved = desk_home / "data" / "sessions" / "walled.json"
    assert saved.is_file() and saved.stat().st_mode & 0o777 == 0o600

    # the desk now opens the walled chat with the saved session alone
    async with Desk(load_settings(), autostart=False) as desk:
        await desk.update("walled", username=None, password=None)
        result = await desk.test("walled", "What is 3 + 4?", force=True)  # added OFF
        assert result.content == "The answer is 7."
