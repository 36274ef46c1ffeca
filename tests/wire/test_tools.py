"""Validation of tools, tool calls, response formats and image parts (core/tools.py)."""

from __future__ import annotations

from typing import Any

import pytest

from endpoint_desk.core import tools as toolkit
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import ChatRequest
from endpoint_desk.core.tools import ToolCallAssembler

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def body(**kw: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **kw}


def test_tools_are_parsed_and_needed() -> None:
    req = ChatRequest.from_openai(
        body(tools=[WEATHER], tool_choice="auto"), extra_fields=frozenset()
    )
    assert req.tools == [WEATHER]
    assert req.tool_choice == "auto"
    assert "tools" not in req.extra
    assert req.needs() == {"tools"}
    off = ChatRequest.from_openai(body(tools=[WEATHER], tool_choice="none"))
    assert off.needs() == frozenset()


@pytest.mark.parametrize(
    ("tools", "param"),
    [
        ("x", "tools"),
        ([{"type": "function"}], "tools[0].function"),
        ([{"type": "function", "function": {"name": "has space"}}], "tools[0].function.name"),
        (
            [{"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}],
            "tools[0].function.parameters",
        ),
        (
            [{"type": "function", "function": {"name": "f", "parameters": []}}],
            "tools[0].function.parameters",
        ),
        ([WEATHER, WEATHER], "tools[1].function.name"),
    ],
)
def test_bad_tools_are_400_naming_the_field(tools: Any, param: str) -> None:
    with pytest.raises(BadRequest) as err:
        ChatRequest.from_openai(body(tools=tools))
    assert err.value.param == param


def test_tool_choice_must_name_a_tool() -> None:
    with pytest.raises(BadRequest, match="not a tool"):
        ChatRequest.from_openai(
            body(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}})
        )
    with pytest.raises(BadRequest, match="required"):
        ChatRequest.from_openai(body(tool_choice="required"))


def test_tool_message_must_answer_a_call() -> None:
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    with pytest.raises(BadRequest, match="call_1") as err:
        ChatRequest.from_openai({"model": "m", "messages": messages})
    assert err.value.param == "messages[1].tool_call_id"
    ok = [
        messages[0],
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        messages[1],
    ]
    req = ChatRequest.from_openai({"model": "m", "messages": ok})
    assert req.messages[1].tool_calls is not None
    assert req.messages[2].tool_call_id == "call_1"
    assert req.messages[1].to_dict()["content"] is None


def test_tool_call_arguments_must_be_text() -> None:
    bad = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}],
    }
    with pytest.raises(BadRequest, match="arguments"):
        ChatRequest.from_openai({"model": "m", "messages": [{"role": "user", "content": "x"}, bad]})


def test_response_formats() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    req = ChatRequest.from_openai(body(response_format=fmt))
    assert req.response_format == fmt
    assert req.needs() == {"json_schema"}
    assert ChatRequest.from_openai(body(response_format={"type": "text"})).response_format is None
    with pytest.raises(BadRequest, match=r"response_format\.type"):
        ChatRequest.from_openai(body(response_format={"type": "xml"}))
    bad = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": 5}}}
    with pytest.raises(BadRequest, match="not a valid JSON schema"):
        ChatRequest.from_openai(body(response_format=bad))


def test_schema_checks_are_remembered_only_for_valid_schemas() -> None:
    """An agent sends the same tools every time: a valid schema is checked once (the
    memory is bounded); an invalid one is refused every time."""
    bad = {"type": "object", "properties": {"q": {"type": "no-such-type"}}}
    for _ in range(2):
        with pytest.raises(BadRequest, match="not a valid JSON schema"):
            toolkit.check_schema(bad, "tools[0].function.parameters")
    good = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    assert toolkit.check_schema(good, "p") is good
    same = {"required": ["q"], "properties": {"q": {"type": "string"}}, "type": "object"}
    assert toolkit.check_schema(same, "p") is same  # key order does not matter
    for i in range(toolkit._VALID_SCHEMAS_MAX + 50):
        toolkit.check_schema({"type": "object", "title": f"t{i}"}, "p")
    assert len(toolkit._VALID_SCHEMAS) == toolkit._VALID_SCHEMAS_MAX
    with pytest.raises(BadRequest, match="not a valid JSON schema"):
        toolkit.check_schema(bad, "p")


def test_images_need_vision_and_a_usable_url() -> None:
    parts = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    req = ChatRequest.from_openai({"model": "m", "messages": [{"role": "user", "content": parts}]})
    assert req.needs() == {"vision"}
    assert req.messages[0].images == ["data:image/png;base64,iVBORw0KGgo="]
    bad = [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}]
    with pytest.raises(BadRequest, match="image_url"):
        ChatRequest.from_openai({"model": "m", "messages": [{"role": "user", "content": bad}]})


def test_assembler_joins_fragments() -> None:
    acc = ToolCallAssembler()
    acc.feed(
        [{"index": 0, "id": "a", "type": "function", "function": {"name": "f", "arguments": ""}}]
    )
    acc.feed([{"index": 0, "function": {"arguments": '{"x"'}}])
    acc.feed([{"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}}])
    acc.feed([{"index": 0, "function": {"arguments": ": 1}"}}])
    assert acc.calls() == [
        {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
        {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
    ]
