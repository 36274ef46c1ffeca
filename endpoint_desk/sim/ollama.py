"""The sim's Ollama API: ``GET /`` ("Ollama is running"), ``GET /api/tags``, ``GET
/api/version``, ``POST /api/chat`` (NDJSON stream by default; ``stream: false`` one
JSON). Model names resolve with or without ``:latest``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.sim.errors import OLLAMA, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.script import decide
from endpoint_desk.sim.text import split_chunks
from endpoint_desk.sim.writers import NDJSON, json_response, send_body, send_stream
from endpoint_desk.wire.ollama.request import parse_chat_request
from endpoint_desk.wire.ollama.response import done_line, message_line

__all__ = ["OLLAMA_VERSION", "chat", "root", "tags", "version"]

OLLAMA_VERSION = "0.5.7"


async def root(request: web.Request) -> web.StreamResponse:
    """``GET /``: Ollama's liveness text (not counted, no knobs)."""
    return web.Response(text="Ollama is running")


async def tags(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /api/tags``."""
    sim.auth(request, OLLAMA)
    await sim.gate(request, OLLAMA, "GET /api/tags", None)
    models = []
    for m in sim.config.models:
        name = m if ":" in m else m + ":latest"
        models.append(
            {
                "name": name,
                "model": name,
                "modified_at": "2024-10-22T00:00:00.000000000Z",
                "size": 2019393189,
                "digest": uuid.uuid5(uuid.NAMESPACE_DNS, m).hex * 2,
                "details": {
                    "parent_model": "",
                    "format": "gguf",
                    "family": "sim",
                    "families": ["sim"],
                    "parameter_size": "3.2B",
                    "quantization_level": "Q4_K_M",
                },
            }
        )
    return json_response({"models": models})


async def version(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /api/version``."""
    sim.auth(request, OLLAMA)
    await sim.gate(request, OLLAMA, "GET /api/version", None)
    return json_response({"version": OLLAMA_VERSION})


async def chat(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /api/chat``: NDJSON stream by default, one JSON with ``stream: false``."""
    route = "POST /api/chat"
    sim.auth(request, OLLAMA)
    body = await sim.body(request, OLLAMA)
    model_raw = body.get("model")
    if not isinstance(model_raw, str) or not model_raw:
        raise fail(OLLAMA, 400, "model is required")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list):
        raise fail(OLLAMA, 400, "messages must be an array")
    try:
        creq = parse_chat_request(body)
    except BadRequest as exc:
        raise fail(OLLAMA, 400, exc.message) from None
    knobs, model = await sim.gate(request, OLLAMA, route, model_raw, body)
    reply = decide(sim.state, model, creq, knobs)
    now = _iso_now()
    started = time.perf_counter_ns()
    pieces = split_chunks(reply.text, knobs.chunks)

    def final(text: str, calls: list[dict[str, Any]] | None) -> bytes:
        line = done_line(
            model,
            now,
            text,
            finish=reply.finish,
            usage=reply.usage,
            elapsed_ns=time.perf_counter_ns() - started,
            tool_calls=calls,
        )
        return orjson.dumps(line)

    if not creq.stream:
        return await send_body(request, knobs, final(reply.text, reply.tool_calls), len(pieces))
    frames = [orjson.dumps(message_line(model, now, p)) + b"\n" for p in pieces]
    if reply.tool_calls:  # Ollama sends the calls whole, in one line
        frames.append(orjson.dumps(message_line(model, now, "", reply.tool_calls)) + b"\n")
    last = len(frames)
    frames.append(final("", None) + b"\n")
    return await send_stream(request, knobs, frames, 0, last, NDJSON)


def _iso_now() -> str:
    """Now in Ollama's ``created_at`` form (UTC, nanoseconds)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
