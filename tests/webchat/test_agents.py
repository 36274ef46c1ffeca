"""Agents through a web chat, end to end in real Chromium: the official ``openai``
client against the desk's ``/v1`` (the server ``desk serve`` runs) in front of fixture
chat pages. With ``tool_emulation`` the page's ``agent`` bot answers the emulation prompt
with a JSON tool call (in chatter and a code fence), then answers the tool result: a
two-step round trip, plain and streamed; a JSON ``response_format``; a reply that is no
tool call stays text. An image goes through the ``upload`` page's file input and the
page reports what it received. Without the options, such requests get a 400 naming the
missing capability."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer, start_server
from endpoint_desk.sim.chatpages import ChatPagesServer
from tests.agentkit import PNG_B64, PNG_URL, WEATHER, called

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

ENDPOINTS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # name: (style, page knobs, extra options)
    "agent": ("textarea", {"bot": "agent"}, {"tool_emulation": True}),
    "chatty": ("textarea", {}, {"tool_emulation": True}),
    "upload": ("upload", {}, {}),
    "plain": ("textarea", {}, {}),
}


@pytest.fixture
async def gateway(pages: ChatPagesServer, browser_cleanup: None) -> AsyncIterator[RunningServer]:
    """A desk with one web chat endpoint per ``ENDPOINTS`` entry (model = its name, one
    warm page each) and the gateway in front of it."""
    async with Desk(load_settings(), autostart=True) as desk:
        for name, (style, knobs, extra) in ENDPOINTS.items():
            spec = EndpointSpec(
                name=name,
                kind="web_chat",
                base_url=pages.url_for(style, delay=0.005, **knobs),
                models=[name],
                options={**pages.options_for(style), "pages": 1, **extra},
            )
            await desk.add(spec, prove=False)
        server = await start_server(desk, port=0)
        try:
            yield server
        finally:
            await server.aclose()


def client(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


async def _ask(
    c: openai.AsyncOpenAI, messages: list[Any], stream: bool, **kw: Any
) -> tuple[str, list[dict[str, str]], str | None]:
    """One chat completion, plain or streamed: its text, its tool calls (whole) and its
    finish reason."""
    if not stream:
        reply = await c.chat.completions.create(messages=messages, **kw)
        choice = reply.choices[0]
        calls = [
            {"id": t.id, "name": t.function.name, "arguments": t.function.arguments}
            for t in choice.message.tool_calls or ()
            if t.type == "function"
        ]
        return choice.message.content or "", calls, choice.finish_reason
    text, finish = "", None
    parts: dict[int, dict[str, str]] = {}
    async for chunk in await c.chat.completions.create(messages=messages, stream=True, **kw):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        text += delta.content or ""
        for frag in delta.tool_calls or ():
            part = parts.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
            part["id"] = frag.id or part["id"]
            if frag.function is not None:
                part["name"] += frag.function.name or ""
                part["arguments"] += frag.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    return text, [parts[i] for i in sorted(parts)], finish


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_tool_round_trip_through_a_web_chat(
    stream: bool, gateway: RunningServer, pages: ChatPagesServer
) -> None:
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    async with client(gateway) as c:
        text, calls, finish = await _ask(
            c, messages, stream, model="agent", tools=[WEATHER], tool_choice="auto"
        )
        assert finish == "tool_calls" and text == ""
        assert len(calls) == 1 and calls[0]["name"] == "get_weather" and calls[0]["id"]
        assert json.loads(calls[0]["arguments"]) == {"city": "Lisbon"}
        # the page was asked for a JSON tool call and answered with one in chatter
        assert "You can use these tools:" in pages.replies[-1].prompt
        assert "```json" in pages.replies[-1].reply
        call = calls[0]
        messages.append(called(call))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18 C, sunny"})
        text, calls, finish = await _ask(c, messages, stream, model="agent", tools=[WEATHER])
    assert finish == "stop" and calls == []
    assert text == "get_weather returned: 18 C, sunny."
    prompt = pages.replies[-1].prompt
    assert f"Tool result of get_weather (call {call['id']}): 18 C, sunny" in prompt
    assert 'Assistant called the tool get_weather with {"city":"Lisbon"}' in prompt


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_json_response_format_through_a_web_chat(
    stream: bool, gateway: RunningServer, pages: ChatPagesServer
) -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}}
    messages = [{"role": "user", "content": "Plan a trip"}]
    async with client(gateway) as c:
        text, _, finish = await _ask(c, messages, stream, model="agent", response_format=fmt)
        assert finish == "stop"
        assert json.loads(text) == {"city": "city", "days": 1}  # the fence and chatter cut off
        assert pages.replies[-1].reply.startswith("Here is the JSON:")
        text, _, _ = await _ask(
            c, messages, stream, model="agent", response_format={"type": "json_object"}
        )
    assert json.loads(text) == {"echo": "Plan a trip"}


async def test_a_reply_that_is_no_tool_call_is_a_text_answer(
    gateway: RunningServer, pages: ChatPagesServer
) -> None:
    """The scripted bot ignores the tool instructions: the desk answers with its text."""
    async with client(gateway) as c:
        text, calls, finish = await _ask(
            c,
            [{"role": "user", "content": "What is 19 + 23?"}],
            False,
            model="chatty",
            tools=[WEATHER],
        )
    assert (text, calls, finish) == ("The answer is 42.", [], "stop")
    assert "You can use these tools:" in pages.replies[-1].prompt


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
async def test_an_image_goes_through_the_page_file_input(
    stream: bool, gateway: RunningServer, pages: ChatPagesServer
) -> None:
    png = base64.b64decode(PNG_B64)
    content = [
        {"type": "text", "text": "What is 2 + 3?"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
    ]
    async with client(gateway) as c:
        text, _, finish = await _ask(
            c, [{"role": "user", "content": content}], stream, model="upload"
        )
        digest = hashlib.sha256(png).hexdigest()[:12]
        assert finish == "stop"
        assert text == (
            f"I received image-1.png (image/png, {len(png)} bytes, sha256 {digest}). "
            "The answer is 5."
        )
        # the next message carries no file: the input was cleared, the page is fresh
        text, _, _ = await _ask(
            c, [{"role": "user", "content": "What is 1 + 1?"}], stream, model="upload"
        )
    assert text == "The answer is 2."


async def test_without_the_options_the_capability_is_missing(gateway: RunningServer) -> None:
    async with client(gateway) as c:
        with pytest.raises(openai.BadRequestError) as err:
            await c.chat.completions.create(
                model="plain", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER]
            )
        assert "tools" in str(err.value) and "plain" in str(err.value)
        image = {"type": "image_url", "image_url": {"url": PNG_URL}}
        with pytest.raises(openai.BadRequestError) as err:
            await c.chat.completions.create(
                model="plain",
                messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}],
            )
        assert "vision" in str(err.value)
        ok = await c.chat.completions.create(
            model="plain", messages=[{"role": "user", "content": "What is 4 + 4?"}]
        )
    assert ok.choices[0].message.content == "The answer is 8."


async def test_anthropic_client_tool_round_trip_through_a_web_chat(
    gateway: RunningServer, pages: ChatPagesServer
) -> None:
    """The Anthropic front door over an emulating web chat: ``tool_use`` streamed as
    ``input_json_delta``, then the ``tool_result`` answered."""
    import anthropic

    tool = {
        "name": WEATHER["function"]["name"],  # type: ignore[index]
        "description": "The weather in a city",
        "input_schema": WEATHER["function"]["parameters"],  # type: ignore[index]
    }
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    async with anthropic.AsyncAnthropic(base_url=gateway.url, api_key="unused", max_retries=0) as c:
        async with c.messages.stream(
            model="agent",
            max_tokens=200,
            messages=messages,
            tools=[tool],  # type: ignore[list-item]
        ) as stream:
            first = await stream.get_final_message()
        assert first.stop_reason == "tool_use"
        use = next(b for b in first.content if b.type == "tool_use")
        assert use.name == "get_weather" and use.input == {"city": "Lisbon"}
        messages.append({"role": "assistant", "content": first.content})
        result = {"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}
        messages.append({"role": "user", "content": [result]})
        final = await c.messages.create(
            model="agent",
            max_tokens=200,
            messages=messages,
            tools=[tool],  # type: ignore[list-item]
        )
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == "get_weather returned: 18 C."  # type: ignore[union-attr]
    assert f"Tool result of get_weather (call {use.id}): 18 C" in pages.replies[-1].prompt
