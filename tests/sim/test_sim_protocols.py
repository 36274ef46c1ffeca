"""Wire shapes of the Anthropic, Gemini, Ollama, jobs and custom routes over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.adapters.http import iter_ndjson, iter_sse
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(30)

AK = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
MSG = [{"role": "user", "content": "hello sim world"}]


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(api_key="k")


async def test_anthropic_plain(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "sim-model", "max_tokens": 100, "system": "be nice", "messages": MSG}
    async with http.post(sim.url + "/v1/messages", json=body, headers=AK) as r:
        assert r.status == 200
        data = await r.json()
    assert data["id"].startswith("msg_")
    assert data["type"] == "message"
    assert data["role"] == "assistant"
    assert data["content"] == [{"type": "text", "text": "Echo: hello sim world"}]
    assert data["stop_reason"] == "end_turn"
    assert data["stop_sequence"] is None
    assert data["usage"] == {"input_tokens": 6, "output_tokens": 6}


async def test_anthropic_stream_events(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "sim-model", "max_tokens": 100, "messages": MSG, "stream": True}
    async with http.post(sim.url + "/v1/messages", json=body, headers=AK) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        events = [(e, orjson.loads(d)) async for e, d in iter_sse(r)]
    names = [e for e, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(d["type"] == e for e, d in events)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    assert start["usage"]["input_tokens"] == 4
    assert events[1][1]["content_block"] == {"type": "text", "text": ""}
    deltas = [d["delta"] for e, d in events if e == "content_block_delta"]
    assert all(x["type"] == "text_delta" for x in deltas)
    assert "".join(x["text"] for x in deltas) == "Echo: hello sim world"
    md = events[-2][1]
    assert md["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert md["usage"] == {"output_tokens": 6}


async def test_anthropic_errors_and_models(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "sim-model", "max_tokens": 10, "messages": MSG}
    bad = {**AK, "x-api-key": "wrong"}
    async with http.post(sim.url + "/v1/messages", json=body, headers=bad) as r:
        assert r.status == 401
        assert await r.json() == {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
        }
    async with http.post(sim.url + "/v1/messages", json=body, headers={"x-api-key": "k"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["type"] == "invalid_request_error"
    unknown = {**body, "model": "claude-nope"}
    async with http.post(sim.url + "/v1/messages", json=unknown, headers=AK) as r:
        assert r.status == 404
        assert (await r.json())["error"]["type"] == "not_found_error"
    async with http.get(sim.url + "/v1/models", headers=AK) as r:
        data = await r.json()
    assert [m["id"] for m in data["data"]] == ["sim-model", "sim-large", "scripted"]
    assert data["data"][0]["type"] == "model"
    assert data["has_more"] is False and data["first_id"] == "sim-model"
    async with http.get(sim.url + "/v1/models", headers={"Authorization": "Bearer k"}) as r:
        assert (await r.json())["object"] == "list"


async def test_gemini_generate_and_stream(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hello sim world"}]}],
        "systemInstruction": {"parts": [{"text": "be nice"}]},
    }
    url = sim.url + "/v1beta/models/sim-model:generateContent"
    async with http.post(url, json=body, headers={"x-goog-api-key": "k"}) as r:
        data = await r.json()
    cand = data["candidates"][0]
    assert cand["content"] == {"parts": [{"text": "Echo: hello sim world"}], "role": "model"}
    assert cand["finishReason"] == "STOP"
    assert data["usageMetadata"] == {
        "promptTokenCount": 6,
        "candidatesTokenCount": 6,
        "totalTokenCount": 12,
    }
    url = sim.url + "/v1beta/models/sim-model:streamGenerateContent?alt=sse&key=k"
    async with http.post(url, json=body) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        chunks = [orjson.loads(d) async for _, d in iter_sse(r)]
    assert len(chunks) == 4
    text = "".join(c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks)
    assert text == "Echo: hello sim world"
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == 12
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    url = sim.url + "/v1beta/models/sim-model:streamGenerateContent?key=k"
    async with http.post(url, json=body) as r:
        array = orjson.loads(await r.read())
    assert array == [{**c, "responseId": array[0]["responseId"]} for c in array]
    assert len(array) == 4


async def test_gemini_auth_models_safety(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.get(sim.url + "/v1beta/models") as r:
        assert r.status == 403
        assert (await r.json())["error"]["status"] == "PERMISSION_DENIED"
    async with http.get(sim.url + "/v1beta/models?key=bad") as r:
        assert r.status == 400
        err = (await r.json())["error"]
        assert err["details"][0]["reason"] == "API_KEY_INVALID"
    async with http.get(sim.url + "/v1beta/models", headers={"x-goog-api-key": "k"}) as r:
        models = (await r.json())["models"]
    assert models[0]["name"] == "models/sim-model"
    assert "generateContent" in models[0]["supportedGenerationMethods"]
    body = {"contents": [{"parts": [{"text": "x"}]}]}
    url = sim.url + "/v1beta/models/sim-model@safety=prompt:generateContent?key=k"
    async with http.post(url, json=body) as r:
        data = await r.json()
    assert data["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in data
    url = sim.url + "/v1beta/models/sim-model:streamGenerateContent?alt=sse&key=k"
    headers = {"x-sim-safety": "response"}
    async with http.post(url, json=body, headers=headers) as r:
        chunks = [orjson.loads(d) async for _, d in iter_sse(r)]
    assert [c["candidates"][0]["finishReason"] for c in chunks] == ["SAFETY"]
    url = sim.url + "/v1beta/models/gemini-nope:generateContent?key=k"
    async with http.post(url, json=body) as r:
        assert r.status == 404
        assert (await r.json())["error"]["status"] == "NOT_FOUND"


async def test_ollama(sim: SimServer, http: aiohttp.ClientSession) -> None:
    h = {"Authorization": "Bearer k"}
    async with http.get(sim.url + "/api/version", headers=h) as r:
        assert (await r.json())["version"]
    async with http.get(sim.url + "/api/tags", headers=h) as r:
        tags = (await r.json())["models"]
    assert tags[0]["name"] == "sim-model:latest"
    assert tags[0]["details"]["format"] == "gguf"
    body: dict[str, Any] = {"model": "sim-model:latest", "messages": MSG}
    async with http.post(sim.url + "/api/chat", json=body, headers=h) as r:
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        lines = [x async for x in iter_ndjson(r, endpoint="sim")]
    assert all(not x["done"] for x in lines[:-1])
    assert "".join(x["message"]["content"] for x in lines) == "Echo: hello sim world"
    last = lines[-1]
    assert last["done"] is True and last["done_reason"] == "stop"
    assert (last["prompt_eval_count"], last["eval_count"]) == (4, 6)
    body = {"model": "sim-model", "messages": MSG, "stream": False}
    async with http.post(sim.url + "/api/chat", json=body, headers=h) as r:
        one = await r.json()
    assert one["message"] == {"role": "assistant", "content": "Echo: hello sim world"}
    assert one["done"] is True and one["eval_count"] == 6
    async with http.post(sim.url + "/api/chat", json={**body, "model": "x"}, headers=h) as r:
        assert r.status == 404
        assert "not found" in (await r.json())["error"]


async def test_jobs_and_custom(sim: SimServer, http: aiohttp.ClientSession) -> None:
    h = {"Authorization": "Bearer k"}
    sim.config.job_delay = 0.3
    async with http.post(sim.url + "/jobs", json={"prompt": "hello sim world"}, headers=h) as r:
        job = await r.json()
    assert job["status"] == "running"
    async with http.get(f"{sim.url}/jobs/{job['id']}", headers=h) as r:
        assert (await r.json())["status"] == "running"
    states = []
    async with asyncio.timeout(5):
        while True:
            async with http.get(f"{sim.url}/jobs/{job['id']}", headers=h) as r:
                data = await r.json()
            states.append(data["status"])
            if data["status"] != "running":
                break
            await asyncio.sleep(0.05)
    assert data["status"] == "done"
    assert data["result"]["text"] == "Echo: hello sim world"
    assert data["result"]["usage"]["output_tokens"] == 6
    sim.config.job_delay = 0
    body = {"prompt": "x", "model": "sim-model@job_fail"}
    async with http.post(sim.url + "/jobs", json=body, headers=h) as r:
        failed = await r.json()
    async with http.get(f"{sim.url}/jobs/{failed['id']}", headers=h) as r:
        assert (await r.json())["status"] == "failed"
    async with http.get(sim.url + "/jobs/job_missing", headers=h) as r:
        assert r.status == 404
    async with http.post(sim.url + "/custom/generate", json={"input": "hi you"}, headers=h) as r:
        out = await r.json()
    assert out["output"] == {"text": "Echo: hi you"}
    assert out["meta"]["tokens"] == {"in": 2, "out": 3}
    async with http.post(sim.url + "/custom/generate", json={"input": "hi"}) as r:
        assert r.status == 401
    async with http.post(sim.url + "/custom/generate", json={"nope": 1}, headers=h) as r:
        assert r.status == 400
        assert "'input'" in (await r.json())["error"]["message"]


async def test_protocols_restrict_the_routes(http: aiohttp.ClientSession) -> None:
    async with SimServer(SimConfig(protocols=["ollama"])) as sim:
        async with http.get(sim.url + "/") as r:
            assert await r.text() == "Ollama is running"
        async with http.get(sim.url + "/api/tags") as r:
            assert r.status == 200
        for path in ("/v1/models", "/v1beta/models"):
            async with http.get(sim.url + path) as r:
                assert r.status == 404, path
        async with http.get(sim.url + "/sim") as r:
            assert list((await r.json())["protocols"]) == ["ollama", "control"]
    async with SimServer(SimConfig(protocols=["anthropic"])) as sim:
        async with http.get(sim.url + "/v1/models") as r:  # an OpenAI-style probe
            assert r.status == 400
            assert (await r.json())["type"] == "error"
        async with http.get(sim.url + "/v1/models", headers=AK) as r:
            assert (await r.json())["data"][0]["type"] == "model"
        async with http.post(sim.url + "/v1/chat/completions", json={}) as r:
            assert r.status == 404
        async with http.get(sim.url + "/") as r:
            assert r.status == 404
    with pytest.raises(ValueError, match="unknown sim protocol"):
        SimServer(SimConfig(protocols=["grpc"]))
