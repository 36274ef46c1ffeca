"""Tool calls through a ``template`` endpoint: any REST API that calls tools, by
configured paths (``{{tools}}`` in the body, ``tool_calls`` path in the answer)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from endpoint_desk.core.models import EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer

pytestmark = pytest.mark.timeout(60)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
async def agent_api() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A custom agent API: ``POST /agent {"history", "functions"}`` answers
    ``{"out": {"say": ..., "calls": [{"name", "args"}]}}`` (its own shape)."""
    seen: list[dict[str, Any]] = []

    async def agent(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        history = body["history"]
        if history[-1]["role"] == "tool":
            say = f"It is {history[-1]['content']} (call {history[-1]['tool_call_id']})"
            return web.json_response({"out": {"say": say, "calls": []}})
        if body.get("functions"):
            name = body["functions"][0]["function"]["name"]
            call = {"name": name, "args": {"city": "Oslo"}, "id": "c-1"}
            return web.json_response({"out": {"say": None, "calls": [call]}})
        return web.json_response({"out": {"say": "no tools", "calls": []}})

    app = web.Application()
    app.router.add_post("/agent", agent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


async def test_template_tool_round_trip(
    agent_api: tuple[str, list[dict[str, Any]]], desk: Desk, server: RunningServer
) -> None:
    url, seen = agent_api
    template = {
        "url": "/agent",
        "body": {"history": "{{messages}}", "functions": "{{tools}}"},
        "response": "out.say",
        "tool_calls": "out.calls",
    }
    spec = EndpointSpec(
        name="agent",
        kind="template",
        base_url=url,
        models=["agent-1"],
        options={"template": template},
    )
    await desk.add(spec, prove=False)
    assert "tools" in desk.endpoint("agent").capabilities
    messages: list[Any] = [{"role": "user", "content": "weather?"}]
    async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x") as client:
        first = await client.chat.completions.create(
            model="agent-1", messages=messages, tools=[WEATHER]
        )
        call = (first.choices[0].message.tool_calls or [])[0]
        assert first.choices[0].finish_reason == "tool_calls"
        assert (call.id, call.function.name) == ("c-1", "get_weather")
        assert json.loads(call.function.arguments) == {"city": "Oslo"}
        assert seen[-1]["functions"] == [WEATHER]
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "c-1", "content": "cold"},
        ]
        final = await client.chat.completions.create(
            model="agent-1", messages=messages, tools=[WEATHER]
        )
    assert final.choices[0].message.content == "It is cold (call c-1)"
    assert seen[-1]["history"][1]["tool_calls"][0]["id"] == "c-1"


async def test_a_template_without_tool_paths_is_not_offered_tools(
    agent_api: tuple[str, list[dict[str, Any]]], desk: Desk, server: RunningServer
) -> None:
    url, _ = agent_api
    template = {"url": "/agent", "body": {"history": "{{messages}}"}, "response": "out.say"}
    spec = EndpointSpec(
        name="plain", kind="template", base_url=url, models=["agent-1"],
        options={"template": template},
    )  # fmt: skip
    await desk.add(spec, prove=False)
    assert "tools" not in desk.endpoint("plain").capabilities
    async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x") as client:
        with pytest.raises(openai.BadRequestError, match="tools"):
            await client.chat.completions.create(
                model="agent-1", messages=[{"role": "user", "content": "x"}], tools=[WEATHER]
            )
