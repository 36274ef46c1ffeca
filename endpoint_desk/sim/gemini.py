"""The sim's Gemini API: ``GET /v1beta/models[/{m}]``, ``POST
/v1beta/models/{m}:generateContent`` and ``:streamGenerateContent`` (``?alt=sse``: SSE;
without it one JSON array). The ``safety`` knob answers with a SAFETY block.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import Usage
from endpoint_desk.sim.embeddings import gemini_embed
from endpoint_desk.sim.errors import GEMINI, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.knobs import Knobs
from endpoint_desk.sim.script import decide
from endpoint_desk.sim.text import count_tokens, split_chunks
from endpoint_desk.sim.writers import JSON, SSE, json_response, send_body, send_stream
from endpoint_desk.wire.gemini.request import parse_generate_request
from endpoint_desk.wire.gemini.response import response_body

__all__ = ["call", "model", "models"]

_SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
]


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "version": "001",
        "displayName": name,
        "description": "desk sim model",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 8192,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "embedContent",
            "batchEmbedContents",
        ],
    }


async def models(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1beta/models``."""
    sim.auth(request, GEMINI)
    await sim.gate(request, GEMINI, "GET /v1beta/models", None)
    return json_response({"models": [_model_entry(m) for m in sim.config.models]})


async def model(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1beta/models/{model}``."""
    sim.auth(request, GEMINI)
    _, model = await sim.gate(
        request, GEMINI, "GET /v1beta/models/{name}", request.match_info["name"]
    )
    return json_response(_model_entry(model))


async def call(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``."""
    sim.auth(request, GEMINI)
    model_raw, _, method = request.match_info["name"].rpartition(":")
    if method in ("embedContent", "batchEmbedContents") and model_raw:
        return await gemini_embed(sim, request, model_raw, method)
    if method not in ("generateContent", "streamGenerateContent") or not model_raw:
        raise fail(
            GEMINI,
            404,
            f"unknown method {method!r}; use generateContent, streamGenerateContent, "
            "embedContent or batchEmbedContents",
        )
    route = f"POST /v1beta/models:{method}"
    body = await sim.body(request, GEMINI)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise fail(GEMINI, 400, "* GenerateContentRequest.contents: contents is not specified")
    try:
        creq = parse_generate_request(body)
    except BadRequest as exc:
        raise fail(GEMINI, 400, f"* GenerateContentRequest: {exc.message}") from None
    knobs, model = await sim.gate(request, GEMINI, route, model_raw, body)
    pt = sum(count_tokens(m.text) for m in creq.messages)
    version = model
    rid = uuid.uuid4().hex[:22]
    stream = method == "streamGenerateContent"
    sse = request.query.get("alt") == "sse"
    if knobs.safety == "prompt":
        blocked = {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY_RATINGS},
            "usageMetadata": {"promptTokenCount": pt, "totalTokenCount": pt},
            "modelVersion": version,
            "responseId": rid,
        }
        return await _out(request, knobs, [blocked], 0, 0, stream, sse)
    if knobs.safety == "response":
        blocked = {
            "candidates": [
                {"finishReason": "SAFETY", "index": 0, "safetyRatings": _SAFETY_RATINGS}
            ],
            "usageMetadata": {
                "promptTokenCount": pt,
                "candidatesTokenCount": 0,
                "totalTokenCount": pt,
            },
            "modelVersion": version,
            "responseId": rid,
        }
        return await _out(request, knobs, [blocked], 0, 0, stream, sse)
    reply = decide(sim.state, model, creq, knobs)
    pieces = split_chunks(reply.text, knobs.chunks)
    if not stream:
        answer = response_body(
            version,
            reply.text,
            finish=reply.finish,
            usage=reply.usage,
            tool_calls=reply.tool_calls,
        )
        answer["responseId"] = rid
        return await send_body(request, knobs, orjson.dumps(answer), len(pieces))
    partial = Usage(reply.usage.input_tokens, 0)
    objs = [response_body(version, p, finish=None, usage=partial) for p in pieces]
    last = response_body(
        version, "", finish=reply.finish, usage=reply.usage, tool_calls=reply.tool_calls
    )
    if objs and not reply.tool_calls:  # the last text piece carries the finish, as upstream
        last = response_body(version, pieces[-1], finish=reply.finish, usage=reply.usage)
        objs[-1] = last
    else:
        objs.append(last)
    for obj in objs:
        obj["responseId"] = rid
    return await _out(request, knobs, objs, 0, len(objs), True, sse)


async def _out(
    request: web.Request,
    knobs: Knobs,
    objs: list[dict[str, Any]],
    first: int,
    last: int,
    stream: bool,
    sse: bool,
) -> web.StreamResponse:
    """``objs`` as one JSON answer, an SSE stream, or (without ``alt=sse``) one JSON array
    streamed; ``objs[first:last]`` are the content objects."""
    if not stream:
        return await send_body(request, knobs, orjson.dumps(objs[0]), 1)
    if sse:
        frames = [b"data: " + orjson.dumps(o) + b"\r\n\r\n" for o in objs]
        return await send_stream(request, knobs, frames, first, last, SSE)
    # Without alt=sse Gemini streams one JSON array.
    frames = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(o) for i, o in enumerate(objs)]
    frames.append(b"]")
    return await send_stream(request, knobs, frames, first, last, JSON)
