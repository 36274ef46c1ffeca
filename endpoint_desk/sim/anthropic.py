"""The sim's Anthropic Messages API: ``POST /v1/messages`` (``x-api-key``;
``anthropic-version`` and ``max_tokens`` required, as upstream; plain, or named SSE
events from ``message_start`` to ``message_stop``) and ``GET /v1/models`` in
Anthropic's list shape.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.sim.errors import ANTHROPIC, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.text import (
    count_tokens,
    limit,
    openai_message,
    reply_text,
    split_chunks,
    text_of,
)
from endpoint_desk.sim.writers import SSE, json_response, send_body, send_stream

__all__ = ["messages", "models"]


async def models(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1/models`` in Anthropic's list shape (``anthropic-version`` required)."""
    sim.auth(request, ANTHROPIC)
    if "anthropic-version" not in request.headers:
        raise fail(ANTHROPIC, 400, "anthropic-version: header is required")
    await sim.gate(request, ANTHROPIC, "GET /v1/models", None)
    data = [
        {
            "type": "model",
            "id": m,
            "display_name": m.replace("-", " ").title(),
            "created_at": "2024-10-22T00:00:00Z",
        }
        for m in sim.config.models
    ]
    return json_response(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


async def messages(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /v1/messages``, plain and streamed (named SSE events)."""
    route = "POST /v1/messages"
    sim.auth(request, ANTHROPIC)
    if "anthropic-version" not in request.headers:
        raise fail(ANTHROPIC, 400, "anthropic-version: header is required")
    body = await sim.body(request, ANTHROPIC)
    model_raw = body.get("model")
    if not isinstance(model_raw, str) or not model_raw:
        raise fail(ANTHROPIC, 400, "model: Field required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise fail(ANTHROPIC, 400, "max_tokens: Field required (a positive integer)")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise fail(ANTHROPIC, 400, "messages: at least one message is required")
    knobs, model = await sim.gate(request, ANTHROPIC, route, model_raw, body)
    messages = []
    system = body.get("system")
    if system:
        messages.append({"role": "system", "content": text_of(system)})
    messages.extend(openai_message(m) for m in raw_messages)
    text = reply_text(sim.state, model, messages, knobs)
    text, cut = limit(text, max_tokens)
    stop = "max_tokens" if cut else "end_turn"
    it = sum(count_tokens(m["content"]) for m in messages)
    ot = count_tokens(text)
    mid = "msg_" + uuid.uuid4().hex[:24]
    pieces = split_chunks(text, knobs.chunks)
    if not body.get("stream"):
        answer = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": it, "output_tokens": ot},
        }
        return await send_body(request, knobs, orjson.dumps(answer), len(pieces))

    def event(name: str, data: dict[str, Any]) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    start: dict[str, Any] = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": it, "output_tokens": 1},
    }
    frames = [
        event("message_start", {"type": "message_start", "message": start}),
        event(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        event("ping", {"type": "ping"}),
    ]
    frames.extend(
        event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": p},
            },
        )
        for p in pieces
    )
    frames.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    frames.append(
        event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": ot},
            },
        )
    )
    frames.append(event("message_stop", {"type": "message_stop"}))
    return await send_stream(request, knobs, frames, 3, 3 + len(pieces), SSE)
