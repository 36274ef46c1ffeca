"""The sim speaks tool calls, JSON formats and embeddings in each protocol's own shape
(checked on the raw JSON, so a mistake the desk's own decoders share cannot hide)."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.adapters.http import iter_ndjson, iter_sse
from endpoint_desk.sim import SimServer

pytestmark = pytest.mark.timeout(30)

AK = {"anthropic-version": "2023-06-01"}
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
    "required": ["city"],
}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}
ASK = "What is the weather in Oslo?"


async def post(http: aiohttp.ClientSession, url: str, body: Any, **kw: Any) -> Any:
    async with http.post(url, json=body, **kw) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_openai_tool_round(sim: SimServer, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1/chat/completions"
    messages: list[dict[str, Any]] = [{"role": "user", "content": ASK}]
    data = await post(http, url, {"model": "sim-model", "messages": messages, "tools": [TOOL]})
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"]
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Oslo", "unit": "c"}
    messages += [
        choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "3 degrees"},
    ]
    body = {"model": "sim-model", "messages": messages, "tools": [TOOL], "stream": True}
    async with http.post(url, json=body) as r:
        events = [orjson.loads(d) async for _, d in iter_sse(r) if d != "[DONE]"]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == "get_weather returned: 3 degrees."
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


async def test_openai_streamed_tool_call_fragments(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": "sim-model",
        "messages": [{"role": "user", "content": ASK}],
        "tools": [TOOL],
        "stream": True,
    }
    async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
        events = [orjson.loads(d) async for _, d in iter_sse(r) if d != "[DONE]"]
    frags = [f for e in events for f in e["choices"][0]["delta"].get("tool_calls") or ()]
    assert frags[0]["id"] and frags[0]["function"]["name"] == "get_weather"
    assert len(frags) > 2  # the arguments come in pieces
    args = "".join(f["function"].get("arguments", "") for f in frags)
    assert orjson.loads(args)["city"] == "Oslo"
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_anthropic_tool_use(sim: SimServer, http: aiohttp.ClientSession) -> None:
    tools = [{"name": "get_weather", "description": "w", "input_schema": SCHEMA}]
    body: dict[str, Any] = {
        "model": "sim-model",
        "max_tokens": 50,
        "tools": tools,
        "messages": [{"role": "user", "content": ASK}],
    }
    data = await post(http, sim.url + "/v1/messages", body, headers=AK)
    assert data["stop_reason"] == "tool_use"
    use = data["content"][-1]
    assert use["type"] == "tool_use" and use["input"] == {"city": "Oslo", "unit": "c"}
    body["messages"] += [
        {"role": "assistant", "content": data["content"]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "sunny"}],
        },
    ]
    body["stream"] = True
    async with http.post(sim.url + "/v1/messages", json=body, headers=AK) as r:
        events = [orjson.loads(d) async for _, d in iter_sse(r)]
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert text == "get_weather returned: sunny."
    stream_use = {**body, "messages": body["messages"][:1]}
    async with http.post(sim.url + "/v1/messages", json=stream_use, headers=AK) as r:
        events = [orjson.loads(d) async for _, d in iter_sse(r)]
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert starts[0]["content_block"]["type"] == "tool_use"
    parts = [
        e["delta"]["partial_json"]
        for e in events
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta"
    ]
    assert orjson.loads("".join(parts))["city"] == "Oslo"


async def test_gemini_function_call(sim: SimServer, http: aiohttp.ClientSession) -> None:
    decl = {
        "name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
    }
    body: dict[str, Any] = {
        "contents": [{"role": "user", "parts": [{"text": ASK}]}],
        "tools": [{"functionDeclarations": [decl]}],
    }
    url = sim.url + "/v1beta/models/sim-model:generateContent"
    data = await post(http, url, body)
    part = data["candidates"][0]["content"]["parts"][0]
    assert part["functionCall"] == {"name": "get_weather", "args": {"city": "Oslo"}}
    body["contents"] += [
        {"role": "model", "parts": [part]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": 3}}}],
        },
    ]
    data = await post(http, url, body)
    text = data["candidates"][0]["content"]["parts"][0]["text"]
    assert text == 'get_weather returned: {"t":3}.'


async def test_ollama_tool_calls(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body: dict[str, Any] = {
        "model": "sim-model",
        "messages": [{"role": "user", "content": ASK}],
        "tools": [TOOL],
        "stream": False,
    }
    data = await post(http, sim.url + "/api/chat", body)
    calls = data["message"]["tool_calls"]
    assert calls == [
        {"function": {"name": "get_weather", "arguments": {"city": "Oslo", "unit": "c"}}}
    ]
    body["messages"] += [
        data["message"],
        {"role": "tool", "tool_name": "get_weather", "content": "windy"},
    ]
    body["stream"] = True
    async with http.post(sim.url + "/api/chat", json=body) as r:
        lines = [line async for line in iter_ndjson(r, endpoint="sim")]
    assert "".join(x["message"]["content"] for x in lines) == "get_weather returned: windy."


async def test_json_formats(sim: SimServer, http: aiohttp.ClientSession) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "num", "schema": schema}}
    msgs = [{"role": "user", "content": "a number"}]
    data = await post(
        http,
        sim.url + "/v1/chat/completions",
        {"model": "sim-model", "messages": msgs, "response_format": fmt},
    )
    assert orjson.loads(data["choices"][0]["message"]["content"]) == {"n": 1}
    data = await post(
        http,
        sim.url + "/api/chat",
        {"model": "sim-model", "messages": msgs, "format": "json", "stream": False},
    )
    assert orjson.loads(data["message"]["content"]) == {"echo": "a number"}
    gen = {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}},
    }
    data = await post(
        http,
        sim.url + "/v1beta/models/sim-model:generateContent",
        {"contents": [{"parts": [{"text": "a number"}]}], "generationConfig": gen},
    )
    assert orjson.loads(data["candidates"][0]["content"]["parts"][0]["text"]) == {"n": 1}


async def test_embeddings_in_three_shapes(sim: SimServer, http: aiohttp.ClientSession) -> None:
    texts = ["alpha", "beta"]
    oai = await post(http, sim.url + "/v1/embeddings", {"model": "sim-model", "input": texts})
    vectors = [d["embedding"] for d in oai["data"]]
    assert len(vectors) == 2 and len(vectors[0]) == 16 and vectors[0] != vectors[1]
    assert abs(sum(v * v for v in vectors[0]) - 1) < 1e-4
    assert oai["usage"]["prompt_tokens"] == 3  # ceil(5/4) + ceil(4/4)
    gem = await post(
        http,
        sim.url + "/v1beta/models/sim-model:batchEmbedContents",
        {
            "requests": [
                {"model": "models/sim-model", "content": {"parts": [{"text": t}]}} for t in texts
            ]
        },
    )
    assert [e["values"] for e in gem["embeddings"]] == vectors
    oll = await post(http, sim.url + "/api/embed", {"model": "sim-model", "input": texts})
    assert oll["embeddings"] == vectors
    small = await post(
        http, sim.url + "/v1/embeddings", {"model": "sim-model", "input": "x", "dimensions": 4}
    )
    assert len(small["data"][0]["embedding"]) == 4
