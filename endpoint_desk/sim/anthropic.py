"""The sim's Anthropic Messages API: ``POST /v1/messages`` (``x-api-key``;
``anthropic-version`` and ``max_tokens`` required, as upstream; plain, or named SSE
events from ``message_start`` to ``message_stop``) and ``GET /v1/models`` in
Anthropic's list shape.
"""

from __future__ import annotations

import uuid

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.tools import stream_fragments
from endpoint_desk.sim.errors import ANTHROPIC, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.script import decide
from endpoint_desk.sim.text import split_chunks
from endpoint_desk.sim.writers import SSE, json_response, send_body, send_stream
from endpoint_desk.wire.anthropic.encode import StreamEncoder, message_body
from endpoint_desk.wire.anthropic.read import parse_messages_request

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
    """``POST /v1/messages``, plain and streamed (named SSE events; text and
    ``tool_use`` blocks)."""
    route = "POST /v1/messages"
    sim.auth(request, ANTHROPIC)
    if "anthropic-version" not in request.headers:
        raise fail(ANTHROPIC, 400, "anthropic-version: header is required")
    body = await sim.body(request, ANTHROPIC)
    try:
        creq = parse_messages_request(body)
    except BadRequest as exc:
        raise fail(ANTHROPIC, 400, exc.message) from None
    knobs, model = await sim.gate(request, ANTHROPIC, route, creq.model, body)
    reply = decide(sim.state, model, creq, knobs)
    mid = "msg_" + uuid.uuid4().hex[:24]
    pieces = split_chunks(reply.text, knobs.chunks)
    if not creq.stream:
        answer = message_body(
            mid,
            model,
            reply.text,
            finish=reply.finish,
            usage=reply.usage,
            tool_calls=reply.tool_calls,
        )
        return await send_body(request, knobs, orjson.dumps(answer), len(pieces))
    enc = StreamEncoder(mid, model)
    frames = [enc.start(reply.usage.input_tokens)]
    frames.extend(enc.text(p) for p in pieces)
    frames.extend(enc.tool_calls(f) for f in stream_fragments(reply.tool_calls))
    last = len(frames)
    frames.append(enc.end(reply.finish, reply.usage))
    return await send_stream(request, knobs, frames, 1, last, SSE)
