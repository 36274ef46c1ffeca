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

from endpoint_desk.sim.errors import OLLAMA, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.text import count_tokens, limit, openai_message, reply_text, split_chunks
from endpoint_desk.sim.writers import NDJSON, json_response, send_body, send_stream

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
    knobs, model = await sim.gate(request, OLLAMA, route, model_raw, body)
    messages = [openai_message(m) for m in raw_messages]
    text = reply_text(sim.state, model, messages, knobs)
    options = body.get("options")
    text, cut = limit(text, options.get("num_predict") if isinstance(options, dict) else None)
    pt = sum(count_tokens(m["content"]) for m in messages)
    ct = count_tokens(text)
    now = _iso_now()
    started = time.perf_counter_ns()
    pieces = split_chunks(text, knobs.chunks)

    def final(content: str) -> dict[str, Any]:
        total = max(1, time.perf_counter_ns() - started)
        return {
            "model": model,
            "created_at": now,
            "message": {"role": "assistant", "content": content},
            "done_reason": "length" if cut else "stop",
            "done": True,
            "total_duration": total,
            "load_duration": 0,
            "prompt_eval_count": pt,
            "prompt_eval_duration": total // 4,
            "eval_count": ct,
            "eval_duration": total - total // 4,
        }

    if body.get("stream", True) is False:
        data = orjson.dumps(final(text))
        return await send_body(request, knobs, data, len(pieces))
    frames = [
        orjson.dumps(
            {
                "model": model,
                "created_at": now,
                "message": {"role": "assistant", "content": p},
                "done": False,
            }
        )
        + b"\n"
        for p in pieces
    ]
    frames.append(orjson.dumps(final("")) + b"\n")
    return await send_stream(request, knobs, frames, 0, len(pieces), NDJSON)


def _iso_now() -> str:
    """Now in Ollama's ``created_at`` form (UTC, nanoseconds)."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
