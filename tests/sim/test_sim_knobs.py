"""Each knob does what it says, over real HTTP."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.adapters.http import iter_sse
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(30)

MSG = [{"role": "user", "content": "one two three four five six"}]
CHAT = "/v1/chat/completions"


def chat(model: str = "sim-model", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MSG, **extra}


async def wait_for(cond: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def statuses(http: aiohttp.ClientSession, url: str, n: int, **kw: Any) -> list[int]:
    out = []
    for _ in range(n):
        async with http.post(url, **kw) as r:
            await r.read()
            out.append(r.status)
    return out


async def test_fail_rate_with_seed_is_reproducible(http: aiohttp.ClientSession) -> None:
    rng = random.Random(1234)
    expected = [500 if rng.random() < 0.3 else 200 for _ in range(200)]
    async with SimServer(SimConfig(fail_rate=0.3, seed=1234)) as sim:
        got = await statuses(http, sim.url + CHAT, 200, json=chat())
        assert got == expected
        assert 30 < got.count(500) < 90
        assert sim.stats.simulated_failures == got.count(500)
        assert sim.stats.statuses == {"200": got.count(200), "500": got.count(500)}
        async with http.post(sim.url + "/sim/reset") as r:
            assert r.status == 200
        assert sim.stats.total == 0
        assert await statuses(http, sim.url + CHAT, 50, json=chat()) == expected[:50]


async def test_per_request_seed_and_status(sim: SimServer, http: aiohttp.ClientSession) -> None:
    rng = random.Random(7)
    expected = [418 if rng.random() < 0.5 else 200 for _ in range(40)]
    body = chat("sim-model@fail_rate=0.5,seed=7,fail_status=418")
    got = await statuses(http, sim.url + CHAT, 40, json=body)
    assert got == expected
    async with http.post(sim.url + CHAT, json=chat("sim-model@fail_rate=1")) as r:
        assert r.status == 500
        err = (await r.json())["error"]
        assert err["type"] == "server_error"
        assert "simulated failure" in err["message"]


async def test_rate_limit_all_protocols(sim: SimServer, http: aiohttp.ClientSession) -> None:
    h = {"x-sim-rate-limit": "3", "anthropic-version": "2023-06-01"}
    calls = [
        ("POST", CHAT, chat()),
        ("POST", "/v1/messages", chat(max_tokens=5)),
        ("POST", "/v1beta/models/sim-model:generateContent", {"contents": [{"parts": []}]}),
        ("POST", "/api/chat", chat()),
        ("POST", "/custom/generate", {"input": "x"}),
        ("GET", "/api/tags", None),
    ]
    shapes = []
    for method, path, body in calls:
        async with http.request(method, sim.url + path, json=body, headers=h) as r:
            assert r.status == 429, path
            assert r.headers["Retry-After"] == "3"
            shapes.append(await r.json())
    assert shapes[0]["error"]["type"] == "rate_limit_exceeded"
    assert shapes[1]["error"]["type"] == "rate_limit_error"
    assert shapes[2]["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert isinstance(shapes[3]["error"], str)
    assert sim.stats.count("GET /api/tags") == 1


async def test_truncate_stream_and_body(sim: SimServer, http: aiohttp.ClientSession) -> None:
    received: list[str] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(sim.url + CHAT, json=chat("sim-model@truncate", stream=True)) as r:
            assert r.status == 200
            async for _, data in iter_sse(r):
                received.append(data)
    assert "[DONE]" not in received
    contents = [orjson.loads(d)["choices"][0]["delta"].get("content") for d in received]
    assert contents[1:] == ["Echo: ", "one ", "two "]  # half (rounded down) of 7 words
    lines: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(sim.url + "/api/chat", json=chat("sim-model@truncate")) as r:
            async for line in r.content:
                lines.append(line)
    assert lines and all(not orjson.loads(x)["done"] for x in lines)
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(sim.url + CHAT, json=chat(), headers={"x-sim-truncate": "1"}) as r:
            await r.read()
    async with http.post(sim.url + CHAT, json=chat()) as r:  # the sim is still fine
        assert r.status == 200


async def test_garbage(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + CHAT, json=chat("sim-model@garbage")) as r:
        assert r.status == 200
        raw = await r.read()
    assert raw.startswith(b'{"id":"chatcmpl-')
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    async with http.post(sim.url + CHAT, json=chat("sim-model@garbage", stream=True)) as r:
        assert r.status == 200
        events = [d async for _, d in iter_sse(r)]
    bad = []
    for d in events:
        if d != "[DONE]":
            try:
                orjson.loads(d)
            except orjson.JSONDecodeError:
                bad.append(d)
    assert len(bad) == 1
    async with http.post(sim.url + "/api/chat", json=chat("sim-model@garbage")) as r:
        lines = [x for x in (await r.read()).split(b"\n") if x]
    broken = 0
    for x in lines:
        try:
            orjson.loads(x)
        except orjson.JSONDecodeError:
            broken += 1
    assert broken == 1


async def test_hang_ends_by_client_timeout(sim: SimServer, http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            sim.url + CHAT,
            json=chat("sim-model@hang"),
            timeout=aiohttp.ClientTimeout(total=0.3),
        ) as r:
            await r.read()
    assert time.monotonic() - started < 5
    await wait_for(lambda: sim.stats.in_flight == 0)  # the sim dropped the hanging handler
    async with http.post(sim.url + CHAT, json=chat()) as r:
        assert r.status == 200


async def test_latency_ttft_and_chunk_delay(sim: SimServer, http: aiohttp.ClientSession) -> None:
    started = time.monotonic()
    async with http.post(sim.url + CHAT, json=chat(), headers={"x-sim-latency": "0.2"}) as r:
        assert r.status == 200
        assert time.monotonic() - started >= 0.19
    body = chat("sim-model@ttft=0.2,chunks=3,chunk_delay=0.1", stream=True)
    started = time.monotonic()
    async with http.post(sim.url + CHAT, json=body) as r:
        headers_at = time.monotonic() - started
        stamps = []
        pieces = []
        async for _, data in iter_sse(r):
            if data != "[DONE]":
                content = orjson.loads(data)["choices"][0]["delta"].get("content")
                if content:
                    stamps.append(time.monotonic() - started)
                    pieces.append(content)
    assert len(pieces) == 3
    assert "".join(pieces) == "Echo: one two three four five six"
    assert stamps[0] >= 0.19
    assert stamps[0] - headers_at >= 0.19  # ttft runs after the headers
    assert stamps[1] - stamps[0] >= 0.08
    assert stamps[2] - stamps[1] >= 0.08
    started = time.monotonic()  # non-stream waits the whole generation time
    async with http.post(sim.url + CHAT, json={**body, "stream": False}) as r:
        await r.read()
    assert time.monotonic() - started >= 0.38


async def test_drip(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"input": "hi", "model": "sim-model@drip=0.005"}
    reads = 0
    data = b""
    async with http.post(sim.url + "/custom/generate", json=body) as r:
        while chunk := await r.content.readany():
            reads += 1
            data += chunk
    assert orjson.loads(data)["output"]["text"] == "Echo: hi"
    assert reads > len(data) // 4  # bytes arrived in many small pieces


async def test_runtime_reconfig(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/sim/config", json={"fail_rate": 1, "fail_status": 503}) as r:
        assert (await r.json())["fail_status"] == 503
    assert await statuses(http, sim.url + CHAT, 3, json=chat()) == [503] * 3
    async with http.post(sim.url + "/sim/config", json={"fail_rate": 0}) as r:
        assert r.status == 200
    assert await statuses(http, sim.url + CHAT, 2, json=chat()) == [200] * 2
    async with http.post(sim.url + "/sim/config", json={"fail_rate": 2}) as r:
        assert r.status == 400
        assert "fail_rate" in (await r.json())["error"]["message"]
    async with http.post(sim.url + "/sim/config", json={"nope": 1}) as r:
        assert r.status == 400
    async with http.post(sim.url + "/sim/config", json={"models": ["a"], "api_key": "z"}) as r:
        cfg = await r.json()
    assert cfg["models"] == ["a"] and cfg["api_key"] == "***"
    async with http.get(sim.url + "/v1/models") as r:
        assert r.status == 401
    sim.config.api_key = None  # the Python handle is live too
    async with http.get(sim.url + "/v1/models") as r:
        assert [m["id"] for m in (await r.json())["data"]] == ["a"]
    async with http.get(sim.url + "/sim/stats") as r:
        stats = await r.json()
    assert stats["requests"]["POST /v1/chat/completions"] == 5
    assert stats["requests"]["GET /v1/models"] == 2
    assert stats["last"]["POST /v1/chat/completions"]["body"]["model"] == "sim-model"


async def test_bad_knobs_are_named(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + CHAT, json=chat("sim-model@fial_rate=1")) as r:
        assert r.status == 400
        assert "fial_rate" in (await r.json())["error"]["message"]
    async with http.post(sim.url + CHAT, json=chat(), headers={"x-sim-latency": "soon"}) as r:
        assert r.status == 400
        assert "latency" in (await r.json())["error"]["message"]
    async with http.post(sim.url + CHAT, json=chat(), headers={"x-sim-bogus": "1"}) as r:
        assert r.status == 400


async def test_concurrency_is_counted(sim: SimServer, http: aiohttp.ClientSession) -> None:
    sim.config.latency = 0.2

    async def one() -> int:
        async with http.post(sim.url + CHAT, json=chat()) as r:
            return r.status

    assert await asyncio.gather(*(one() for _ in range(5))) == [200] * 5
    assert sim.stats.max_in_flight == 5
    assert sim.stats.in_flight == 0


async def test_stop_does_not_wait_for_hanging_requests(http: aiohttp.ClientSession) -> None:
    sim = SimServer(SimConfig(hang=True))
    await sim.start()

    async def call() -> None:
        async with http.get(sim.url + "/api/tags") as r:
            await r.read()

    task = asyncio.create_task(call())
    await wait_for(lambda: sim.stats.in_flight == 1)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 3
    with pytest.raises(aiohttp.ClientError):
        await asyncio.wait_for(task, 5)
    assert sim.stats.statuses == {"599": 1}  # ended without an answer


async def test_reply_header_overrides_text(sim: SimServer, http: aiohttp.ClientSession) -> None:
    headers = {"x-sim-reply": "Paris, France.", "x-sim-chunks": "2"}
    async with http.post(sim.url + CHAT, json=chat(stream=True), headers=headers) as r:
        events = [orjson.loads(d) async for _, d in iter_sse(r) if d != "[DONE]"]
    pieces = [e["choices"][0]["delta"].get("content") for e in events][1:-1]
    assert pieces == ["Paris, ", "France."]


async def test_config_post_with_a_bad_body_is_a_400(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    """A control route answers a body that is not a JSON object with a 400 naming the
    problem (it was a bare 500), and the config stays as it was."""
    before = sim.config.to_json()
    for body, problem in ((b"latency=1", "not valid JSON"), (b"[1, 2]", "JSON object")):
        async with http.post(sim.url + "/sim/config", data=body) as r:
            assert r.status == 400
            assert problem in (await r.json())["error"]["message"]
    assert sim.config.to_json() == before
    async with http.get(sim.url + "/sim/config") as r:
        assert r.status == 200
