"""Every error of the Anthropic front door in Anthropic's shape
(``{"type": "error", "error": {"type", "message"}}``) with the right status, and bad
input refused before any upstream is asked."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimConfig, SimServer

from .test_anthropic_client import PNG
from .test_errors import _post

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
MODEL = "claude-sonnet-4-5"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"server": {"max_body_bytes": 4096}}


def client(server: RunningServer) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=server.url, api_key="unused", max_retries=0)


def _anthropic_error(body: Any, etype: str) -> str:
    """The message of an error in Anthropic's shape (and nothing else in the body)."""
    assert set(body) == {"type", "error"}, body
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == etype, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message.strip()
    return str(message)


def _tool_result_without_use() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "text", "text": "let me see"}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_nope", "content": "x"}],
        },
    ]


def _image(source: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "image", "source": source}]}]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model": None}, "model"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0]"),
        ({"temperature": 3}, "temperature"),
        ({"tools": [{"name": "f", "input_schema": {"type": 3}}]}, "tools[0].input_schema"),
        ({"tools": [{"name": "bad name!", "input_schema": {"type": "object"}}]}, "tools[0].name"),
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice.type"),
        ({"messages": _tool_result_without_use()}, "messages[2].content[0].tool_use_id"),
        (
            {"messages": _image({"type": "base64", "media_type": "image/png", "data": "%%%"})},
            "messages[0].content[0].source.data",
        ),
        (
            {"messages": _image({"type": "base64", "media_type": "text/html", "data": PNG})},
            "messages[0].content[0].source.media_type",
        ),
        (
            {"messages": _image({"type": "url", "url": "file:///etc/passwd"})},
            "messages[0].content[0].source.url",
        ),
        ({"messages": _image({"type": "file", "file_id": "f"})}, "messages[0].content[0].source"),
    ],
)
async def test_bad_input_is_400_naming_the_field_and_reaches_no_upstream(
    fields: dict[str, Any],
    named: str,
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim, models=["sim-model"], model_mapping={MODEL: "sim-model"}, prove=False)
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 50, "messages": USER, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    for stream in (False, True):
        status, _, answer = await _post(
            http, server.url + "/v1/messages", json={**body, "stream": stream}
        )
        assert status == 400
        assert named in _anthropic_error(answer, "invalid_request_error")
    if "model" in body and "max_tokens" in body:  # what the official client can send
        core = ("model", "max_tokens", "messages")
        rest = {k: v for k, v in body.items() if k not in core}
        async with client(server) as c:
            with pytest.raises(anthropic.BadRequestError) as info:
                await c.messages.create(**{k: body[k] for k in core}, extra_body=rest)
        assert named in _anthropic_error(info.value.body, "invalid_request_error")
    assert sim.stats.total == 0, "nothing reached the upstream"
    assert desk.totals.requests == 0, "a refused request was counted"


async def test_malformed_json_and_empty_body(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    for data in (b'{"model": "x", "messages": [', b"", b"[1, 2]"):
        for path in ("/v1/messages", "/v1/messages/count_tokens"):
            status, _, body = await _post(
                http, server.url + path, data, headers={"Content-Type": "application/json"}
            )
            assert status == 400
            _anthropic_error(body, "invalid_request_error")


async def test_unknown_model_is_404(sim: SimServer, add_sim: AddSim, server: RunningServer) -> None:
    await add_sim(sim)
    async with client(server) as c:
        for stream in (False, True):
            with pytest.raises(anthropic.NotFoundError) as info:
                await c.messages.create(
                    model="claude-nobody-serves", max_tokens=5, messages=USER, stream=stream
                )
            assert "claude-nobody-serves" in _anthropic_error(info.value.body, "not_found_error")


async def test_no_endpoint_available_is_503_with_retry_after(
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim)
    await desk.stop("sim")
    for stream in (False, True):
        status, headers, body = await _post(
            http,
            server.url + "/v1/messages",
            json={"model": "sim-model", "max_tokens": 5, "messages": USER, "stream": stream},
        )
        assert status == 503
        assert int(headers["Retry-After"]) >= 1
        _anthropic_error(body, "overloaded_error")


async def test_upstream_failure_is_502_and_timeout_504(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, limits={"retry_attempts": 0, "timeout_seconds": 1})
    sim.config.update({"fail_rate": 1.0, "fail_status": 500})
    async with client(server) as c:
        for stream in (False, True):
            with pytest.raises(anthropic.InternalServerError) as info:
                await c.messages.create(
                    model="sim-model", max_tokens=5, messages=USER, stream=stream
                )
            assert info.value.status_code == 502
            assert info.value.response.headers["x-desk-endpoint"] == "sim"
            _anthropic_error(info.value.body, "api_error")
        sim.config.update({"fail_rate": 0.0, "hang": True})
        with pytest.raises(anthropic.InternalServerError) as info:
            await c.messages.create(model="sim-model", max_tokens=5, messages=USER)
        assert info.value.status_code == 504
        _anthropic_error(info.value.body, "api_error")


async def test_upstream_429_is_429_with_retry_after(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, limits={"retry_attempts": 0})
    sim.config.update({"rate_limit": 7})
    async with client(server) as c:
        with pytest.raises(anthropic.RateLimitError) as info:
            await c.messages.create(model="sim-model", max_tokens=5, messages=USER)
    assert info.value.status_code == 429
    assert 1 <= int(info.value.response.headers["Retry-After"]) <= 7
    _anthropic_error(info.value.body, "rate_limit_error")


async def test_body_over_the_limit_is_413(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    big = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 9000}]}
    for path in ("/v1/messages", "/v1/messages/count_tokens"):
        status, _, body = await _post(http, server.url + path, json=big)
        assert status == 413
        _anthropic_error(body, "request_too_large")


async def test_unknown_route_and_method_keep_the_shape(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(server.url + "/v1/messages/batches", json={}) as resp:
        assert resp.status == 404
        _anthropic_error(await resp.json(), "not_found_error")
    async with http.get(server.url + "/v1/messages") as resp:
        assert resp.status == 405
        _anthropic_error(await resp.json(), "invalid_request_error")
    async with http.get(server.url + "/v1/messagesX") as resp:  # not the Anthropic door
        assert resp.status == 404
        assert set((await resp.json())["error"]) == {"message", "type", "param", "code"}


async def test_error_after_the_stream_started_is_an_error_event(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)
    seen: list[str] = []
    async with client(server) as c:
        stream = await c.messages.create(
            model="sim/sim-model@truncate,chunks=6",
            max_tokens=50,
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
        )
        with pytest.raises(anthropic.APIStatusError) as info:
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    seen.append(event.delta.text)
    assert seen, "content arrived before the upstream broke"
    assert _anthropic_error(info.value.body, "api_error")
    assert "sim" in info.value.message


async def test_client_disconnect_mid_stream_cancels_the_upstream(
    add_sim: AddSim, desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with SimServer(SimConfig(chunks=40, chunk_delay=0.25)) as slow:
        await add_sim(slow, name="slow")
        slow.reset()
        resp = await http.post(
            server.url + "/v1/messages",
            json={"model": "sim-model", "max_tokens": 100, "messages": USER, "stream": True},
        )
        assert resp.status == 200
        first = await resp.content.readline()
        assert first == b"event: message_start\n"
        assert slow.stats.in_flight == 1
        resp.close()  # the client goes away ~10 s before the reply would end

        async def settled() -> None:
            while slow.stats.in_flight or desk.endpoint("slow").metrics.in_flight:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(settled(), timeout=5)
