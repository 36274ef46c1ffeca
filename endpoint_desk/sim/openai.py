"""The sim's OpenAI API: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST
/v1/chat/completions`` (plain, and SSE ``chat.completion.chunk`` lines ending in ``data:
[DONE]``; with ``stream_options.include_usage`` a last chunk carries the usage).

``GET /v1/models`` is shared with Anthropic; :func:`endpoint_desk.sim.app.v1_models`
picks the shape.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import ChatRequest
from endpoint_desk.core.tools import stream_fragments
from endpoint_desk.sim.errors import OPENAI, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.script import decide
from endpoint_desk.sim.text import split_chunks
from endpoint_desk.sim.writers import SSE, json_response, send_body, send_stream
from endpoint_desk.wire.openai.encode import DONE, ChunkEncoder, completion

__all__ = ["chat", "model", "models"]


def _model_entry(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "desk-sim"}


async def models(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1/models`` in OpenAI's list shape."""
    sim.auth(request, OPENAI)
    await sim.gate(request, OPENAI, "GET /v1/models", None)
    return json_response({"object": "list", "data": [_model_entry(m) for m in sim.config.models]})


async def model(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1/models/{model}`` (OpenAI retrieve)."""
    sim.auth(request, OPENAI)
    _, model = await sim.gate(
        request, OPENAI, "GET /v1/models/{model}", request.match_info["model"]
    )
    return json_response(_model_entry(model))


async def chat(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /v1/chat/completions``, plain and streamed (text or tool calls)."""
    route = "POST /v1/chat/completions"
    sim.auth(request, OPENAI)
    body = await sim.body(request, OPENAI)
    model_raw = body.get("model")
    if not isinstance(model_raw, str) or not model_raw:
        raise fail(
            OPENAI, 400, "you must provide a model parameter", code="missing_required_parameter"
        )
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise fail(OPENAI, 400, "'messages' must be a non-empty array", code="invalid_type")
    try:
        creq = ChatRequest.from_openai(body)
    except BadRequest as exc:
        raise fail(OPENAI, 400, exc.message, code="invalid_request_error") from None
    knobs, model = await sim.gate(request, OPENAI, route, model_raw, body)
    reply = decide(sim.state, model, creq, knobs)
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    pieces = split_chunks(reply.text, knobs.chunks)
    if not creq.stream:
        answer = completion(
            cid,
            model,
            created,
            reply.text,
            finish=reply.finish,
            usage=reply.usage,
            tool_calls=reply.tool_calls,
        )
        return await send_body(request, knobs, orjson.dumps(answer), len(pieces))
    enc = ChunkEncoder(cid, model, created, usage_null=creq.include_usage)
    frames = [enc.role()]
    frames.extend(enc.delta(p) for p in pieces)
    if reply.tool_calls:
        frames.extend(enc.tool_calls(f) for f in stream_fragments(reply.tool_calls))
    last = len(frames)
    frames.append(enc.finish(reply.finish))
    if creq.include_usage:
        frames.append(enc.usage(reply.usage))
    frames.append(DONE)
    return await send_stream(request, knobs, frames, 1, last, SSE)
