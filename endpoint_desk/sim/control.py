"""The sim's control routes (no auth, not counted, no knobs): ``GET /sim`` (what is
served), ``GET /sim/stats``, ``POST /sim/reset``, ``GET /sim/config`` and ``POST
/sim/config`` (a JSON object of knobs and/or ``models``, ``api_key``, ``replies``,
``script``).
"""

from __future__ import annotations

from aiohttp import web

from endpoint_desk.sim.errors import PLAIN, error_response
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.knobs import KnobError
from endpoint_desk.sim.writers import json_response

__all__ = ["PROTOCOLS", "config_get", "config_post", "info", "reset", "stats"]

PROTOCOLS = {
    "openai": ["GET /v1/models", "POST /v1/chat/completions"],
    "anthropic": ["POST /v1/messages", "GET /v1/models (with anthropic-version)"],
    "gemini": [
        "GET /v1beta/models",
        "POST /v1beta/models/{model}:generateContent",
        "POST /v1beta/models/{model}:streamGenerateContent?alt=sse",
    ],
    "ollama": ["GET /", "GET /api/tags", "GET /api/version", "POST /api/chat"],
    "jobs": ["POST /jobs", "GET /jobs/{id}"],
    "custom": ["POST /custom/generate"],
    "control": ["GET /sim", "GET /sim/stats", "POST /sim/reset", "GET|POST /sim/config"],
}
"""The routes of each protocol group, as ``GET /sim`` lists them (and ``desk sim`` prints)."""


async def info(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /sim``: what this sim serves."""
    return json_response(
        {
            "service": "desk-sim",
            "protocols": {p: PROTOCOLS[p] for p in [*sim.served, "control"]},
            "models": list(sim.config.models),
            "auth": bool(sim.config.api_key),
        }
    )


async def stats(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /sim/stats``."""
    return json_response(sim.state.stats.to_json())


async def reset(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /sim/reset``: zero the counters, forget jobs, restart script and dice."""
    sim.state.reset()
    return json_response({"ok": True})


async def config_get(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /sim/config``."""
    return json_response(sim.config.to_json())


async def config_post(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /sim/config {knob: value, ...}``: change server-level knobs now."""
    body = await sim.body(request, PLAIN)
    old_seed = sim.config.seed
    try:
        sim.config.update(body)
    except KnobError as exc:
        return error_response(PLAIN, 400, str(exc))
    if "seed" in body or sim.config.seed != old_seed:
        sim.state.reseed()
    return json_response(sim.config.to_json())
