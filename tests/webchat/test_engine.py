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
