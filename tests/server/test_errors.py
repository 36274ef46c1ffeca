"""Every error the gateway answers, in OpenAI's shape with the right status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import openai
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer, start_server
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
MESSAGES = [{"role": "user", "content": "hello"}]


async def _post(
    http: aiohttp.ClientSession, url: str, data: bytes | None = None, **kw: Any
) -> tuple[int, dict[str, Any], Any]:
    async with http.post(url, data=data, **kw) as resp:
        return resp.status, dict(resp.headers), await resp.json(content_type=None)


def _assert_openai_error(body: Any, code: str | None = None) -> dict[str, Any]:
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"]
    if code is not None:
        assert err["code"] == code
    return err  # type: ignore[no-any-return]


async def test_malformed_json_is_400(
    sim: SimServer, add_sim: AddSim, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    await add_sim(sim)
    status, _, body = await _post(
        http,
        server.url + "/v1/chat/completions",
        b'{"model": "sim-model", "messages": [',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    _assert_openai_error(body, "invalid_json")


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "sim-model"}, "messages"),
        ({"model": "sim-model", "messages": []}, "messages"),
        ({"model": 7, "messages": MESSAGES}, "model"),
        (
            {"model": "sim-model", "messages": [{"role": "wizard", "content": "x"}]},
            "messages[0].role",
        ),
        ({"model": "sim-model", "messages": MESSAGES, "temperature": 9}, "temperature"),
        ({"model": "sim-model", "messages": MESSAGES, "stream": "yes"}, "stream"),
        ([1, 2, 3], None),
    ],
)
async def test_wrong_fields_are_400_naming_the_field(
    server: RunningServer, http: aiohttp.ClientSession, payload: Any, param: str | None
) -> None:
    status, _, body = await _post(http, server.url + "/v1/chat/completions", json=payload)
    assert status == 400
    err = _assert_openai_error(body)
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param


async def test_unknown_model_is_404(sim: SimServer, add_sim: AddSim, server: RunningServer) -> None:
    await add_sim(sim)
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    try:
        with pytest.raises(openai.NotFoundError) as info:
            await client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    finally:
        await client.close()
    assert info.value.status_code == 404
    assert info.value.code == "model_not_found"
    assert "no-such-model" in info.value.message


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
            server.url + "/v1/chat/completions",
            json={"model": "sim-model", "messages": MESSAGES, "stream": stream},
        )
        assert status == 503
        assert int(headers["Retry-After"]) >= 1
        _assert_openai_error(body, "no_endpoint")


async def test_upstream_failure_is_502(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, limits={"retry_attempts": 0})
    sim.config.update({"fail_rate": 1.0, "fail_status": 500})
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    try:
        for stream in (False, True):
            with pytest.raises(openai.APIStatusError) as info:
                await client.chat.completions.create(
                    model="sim-model", messages=MESSAGES, stream=stream
                )
            assert info.value.status_code == 502
            assert info.value.response.headers["x-desk-endpoint"] == "sim"
    finally:
        await client.close()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"server": {"max_body_bytes": 4096}}


async def test_body_over_the_limit_is_413(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    big = {"model": "sim-model", "messages": [{"role": "user", "content": "x" * 10_000}]}
    status, _, body = await _post(http, server.url + "/v1/chat/completions", json=big)
    assert status == 413
    _assert_openai_error(body, "request_too_large")


async def test_unknown_route_and_method_keep_the_shape(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(server.url + "/v1/nothing-here") as resp:
        assert resp.status == 404
        _assert_openai_error(await resp.json())
    async with http.get(server.url + "/v1/chat/completions") as resp:
        assert resp.status == 405
        _assert_openai_error(await resp.json())


async def test_error_after_the_stream_started_is_an_error_event(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    seen: list[str] = []
    try:
        stream = await client.chat.completions.create(
            model="sim/sim-model@truncate,chunks=6",
            messages=[{"role": "user", "content": "one two three four five six"}],
            stream=True,
        )
        with pytest.raises(openai.APIError) as info:
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    seen.append(chunk.choices[0].delta.content)
    finally:
        await client.close()
    assert seen, "content arrived before the upstream broke"
    assert "sim" in info.value.message


async def test_client_disconnect_mid_stream_cancels_the_upstream(
    add_sim: AddSim, desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    slow = SimServer(SimConfig(chunks=40, chunk_delay=0.25))
    async with slow:
        await add_sim(slow, name="slow")
        slow.reset()
        resp = await http.post(
            server.url + "/v1/chat/completions",
            json={"model": "sim-model", "messages": MESSAGES, "stream": True},
        )
        assert resp.status == 200
        first = await resp.content.readline()
        assert first.startswith(b"data: ")
        assert slow.stats.in_flight == 1
        resp.close()  # the client goes away ~10 s before the reply would end

        async def settled() -> None:
            while slow.stats.in_flight or desk.endpoint("slow").metrics.in_flight:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(settled(), timeout=5)
        assert desk.endpoint("slow").metrics.in_flight == 0


async def test_server_refuses_non_loopback_without_key(desk: Desk) -> None:
    from endpoint_desk.core.errors import ConfigError

    with pytest.raises(ConfigError, match="without an API key"):
        await start_server(desk, host="0.0.0.0", port=0)
