"""The sim as an aiohttp application: :func:`create_app` and its routing table.

Each protocol's handlers live in their own module (:mod:`~endpoint_desk.sim.openai`,
:mod:`~endpoint_desk.sim.anthropic`, :mod:`~endpoint_desk.sim.gemini`,
:mod:`~endpoint_desk.sim.ollama`, :mod:`~endpoint_desk.sim.jobs`,
:mod:`~endpoint_desk.sim.control`); what every API request goes through (counting,
keys, knobs, failures) is :mod:`endpoint_desk.sim.gate`. See :mod:`endpoint_desk.sim`
for the routes and the knob syntax.
"""

from __future__ import annotations

from aiohttp import web

from endpoint_desk.sim import anthropic, control, embeddings, gemini, jobs, ollama, openai
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.knobs import SimConfig
from endpoint_desk.sim.state import STATE_KEY, SimState

__all__ = ["create_app", "v1_models"]


def create_app(config: SimConfig | None = None) -> web.Application:
    """The sim as an aiohttp application (state under ``app[STATE_KEY]``).

    ``config`` is used (and mutated by ``POST /sim/config``) in place, so a test that
    holds it may change knobs between requests.
    """
    config = config if config is not None else SimConfig()
    config.validate()
    sim = Sim(SimState(config))
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[STATE_KEY] = sim.state
    w = sim.wrap
    served = sim.served = config.served()
    add_get, add_post = app.router.add_get, app.router.add_post
    if "openai" in served or "anthropic" in served:
        add_get("/v1/models", w("GET /v1/models", v1_models))
    if "openai" in served:
        add_get("/v1/models/{model}", w("GET /v1/models/{model}", openai.model))
        add_post("/v1/chat/completions", w("POST /v1/chat/completions", openai.chat))
        add_post("/v1/embeddings", w("POST /v1/embeddings", embeddings.openai_embeddings))
    if "anthropic" in served:
        add_post("/v1/messages", w("POST /v1/messages", anthropic.messages))
    if "gemini" in served:
        add_get("/v1beta/models", w("GET /v1beta/models", gemini.models))
        add_get("/v1beta/models/{name}", w("GET /v1beta/models/{name}", gemini.model))
        add_post("/v1beta/models/{name}", w("POST /v1beta/models/{name}", gemini.call))
    if "ollama" in served:
        add_get("/", ollama.root)
        add_get("/api/tags", w("GET /api/tags", ollama.tags))
        add_get("/api/version", w("GET /api/version", ollama.version))
        add_post("/api/chat", w("POST /api/chat", ollama.chat))
        add_post("/api/embed", w("POST /api/embed", embeddings.ollama_embed))
    if "jobs" in served:
        add_post("/jobs", w("POST /jobs", jobs.job_submit))
        add_get("/jobs/{id}", w("GET /jobs/{id}", jobs.job_poll))
    if "custom" in served:
        add_post("/custom/generate", w("POST /custom/generate", jobs.custom_generate))
    app.router.add_get("/sim", sim.bind(control.info))
    app.router.add_get("/sim/stats", sim.bind(control.stats))
    app.router.add_post("/sim/reset", sim.bind(control.reset))
    app.router.add_get("/sim/config", sim.bind(control.config_get))
    app.router.add_post("/sim/config", sim.bind(control.config_post))
    return app


async def v1_models(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``GET /v1/models``: Anthropic's list with ``anthropic-version``, else OpenAI's.

    An Anthropic-only sim always answers in Anthropic's shape (400 without the header).
    """
    if "anthropic" in sim.served and (
        "anthropic-version" in request.headers or "openai" not in sim.served
    ):
        return await anthropic.models(sim, request)
    return await openai.models(sim, request)
