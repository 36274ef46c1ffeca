"""The Anthropic front door judged by the official ``anthropic`` client against a real
gateway: plain and streamed replies, a two-step tool round trip and an image block over
an OpenAI-style and a Gemini-style position (a real ``desk sim`` behind each),
``count_tokens``, keys as ``x-api-key`` or bearer, failover, and the request log and
metrics counting ``/v1/messages`` like ``/v1/chat/completions``."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer, start_server
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
KINDS = ["openai", "gemini"]
MODEL = "claude-sonnet-4-5"
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
PNG = (  # a 1x1 PNG, base64
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
KEY = "desk-test-key-0123456789"


def client(server: RunningServer, **kw: Any) -> anthropic.AsyncAnthropic:
    kw.setdefault("api_key", "unused")
    return anthropic.AsyncAnthropic(base_url=server.url, max_retries=0, **kw)


async def add_position(add_sim: AddSim, sim: SimServer, kind: str, name: str | None = None) -> str:
    """A position of ``kind`` over ``sim`` that serves Claude's model name by mapping."""
    return await add_sim(
        sim, name=name or kind, kind=kind, models=["sim-model"], model_mapping={MODEL: "sim-model"}
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_plain(kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer) -> None:
    await add_position(add_sim, sim, kind)
    async with client(server) as c:
        raw = await c.messages.with_raw_response.create(
            model=MODEL,
            max_tokens=100,
            system="You are terse.",
            messages=[{"role": "user", "content": "Hello there"}],
        )
        reply = await raw.parse()
    assert raw.headers["x-desk-endpoint"] == kind
    assert float(raw.headers["x-desk-overhead-ms"]) >= 0
    assert reply.type == "message" and reply.role == "assistant"
    assert reply.model == MODEL  # the asked name, not the upstream's
    assert reply.id.startswith("msg_")
    assert [b.type for b in reply.content] == ["text"]
    assert reply.content[0].text == "Echo: Hello there"  # type: ignore[union-attr]
    assert reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert (reply.model_extra or {})["desk"]["endpoint"] == kind


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_helper(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, kind)
    sim.config.update({"chunks": 5, "chunk_delay": 0.03})  # pieces in separate reads
    async with (
        client(server) as c,
        c.messages.stream(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": "one two three four five"}],
        ) as stream,
    ):
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1, "the reply arrived in pieces"
    assert "".join(pieces) == "Echo: one two three four five"
    assert final.model == MODEL
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == "Echo: one two three four five"  # type: ignore[union-attr]
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_create_stream_events(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, kind)
    async with client(server) as c:
        events = [
            e
            async for e in await c.messages.create(
                model=MODEL,
                max_tokens=100,
                messages=[{"role": "user", "content": "Stream me"}],
                stream=True,
            )
        ]
    names = [e.type for e in events]
    assert names[0] == "message_start" and names[-1] == "message_stop"
    assert names[1] == "content_block_start" and names[-3:-1] == [
        "content_block_stop",
        "message_delta",
    ]
    text = "".join(
        e.delta.text
        for e in events
        if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "Echo: Stream me"
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.model == MODEL
    assert delta.type == "message_delta" and delta.delta.stop_reason == "end_turn"
    assert delta.usage.output_tokens > 0 and (delta.usage.input_tokens or 0) > 0


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_round_trip_plain(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, kind)
    messages: list[Any] = [{"role": "user", "content": "What is the weather in Lisbon?"}]
    async with client(server) as c:
        first = await c.messages.create(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER]
        )
        assert first.stop_reason == "tool_use"
        uses = [b for b in first.content if b.type == "tool_use"]
        assert len(uses) == 1
        use = uses[0]
        assert use.name == "get_weather" and use.input == {"city": "Lisbon"} and use.id
        messages.append({"role": "assistant", "content": first.content})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}],
            }
        )
        final = await c.messages.create(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER]
        )
    assert final.stop_reason == "end_turn"
    assert final.content[0].text == "get_weather returned: 18 C."  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_round_trip_streamed(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, kind)
    messages: list[Any] = [{"role": "user", "content": "Weather in Kyiv?"}]
    async with client(server) as c:
        async with c.messages.stream(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER]
        ) as stream:
            partial = [e async for e in stream if e.type == "input_json"]
            first = await stream.get_final_message()
        assert partial, "the tool input arrived as input_json_delta events"
        assert first.stop_reason == "tool_use"
        use = next(b for b in first.content if b.type == "tool_use")
        assert use.name == "get_weather" and use.input == {"city": "Kyiv"} and use.id
        messages.append({"role": "assistant", "content": first.content})
        messages.append(
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "content": [{"type": "text", "text": "snow"}],
                    }
                ],
            }
        )
        async with c.messages.stream(
            model=MODEL, max_tokens=200, messages=messages, tools=[WEATHER]
        ) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "get_weather returned: snow."
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("kind", KINDS)
async def test_an_image_block_reaches_the_upstream(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, kind)
    content: Any = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]
    async with client(server) as c:
        reply = await c.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
        )
    assert reply.content[0].text == "Echo: What is in this picture?"  # type: ignore[union-attr]
    if kind == "openai":
        body = sim.stats.last["POST /v1/chat/completions"]["body"]
        sent = body["messages"][0]["content"][1]
        assert sent == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}}
    else:
        body = sim.stats.last["POST /v1beta/models:generateContent"]["body"]
        sent = body["contents"][0]["parts"][1]
        assert sent == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert base64.b64decode(PNG).startswith(b"\x89PNG")


async def test_count_tokens_is_an_estimate_marked_as_one(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_position(add_sim, sim, "openai")
    before = sim.stats.total
    short: Any = [{"role": "user", "content": "Hello"}]
    long: Any = [{"role": "user", "content": "Hello " * 400}]
    async with client(server) as c:
        raw = await c.messages.with_raw_response.count_tokens(model=MODEL, messages=short)
        small = await raw.parse()
        big = await c.messages.count_tokens(model=MODEL, messages=long, system="Be brief.")
        tooled = await c.messages.count_tokens(model=MODEL, messages=short, tools=[WEATHER])
        image: Any = [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    }
                ],
            }
        ]
        pictured = await c.messages.count_tokens(model=MODEL, messages=image)
        with pytest.raises(anthropic.BadRequestError):
            await c.messages.count_tokens(
                model=MODEL, messages=short, tools=[{"name": "f", "input_schema": {"type": 3}}]
            )
    assert raw.headers["x-desk-estimated"] == "true"
    assert (small.model_extra or {})["estimated"] is True
    assert 1 <= small.input_tokens < big.input_tokens
    assert 2400 // 4 <= big.input_tokens <= 2400 // 3
    assert tooled.input_tokens > small.input_tokens
    assert pictured.input_tokens >= 1000
    assert sim.stats.total == before, "counting tokens asks no upstream"


async def test_x_api_key_and_bearer_are_both_accepted(
    sim: SimServer, add_sim: AddSim, desk: Desk, http: aiohttp.ClientSession
) -> None:
    await add_position(add_sim, sim, "openai")
    srv = await start_server(desk, port=0, api_key=KEY)
    messages: Any = [{"role": "user", "content": "hello"}]
    try:
        async with client(srv, api_key=KEY) as by_header:
            reply = await by_header.messages.create(model=MODEL, max_tokens=10, messages=messages)
            assert reply.content[0].text == "Echo: hello"  # type: ignore[union-attr]
        async with anthropic.AsyncAnthropic(
            base_url=srv.url, auth_token=KEY, max_retries=0
        ) as by_bearer:
            reply = await by_bearer.messages.create(model=MODEL, max_tokens=10, messages=messages)
            assert reply.content[0].text == "Echo: hello"  # type: ignore[union-attr]
            counted = await by_bearer.messages.count_tokens(model=MODEL, messages=messages)
            assert counted.input_tokens >= 1
        before = sim.stats.total
        async with client(srv, api_key="desk-wrong-key-000000") as wrong:
            with pytest.raises(anthropic.AuthenticationError) as info:
                await wrong.messages.create(model=MODEL, max_tokens=10, messages=messages)
            with pytest.raises(anthropic.AuthenticationError):
                await wrong.messages.count_tokens(model=MODEL, messages=messages)
        assert sim.stats.total == before
        body = info.value.body
        assert body == {
            "type": "error",
            "error": {"type": "authentication_error", "message": body["error"]["message"]},  # type: ignore[index]
        }
        assert "x-api-key" in info.value.message
        # no key at all; and the x-api-key header opens the OpenAI door too
        async with http.post(srv.url + "/v1/messages", json={}) as resp:
            assert resp.status == 401
            text = await resp.text()
            assert json.loads(text)["error"]["type"] == "authentication_error"
            assert KEY not in text
        chat = {"model": MODEL, "messages": messages}
        async with http.post(
            srv.url + "/v1/chat/completions", json=chat, headers={"x-api-key": KEY}
        ) as resp:
            assert resp.status == 200
    finally:
        await srv.aclose()


async def test_x_api_key_follows_the_admin_key_on_api(
    desk: Desk, http: aiohttp.ClientSession
) -> None:
    admin = "desk-admin-key-9876543210"
    srv = await start_server(desk, port=0, api_key=KEY, admin_key=admin)
    try:
        for key, status in ((KEY, 401), (admin, 200), ("desk-wrong-key-000000", 401)):
            async with http.get(srv.url + "/api/endpoints", headers={"x-api-key": key}) as resp:
                assert resp.status == status, key
        async with http.get(srv.url + "/v1/models", headers={"x-api-key": KEY}) as resp:
            assert resp.status == 200
    finally:
        await srv.aclose()


async def test_failover_is_invisible(add_sim: AddSim, server: RunningServer) -> None:
    async with SimServer(SimConfig(fail_rate=1.0, fail_status=500)) as bad, SimServer() as good:
        await add_sim(
            bad, name="bad", models=["sim-model"], model_mapping={MODEL: "sim-model"}, prove=False
        )
        await add_sim(
            good,
            name="good",
            kind="gemini",
            models=["sim-model"],
            model_mapping={MODEL: "sim-model"},
            tier=1,
        )
        async with client(server) as c:
            for stream in (False, True):
                raw = await c.messages.with_raw_response.create(
                    model=MODEL,
                    max_tokens=50,
                    messages=[{"role": "user", "content": "still there?"}],
                    stream=stream,
                )
                assert raw.headers["x-desk-endpoint"] == "good"
                if stream:
                    text = "".join(
                        [
                            e.delta.text
                            async for e in await raw.parse()
                            if e.type == "content_block_delta" and e.delta.type == "text_delta"
                        ]
                    )
                else:
                    text = (await raw.parse()).content[0].text  # type: ignore[union-attr]
                assert text == "Echo: still there?"
        assert bad.stats.total >= 2


async def test_request_log_and_metrics_count_messages_like_chat(
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim, models=["sim-model"], model_mapping={MODEL: "sim-model"}, prove=False)
    messages: Any = [{"role": "user", "content": "count me"}]
    async with client(server) as c:
        await c.messages.create(model=MODEL, max_tokens=20, messages=messages)
        async with c.messages.stream(model=MODEL, max_tokens=20, messages=messages) as stream:
            await stream.get_final_message()
    chat = {"model": MODEL, "messages": messages}
    async with http.post(server.url + "/v1/chat/completions", json=chat) as resp:
        assert resp.status == 200

    async def logged() -> list[Any]:
        while True:
            rows = await desk.recent_requests("sim")
            if len(rows) >= 3:
                return rows
            await asyncio.sleep(0.05)

    rows = await asyncio.wait_for(logged(), timeout=10)
    assert len(rows) == 3
    assert all(r.ok and r.model == "sim-model" and r.output_tokens > 0 for r in rows), rows
    assert sorted(r.stream for r in rows) == [False, False, True]
    assert desk.endpoint("sim").metrics.requests == 3
    async with http.get(server.url + "/metrics") as resp:
        text = await resp.text()
    assert 'desk_requests_total{endpoint="sim"} 3.0' in text
