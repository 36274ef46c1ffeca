"""Tool calls and JSON replies for web chats by prompt (adapters/webchat/emulation.py):
what the page is asked, and how its reply is read (never a crash)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from endpoint_desk.adapters.webchat.emulation import (
    emulated,
    extract_json,
    prompt_for,
    read_tool_calls,
)
from endpoint_desk.core.models import ChatMessage, ChatRequest

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def ask(text: str = "Weather in Oslo?", **kw: object) -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], tools=[WEATHER], **kw)  # type: ignore[arg-type]


def test_the_prompt_describes_the_tools_and_the_reply_shape() -> None:
    prompt = prompt_for(ask())
    assert prompt.startswith("User: Weather in Oslo?")
    assert "- get_weather: The weather in a city." in prompt
    assert '"properties":{"city":{"type":"string"}}' in prompt
    assert '{"tool_calls": [{"name": "<tool name>"' in prompt
    forced = prompt_for(ask(tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    assert "You must call the tool get_weather now." in forced


def test_earlier_calls_and_results_are_written_out() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    request = ChatRequest(
        messages=[
            ChatMessage("user", "Weather?"),
            ChatMessage("assistant", "", tool_calls=[call]),
            ChatMessage("tool", "sunny", tool_call_id="c1"),
        ],
        tools=[WEATHER],
    )
    assert emulated(request)
    prompt = prompt_for(request)
    assert "Assistant called the tool get_weather with {}." in prompt
    assert "Tool result of get_weather (call c1): sunny" in prompt


@pytest.mark.parametrize(
    "reply",
    [
        '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}',
        'Sure!\n```json\n{"tool_calls":[{"name":"get_weather","arguments":{"city":"Oslo"}}]}\n```',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Oslo\\"}"}',
        '{"tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]}',
    ],
)
def test_tool_call_replies_are_read(reply: str) -> None:
    calls = read_tool_calls(reply, ask())
    assert calls is not None and len(calls) == 1
    assert calls[0]["function"]["name"] == "get_weather"
    assert orjson.loads(calls[0]["function"]["arguments"]) == {"city": "Oslo"}
    assert calls[0]["id"].startswith("call_")


@pytest.mark.parametrize(
    "reply",
    [
        "It is sunny in Oslo.",
        '{"tool_calls": [{"name": "launch_rockets", "arguments": {}}]}',
        '{"tool_calls": "get_weather"}',
        "{not json at all",
        '{"answer": 42}',
    ],
)
def test_other_replies_are_text(reply: str) -> None:
    assert read_tool_calls(reply, ask()) is None


@given(st.text(max_size=300))
def test_no_reply_can_crash_the_reader(reply: str) -> None:
    calls = read_tool_calls(reply, ask())
    assert calls is None or all(c["function"]["name"] == "get_weather" for c in calls)
    extract_json(reply)


def test_json_is_cut_out_of_chatter() -> None:
    assert extract_json('Here you go: {"n": 1} hope it helps') == {"n": 1}
    assert extract_json("```json\n[1, 2]\n```") == [1, 2]
    assert extract_json("no json") is None
