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

from endpoint_desk.sim.errors import OPENAI, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.text import count_tokens, limit, openai_message, reply_text, split_chunks
from endpoint_desk.sim.writers import SSE, json_response, send_body, send_stream

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
    """``POST /v1/chat/completions``, plain and streamed."""
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
    knobs, model = await sim.gate(request, OPENAI, route, model_raw, body)
    messages = [openai_message(m) for m in raw_messages]
    text = reply_text(sim.state, model, messages, knobs)
    text, cut = limit(text, body.get("max_completion_tokens") or body.get("max_tokens"))
    finish = "length" if cut else "stop"
    pt = sum(count_tokens(m["content"]) for m in messages)
    ct = count_tokens(text)
    usage = {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct}
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    pieces = split_chunks(text, knobs.chunks)
    if not body.get("stream"):
        answer = {
            "id": cid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            "system_fingerprint": None,
        }
        return await send_body(request, knobs, orjson.dumps(answer), len(pieces))
    opts = body.get("stream_options")
    include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        obj: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if include_usage:
            obj["usage"] = None
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    frames = [chunk({"role": "assistant", "content": "", "refusal": None}, None)]
    frames.extend(chunk({"content": p}, None) for p in pieces)
    frames.append(chunk({}, finish))
    if include_usage:
        final = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": None,
            "choices": [],
            "usage": usage,
        }
        frames.append(b"data: " + orjson.dumps(final) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return await send_stream(request, knobs, frames, 1, 1 + len(pieces), SSE)
