"""Protocol details of the Anthropic, Gemini and Ollama adapters: what goes on the wire
(read back from the sim's request log) and protocol-specific failures (Gemini safety
blocks, mid-stream error events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from endpoint_desk.core.errors import (
    AuthFailed,
    ConfigError,
    ContentBlocked,
    ProtocolError,
    RateLimited,
    UpstreamError,
)
from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.sim import SimServer
from endpoint_desk.wire.anthropic.request import messages_body as anthropic_body
from endpoint_desk.wire.anthropic.response import finish_reason
from endpoint_desk.wire.gemini.response import finish_reason as gemini_finish
from tests.adapters.simkit import adapter_for, ask, collect

pytestmark = pytest.mark.timeout(30)


def conversation(model: str = "sim-model", **kw: Any) -> ChatRequest:
    """System prompt, a finished turn and a new question."""
    return ChatRequest(
        messages=[
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "first question"),
            ChatMessage("assistant", "first answer"),
            ChatMessage("user", "second question"),
        ],
        model=model,
        **kw,
    )


# ---------------------------------------------------------------------------- Anthropic


async def test_anthropic_wire_body(sim: SimServer) -> None:
    adapter = adapter_for("anthropic", sim.url, options={"anthropic_version": "2023-06-01"})
    chunks = await collect(adapter, conversation(temperature=1.5, stop=["END"]))
    assert "".join(c.delta for c in chunks) == "Echo: second question"
    last = sim.stats.last["POST /v1/messages"]
    body = last["body"]
    assert body["system"] == "Be brief."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 4096  # supplied: the caller gave none
    assert body["temperature"] == 1.0  # Anthropic's range ends at 1
    assert body["stop_sequences"] == ["END"]
    assert last["headers"]["anthropic-version"] == "2023-06-01"
    assert last["headers"]["x-api-key"] == "***"  # sent (the sim masks it in its log)


def test_anthropic_body_merges_turns_and_keeps_images() -> None:
    image = "data:image/png;base64,iVBORw0KGgo="
    request = ChatRequest(
        messages=[
            ChatMessage("user", "one"),
            ChatMessage(
                "user",
                [
                    {"type": "text", "text": "two"},
                    {"type": "image_url", "image_url": {"url": image}},
                ],
            ),
        ],
        model="m",
        max_tokens=9,
        extra={"top_k": 5, "presence_penalty": 1},
    )
    body = anthropic_body(request, stream=True)
    assert body["max_tokens"] == 9
    assert body["stream"] is True
    assert body["top_k"] == 5 and "presence_penalty" not in body
    (only,) = body["messages"]
    assert only["content"][0] == {"type": "text", "text": "one"}
    assert only["content"][2]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }


def test_anthropic_stop_reasons() -> None:
    assert finish_reason("end_turn") == "stop"
    assert finish_reason("stop_sequence") == "stop"
    assert finish_reason("max_tokens") == "length"
    assert finish_reason("tool_use") == "tool_calls"
    assert finish_reason("refusal") == "content_filter"
    assert finish_reason(None) == "stop"


def test_anthropic_bad_option() -> None:
    with pytest.raises(ConfigError, match="default_max_tokens"):
        adapter_for("anthropic", "http://127.0.0.1:9", options={"default_max_tokens": 0})


# ---------------------------------------------------------------------------- Gemini


async def test_gemini_wire_body(sim: SimServer) -> None:
    adapter = adapter_for("gemini", sim.url)
    await collect(adapter, conversation(max_tokens=50, temperature=0.3, stream=True))
    last = sim.stats.last["POST /v1beta/models:streamGenerateContent"]
    body = last["body"]
    assert last["query"] == {"alt": "sse"}
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["generationConfig"] == {"temperature": 0.3, "maxOutputTokens": 50}
    assert last["headers"]["x-goog-api-key"] == "***"


async def test_gemini_key_in_query(sim: SimServer) -> None:
    adapter = adapter_for("gemini", sim.url, options={"key_in_query": True})
    chunks = await collect(adapter, ask())
    assert chunks[-1].finish_reason == "stop"
    assert "x-goog-api-key" not in sim.stats.last["POST /v1beta/models:generateContent"]["headers"]


@pytest.mark.parametrize("where", ["prompt", "response"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_gemini_safety_block(sim: SimServer, where: str, stream: bool) -> None:
    adapter = adapter_for("gemini", sim.url)
    with pytest.raises(ContentBlocked) as info:
        await collect(adapter, ask(model=f"sim-model@safety={where}", stream=stream))
    message = str(info.value)
    assert "safety block" in message
    assert "SAFETY" in message
    assert "dangerous_content" in message  # the flagged category is named
    assert info.value.title == "Blocked by the upstream"


async def test_gemini_missing_key_is_auth_failed(sim: SimServer) -> None:
    adapter = adapter_for("gemini", sim.url, api_key=None)
    with pytest.raises(AuthFailed):
        await collect(adapter, ask())


def test_gemini_finish_reasons() -> None:
    assert gemini_finish("STOP") == "stop"
    assert gemini_finish("MAX_TOKENS") == "length"
    assert gemini_finish("PROHIBITED_CONTENT") == "content_filter"
    assert gemini_finish(None) == "stop"


# ---------------------------------------------------------------------------- Ollama


async def test_ollama_wire_body(sim: SimServer) -> None:
    adapter = adapter_for(
        "ollama",
        sim.url + "/api",
        options={"ollama_options": {"num_ctx": 4096}, "keep_alive": "5m"},
    )
    chunks = await collect(adapter, conversation(max_tokens=40, temperature=0.2, stream=True))
    assert "".join(c.delta for c in chunks) == "Echo: second question"
    body = sim.stats.last["POST /api/chat"]["body"]
    assert body["stream"] is True
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["options"] == {"num_ctx": 4096, "temperature": 0.2, "num_predict": 40}
    assert body["keep_alive"] == "5m"


async def test_ollama_latest_suffix(sim: SimServer) -> None:
    adapter = adapter_for("ollama", sim.url)
    chunks = await collect(adapter, ask(model="sim-model:latest"))
    assert chunks[-1].usage is not None


# ------------------------------------------------------- mid-stream errors (local fixture)
# The sim has no knob for an error *inside* a 200 stream, so these use a tiny local
# aiohttp upstream that replays canned bodies.


@pytest.fixture
async def canned() -> AsyncIterator[tuple[str, dict[str, tuple[str, bytes]]]]:
    """A local upstream answering each path with a canned (content type, body)."""
    bodies: dict[str, tuple[str, bytes]] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        ctype, body = bodies[request.path]
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", bodies
    finally:
        await runner.cleanup()


def _sse(*events: tuple[str, str]) -> bytes:
    return b"".join(f"event: {e}\ndata: {d}\n\n".encode() for e, d in events)


@pytest.mark.parametrize(
    ("etype", "error"),
    [("overloaded_error", UpstreamError), ("rate_limit_error", RateLimited)],
)
async def test_anthropic_error_event_mid_stream(
    canned: tuple[str, dict[str, tuple[str, bytes]]], etype: str, error: type
) -> None:
    url, bodies = canned
    bodies["/v1/messages"] = (
        "text/event-stream",
        _sse(
            (
                "message_start",
                '{"type":"message_start","message":{"model":"m","usage":'
                '{"input_tokens":3,"output_tokens":1}}}',
            ),
            (
                "content_block_delta",
                '{"type":"content_block_delta","index":0,'
                '"delta":{"type":"text_delta","text":"Hel"}}',
            ),
            ("ping", '{"type":"ping"}'),
            ("error", '{"type":"error","error":{"type":"' + etype + '","message":"busy"}}'),
        ),
    )
    adapter = adapter_for("anthropic", url)
    got: list[str] = []
    with pytest.raises(error) as info:
        async for chunk in adapter.chat(ask(model="m", stream=True)):
            got.append(chunk.delta)
    assert got == ["Hel"]
    assert etype in str(info.value) and "busy" in str(info.value)


async def test_ollama_error_line_mid_stream(
    canned: tuple[str, dict[str, tuple[str, bytes]]],
) -> None:
    url, bodies = canned
    bodies["/api/chat"] = (
        "application/x-ndjson",
        b'{"model":"m","message":{"role":"assistant","content":"Hi"},"done":false}\n'
        b'{"error":"model runner has unexpectedly stopped"}\n',
    )
    adapter = adapter_for("ollama", url)
    with pytest.raises(UpstreamError, match="unexpectedly stopped"):
        await collect(adapter, ask(model="m", stream=True))


async def test_gemini_stream_without_finish_is_truncated(
    canned: tuple[str, dict[str, tuple[str, bytes]]],
) -> None:
    url, bodies = canned
    bodies["/v1beta/models/m:streamGenerateContent"] = (
        "text/event-stream",
        b'data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"}}]}\r\n\r\n',
    )
    adapter = adapter_for("gemini", url)
    with pytest.raises(ProtocolError, match="short"):
        await collect(adapter, ask(model="m", stream=True))


# ------------------------------------------------------- paginated model lists (local fixture)
# The sim lists every model on one page; real Anthropic and Gemini lists are paginated.


async def test_model_lists_follow_pages() -> None:
    seen: list[dict[str, str]] = []

    async def anthropic_models(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        assert request.headers["anthropic-beta"] == "a,b"
        if "after_id" not in request.query:
            page = {"data": [{"type": "model", "id": "c1"}], "has_more": True, "last_id": "c1"}
        else:
            page = {"data": [{"type": "model", "id": "c2"}], "has_more": False, "last_id": "c2"}
        return web.json_response(page)

    async def gemini_models(request: web.Request) -> web.Response:
        seen.append(dict(request.query))
        if "pageToken" not in request.query:
            return web.json_response(
                {
                    "models": [
                        {"name": "models/g1", "supportedGenerationMethods": ["generateContent"]},
                        {"name": "models/embed", "supportedGenerationMethods": ["embedContent"]},
                    ],
                    "nextPageToken": "p2",
                }
            )
        return web.json_response({"models": [{"name": "models/g2"}]})

    app = web.Application()
    app.router.add_get("/v1/models", anthropic_models)
    app.router.add_get("/v1beta/models", gemini_models)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        claude = adapter_for("anthropic", url + "/v1", options={"anthropic_beta": ["a", "b"]})
        assert await claude.list_models() == ["c1", "c2"]
        assert seen[1] == {"limit": "1000", "after_id": "c1"}
        gemini = adapter_for("gemini", url)
        # models that can only embed come after the chat models of every page (the
        # router sends embeddings to them; the default model stays a chat model)
        assert await gemini.list_models() == ["g1", "g2", "embed"]
        assert seen[-1]["pageToken"] == "p2"
    finally:
        await runner.cleanup()
