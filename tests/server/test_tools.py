"""Agents through the desk: the official ``openai`` client runs a two-step tool round
trip (call, tool result, final answer), plain and streamed, against ``desk sim`` in each
of the four protocols; JSON schema output; an image part; capability routing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest

from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer
from tests.agentkit import PNG_URL, WEATHER, called

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
KINDS = ["openai", "anthropic", "gemini", "ollama"]


def client(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_round_trip_plain(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    async with client(server) as c:
        first = await c.chat.completions.create(
            model="sim-model", messages=messages, tools=[WEATHER]
        )
        choice = first.choices[0]
        assert choice.finish_reason == "tool_calls"
        calls = choice.message.tool_calls or []
        assert len(calls) == 1 and calls[0].function.name == "get_weather"
        assert json.loads(calls[0].function.arguments) == {"city": "Lisbon"}
        assert calls[0].id
        messages.append(choice.message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "18 C, sunny"})
        final = await c.chat.completions.create(
            model="sim-model", messages=messages, tools=[WEATHER]
        )
    assert final.choices[0].finish_reason == "stop"
    assert final.choices[0].message.content == "get_weather returned: 18 C, sunny."
    assert (final.model_extra or {})["desk"]["endpoint"] == kind


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_round_trip_streamed(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    messages: list[Any] = [{"role": "user", "content": "Weather in Kyiv?"}]
    async with client(server) as c:
        stream = await c.chat.completions.create(
            model="sim-model", messages=messages, tools=[WEATHER], stream=True
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            if not chunk.choices:
                continue
            for frag in chunk.choices[0].delta.tool_calls or ():
                call = calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
                if frag.id:
                    call["id"] = frag.id
                if frag.function and frag.function.name:
                    call["name"] += frag.function.name
                if frag.function and frag.function.arguments:
                    call["arguments"] += frag.function.arguments
            finish = chunk.choices[0].finish_reason or finish
        assert finish == "tool_calls"
        assert list(calls) == [0]
        call = calls[0]
        assert call["name"] == "get_weather" and call["id"]
        assert json.loads(call["arguments"]) == {"city": "Kyiv"}
        messages.append(called(call))
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": "snow"})
        stream = await c.chat.completions.create(
            model="sim-model", messages=messages, tools=[WEATHER], stream=True
        )
        text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
    assert text == "get_weather returned: snow."


@pytest.mark.parametrize("kind", KINDS)
async def test_json_schema_reply_is_valid_json(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    from jsonschema import validate

    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 3}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    async with client(server) as c:
        reply = await c.chat.completions.create(
            model="sim-model",
            messages=[{"role": "user", "content": "Invent a person"}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "person", "schema": schema},
            },
        )
    data = json.loads(reply.choices[0].message.content or "")
    validate(data, schema)
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("kind", KINDS)
async def test_an_image_part_reaches_the_upstream_in_its_shape(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": PNG_URL}},
    ]
    async with client(server) as c:
        reply = await c.chat.completions.create(
            model="sim-model", messages=[{"role": "user", "content": parts}]
        )
    assert reply.choices[0].message.content == "Echo: What is in this picture?"
    stats = sim.stats
    last = {
        "openai": ("POST /v1/chat/completions", lambda b: b["messages"][0]["content"][1]),
        "anthropic": ("POST /v1/messages", lambda b: b["messages"][0]["content"][1]),
        "gemini": (
            "POST /v1beta/models:generateContent",
            lambda b: b["contents"][0]["parts"][1],
        ),
        "ollama": ("POST /api/chat", lambda b: b["messages"][0]["images"][0]),
    }[kind]
    sent = last[1](stats.last[last[0]]["body"])
    data = PNG_URL.split(",", 1)[1]
    expected: Any = {
        "openai": {"type": "image_url", "image_url": {"url": PNG_URL}},
        "anthropic": {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": data},
        },
        "gemini": {"inlineData": {"mimeType": "image/png", "data": data}},
        "ollama": data,
    }[kind]
    assert sent == expected


async def test_a_request_no_endpoint_can_serve_is_400_naming_the_capability(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name="plain", models=["sim-model"], capabilities={"tools": False})
    async with client(server) as c:
        with pytest.raises(openai.BadRequestError) as err:
            await c.chat.completions.create(
                model="sim-model",
                messages=[{"role": "user", "content": "hi"}],
                tools=[WEATHER],
            )
        assert "tools" in str(err.value) and "plain" in str(err.value)
        # without tools it is served as usual
        ok = await c.chat.completions.create(
            model="sim-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert ok.choices[0].message.content == "Echo: hi"


async def test_tool_requests_go_only_where_tools_are(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name="notools", models=["sim-model"], capabilities={"tools": False}, tier=0)
    await add_sim(sim, name="tools", models=["sim-model"], tier=1)
    async with client(server) as c:
        for _ in range(3):
            reply = await c.chat.completions.create(
                model="sim-model",
                messages=[{"role": "user", "content": "weather in Rome"}],
                tools=[WEATHER],
            )
            assert (reply.model_extra or {})["desk"]["endpoint"] == "tools"
        plain = await c.chat.completions.create(
            model="sim-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert (plain.model_extra or {})["desk"]["endpoint"] == "notools"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 3}}}]},
            "tools[0].function.parameters",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "nope", "content": "y"},
                ]
            },
            "messages[1].tool_call_id",
        ),
    ],
)
async def test_bad_tool_input_is_400(
    body: dict[str, Any], param: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)
    before = sim.stats.total
    request = {"model": "sim-model", "messages": [{"role": "user", "content": "x"}], **body}
    async with client(server) as c:
        with pytest.raises(openai.BadRequestError) as err:
            await c.chat.completions.create(**request)
    assert err.value.body is not None
    assert err.value.body["param"] == param  # type: ignore[index]
    assert sim.stats.total == before  # the bad request never reached the upstream
