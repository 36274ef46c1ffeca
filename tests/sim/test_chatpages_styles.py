"""The fixture chat pages' framework styles (issue 12): every style is served, its own
default knobs apply, the markdown bot formats like a model, and a browser that leaves
mid-reply ends the reply quietly (no error, the record left unfinished)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import orjson
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


def test_agent_bot_follows_the_tool_emulation_prompt() -> None:
    """The ``agent`` bot reads a tool emulation prompt as a model would: a fenced JSON
    tool call (the forced tool when one is forced), then an answer from the result."""
    tools = (
        "You can use these tools:\n"
        '- get_weather: The weather. Arguments (JSON schema): {"type":"object",'
        '"properties":{"city":{"type":"string"}}}\n'
        '- get_time. Arguments (JSON schema): {"type":"object","properties":'
        '{"zone":{"type":"string","enum":["UTC","CET"]}}}\n'
    )
    ask = [{"role": "user", "content": f"User: Weather in Oslo?\n\n{tools}"}]
    reply = scripted_reply(ask, "agent")
    assert reply.startswith("I will use a tool for that.\n```json\n")
    call = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert orjson.loads(reply.split("\n")[2]) == {"tool_calls": [call]}
    forced = f"User: Time?\n\n{tools}You must call the tool get_time now."
    reply = scripted_reply([{"role": "user", "content": forced}], "agent")
    assert '"name":"get_time","arguments":{"zone":"UTC"}' in reply
    done = (
        "User: Weather in Oslo?\n\nAssistant called the tool get_weather with {}.\n\n"
        f"Tool result of get_weather (call c1): 3 C, snow\n\n{tools}"
    )
    assert scripted_reply([{"role": "user", "content": done}], "agent") == (
        "get_weather returned: 3 C, snow."
    )
    # a later question after the result is a new turn: a new call
    again = f"{done}\n\nUser: And in Rome?\n\n{tools}"
    assert '"city":"Rome"' in scripted_reply([{"role": "user", "content": again}], "agent")
    # no tools and no JSON asked for: the scripted bot answers
    assert scripted_reply([{"role": "user", "content": "What is 2 + 2?"}], "agent") == (
        "The answer is 4."
    )


def test_upload_bot_notes_the_files_the_message_carried() -> None:
    files = [{"name": "a.png", "type": "image/png", "size": 68, "sha256": "0123456789abcdef"}]
    reply = scripted_reply([{"role": "user", "content": "What is 1 + 2?", "files": files}])
    assert reply == "I received a.png (image/png, 68 bytes, sha256 0123456789ab). The answer is 3."
    assert options_for("upload")["file_input"] == "#file"
