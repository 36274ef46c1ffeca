"""The fixture chat pages' framework styles (issue 12): every style is served, its own
default knobs apply, the markdown bot formats like a model, and a browser that leaves
mid-reply ends the reply quietly (no error, the record left unfinished)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from endpoint_desk.sim.chatpages import STYLE_KNOBS, STYLES, ChatPagesServer, scripted_reply
from endpoint_desk.sim.chatstyles import options_for

pytestmark = [pytest.mark.timeout(30)]


@pytest.fixture
async def pages() -> AsyncIterator[ChatPagesServer]:
    async with ChatPagesServer(username=None, password=None) as server:
        yield server


async def test_every_style_is_served_with_its_options(pages: ChatPagesServer) -> None:
    async with aiohttp.ClientSession() as http:
        for style in STYLES:
            async with http.get(pages.url_for(style)) as resp:
                assert resp.status == 200, style
                assert "/common.js" in await resp.text(), style
            opts = options_for(style)
            assert opts["input"] and opts["assistant"], style
    with pytest.raises(ValueError, match="unknown fixture style"):
        options_for("nope")


def test_markdown_bot_answers_like_a_model() -> None:
    text = scripted_reply([{"role": "user", "content": "What is 17 + 25?"}], "markdown")
    assert text.startswith("The answer is **42**.")
    assert "\n- took 17 and 25\n" in text and "```\n17 + 25 = 42\n```" in text
    two = [{"role": "user", "content": "hi"}, {"role": "user", "content": "and again"}]
    assert "Notes for turn 2:" in scripted_reply(two, "markdown")


async def _ask(pages: ChatPagesServer, style: str, text: str) -> str:
    body = {"style": style, "messages": [{"role": "user", "content": text}], "knobs": {}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{pages.base_url}/api/reply", json=body) as resp,
    ):
        return await resp.text()


async def test_a_style_has_its_own_knobs(pages: ChatPagesServer) -> None:
    assert STYLE_KNOBS["pause"]["pause"] == 1.6
    t0 = time.perf_counter()
    text = await _ask(pages, "pause", "hello there")
    assert time.perf_counter() - t0 >= 1.6  # the pause after the first sentence
    assert text.startswith("Reply 1: I read 2 words.") and text.endswith("[turn 1]")
    assert "**" in await _ask(pages, "mui", "What is 1 + 2?")  # mui answers in markdown


async def test_a_browser_leaving_mid_reply_ends_it_quietly(pages: ChatPagesServer) -> None:
    body = {"style": "pause", "messages": [{"role": "user", "content": "hi"}], "knobs": {}}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{pages.base_url}/api/reply", json=body) as resp,
    ):
        await resp.content.readany()  # the first words, then the page goes away
    deadline = time.monotonic() + 10
    while pages.state.in_flight and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert pages.state.in_flight == 0
    assert pages.replies[-1].ended is None
