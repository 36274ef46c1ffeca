"""The sim's job-style and custom REST APIs (the template adapter's test beds).

- Jobs: ``POST /jobs {"prompt"|"messages", "model"?}`` -> ``{"id", "status":
  "running"}``; ``GET /jobs/{id}`` -> ``running`` until ``job_delay`` passed, then
  ``done`` with ``result: {text, usage}`` (or ``failed`` with ``job_fail``).
- Custom: ``POST /custom/generate {"input", "model"?}`` -> ``{"output": {"text"},
  "meta": {"tokens": {"in", "out"}, "model"}}``.

Both take a Bearer or ``x-api-key`` key and answer errors in the plain shape.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.sim.errors import PLAIN, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.state import Job
from endpoint_desk.sim.text import count_tokens, openai_message, reply_text, split_chunks
from endpoint_desk.sim.writers import send_body

__all__ = ["custom_generate", "job_poll", "job_submit"]


async def job_submit(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /jobs {"prompt": ...}`` -> ``{"id", "status": "running"}``."""
    route = "POST /jobs"
    sim.auth(request, PLAIN)
    body = await sim.body(request, PLAIN)
    messages = _plain_messages(body)
    if messages is None:
        raise fail(PLAIN, 400, "'prompt' (a string) or 'messages' (an array) is required")
    model_raw = body.get("model")
    knobs, model = await sim.gate(
        request, PLAIN, route, model_raw if isinstance(model_raw, str) else None, body
    )
    text = reply_text(sim.state, model, messages, knobs)
    it = sum(count_tokens(m["content"]) for m in messages)
    ot = count_tokens(text)
    job_id = "job_" + uuid.uuid4().hex[:16]
    sim.state.jobs[job_id] = Job(
        text=text,
        usage={"input_tokens": it, "output_tokens": ot, "total_tokens": it + ot},
        ready_at=time.monotonic() + knobs.job_delay,
        fail=knobs.job_fail,
    )
    data = orjson.dumps({"id": job_id, "status": "running"})
    return await send_body(request, knobs, data, 1)


async def job_poll(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /jobs/{id}`` -> running, then done (with result) or failed."""
    sim.auth(request, PLAIN)
    knobs, _ = await sim.gate(request, PLAIN, "GET /jobs/{id}", None)
    job_id = request.match_info["id"]
    job = sim.state.jobs.get(job_id)
    if job is None:
        raise fail(PLAIN, 404, f"no job {job_id!r}", code="not_found")
    out: dict[str, Any]
    if time.monotonic() < job.ready_at:
        out = {"id": job_id, "status": "running"}
    elif job.fail:
        out = {"id": job_id, "status": "failed", "error": {"message": "simulated job failure"}}
    else:
        out = {"id": job_id, "status": "done", "result": {"text": job.text, "usage": job.usage}}
    return await send_body(request, knobs, orjson.dumps(out), 1)


async def custom_generate(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /custom/generate {"input": ...}`` -> ``{"output": {"text"}, "meta": ...}``."""
    route = "POST /custom/generate"
    sim.auth(request, PLAIN)
    body = await sim.body(request, PLAIN)
    inp = body.get("input")
    if not isinstance(inp, str):
        raise fail(PLAIN, 400, "'input' (a string) is required")
    model_raw = body.get("model")
    knobs, model = await sim.gate(
        request, PLAIN, route, model_raw if isinstance(model_raw, str) else None, body
    )
    messages = [{"role": "user", "content": inp}]
    text = reply_text(sim.state, model, messages, knobs)
    out = {
        "output": {"text": text},
        "meta": {
            "tokens": {"in": count_tokens(inp), "out": count_tokens(text)},
            "model": model or None,
        },
    }
    return await send_body(request, knobs, orjson.dumps(out), len(split_chunks(text, knobs.chunks)))


def _plain_messages(body: dict[str, Any]) -> list[dict[str, str]] | None:
    """The messages of a job: ``prompt`` (or ``input``) text, or a ``messages`` array."""
    prompt = body.get("prompt", body.get("input"))
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = body.get("messages")
    if isinstance(messages, list):
        return [openai_message(m) for m in messages]
    return None
