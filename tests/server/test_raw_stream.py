"""Forwarding an upstream's own SSE bytes: odd framings still reach OpenAI clients
intact, and the engine still sees the text, usage and the end of the request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import openai
import pytest
from aiohttp import web

from endpoint_desk.core.models import ChatRequest, EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer

pytestmark = pytest.mark.timeout(60)


def _event(obj: dict[str, object], crlf: bool) -> bytes:
    nl = b"\r\n" if crlf else b"\n"
    return b"data: " + json.dumps(obj).encode() + nl + nl


def _chunk(text: str | None, finish: str | None = None) -> dict[str, object]:
    delta = {} if text is None else {"content": text}
    return {
        "id": "up-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "odd-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


@pytest.fixture
async def odd_upstream() -> AsyncIterator[str]:
    """An OpenAI-style upstream that splits events across writes, uses CRLF, sends
    keep-alive comments, and (for model ``no-done``) ends without ``[DONE]``."""

    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        crlf = body["model"] == "crlf"
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b": keep-alive\n\n")
        data = b"".join(_event(_chunk(w), crlf) for w in ("Hello", ", ", "wörld", "!"))
        for i in range(0, len(data), 7):  # 7-byte writes split events and characters
            await resp.write(data[i : i + 7])
            await asyncio.sleep(0)
        await resp.write(_event(_chunk(None, "stop"), crlf))
        usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
        await resp.write(_event({**_chunk(None), "choices": [], "usage": usage}, crlf))
        if body["model"] != "no-done":
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("model", ["plain-lf", "crlf", "no-done"])
@pytest.mark.parametrize("include_usage", [True, False])
async def test_odd_framings_reach_the_client_intact(
    odd_upstream: str, desk: Desk, server: RunningServer, model: str, include_usage: bool
) -> None:
    await desk.add(
        EndpointSpec(name="odd", kind="openai", base_url=odd_upstream, models=[model]),
        prove=False,
    )
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            **({"stream_options": {"include_usage": True}} if include_usage else {}),
        )
        chunks = [c async for c in stream]
    finally:
        await client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello, wörld!"
    usage_chunks = [c for c in chunks if c.usage is not None]
    if include_usage:
        assert len(usage_chunks) == 1 and usage_chunks[0].usage is not None
        assert usage_chunks[0].usage.total_tokens == 9
    else:
        assert usage_chunks == []
    view = desk.endpoint("odd")
    assert view.metrics.requests == 1 and view.metrics.errors == 0
    assert view.metrics.output_tokens == 4  # the upstream's usage reached the engine


async def test_the_engine_hands_over_raw_bytes_only_when_asked(
    odd_upstream: str, desk: Desk
) -> None:
    """``desk.stream(request, raw=True)`` is the server's way to the upstream's own
    events; without it (the TUI, the CLI, Python) no chunk carries them."""
    await desk.add(
        EndpointSpec(name="odd", kind="openai", base_url=odd_upstream, models=["plain-lf"]),
        prove=False,
    )
    for raw in (True, False):
        request = ChatRequest.from_text("hi", model="plain-lf", stream=True)
        stream = desk.stream(request, raw=raw)
        chunks = [c async for c in stream]
        events = b"".join(
            c.metadata["raw_sse"] for c in chunks if c.metadata and "raw_sse" in c.metadata
        )
        assert "".join(c.delta for c in chunks) == "Hello, wörld!"
        if raw:
            # four text events, the finish event and [DONE], as the upstream sent them
            # (the usage-only event is left out: the request did not ask for usage)
            assert events.count(b"data: ") == 6 and events.endswith(b"data: [DONE]\n\n")
        else:
            assert events == b""
        assert stream.endpoint == "odd"
        assert stream.result is not None and stream.result.content == "Hello, wörld!"
