"""What every API request goes through before its protocol's handler answers.

:class:`Sim` is the context each handler gets: the app's state, and the shared steps:
counting (:meth:`Sim.wrap`), the key check in each protocol's style (:meth:`Sim.auth`),
the JSON body (:meth:`Sim.body`), and :meth:`Sim.gate`, which applies the request's
knobs (latency, hang, 429, random failure) and checks the model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.sim.errors import ANTHROPIC, GEMINI, OLLAMA, OPENAI, PLAIN, Reply, fail
from endpoint_desk.sim.knobs import KnobError, Knobs, SimConfig, header_knobs, split_model
from endpoint_desk.sim.state import SimState

__all__ = ["Handler", "Sim", "SimHandler"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp handler."""

SimHandler = Callable[["Sim", web.Request], Awaitable[web.StreamResponse]]
"""A sim handler: gets the :class:`Sim` and the request."""

_MASKED = {"authorization", "x-api-key", "x-goog-api-key"}


class Sim:
    """The shared context and steps of one sim app's handlers."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.served: list[str] = []

    @property
    def config(self) -> SimConfig:
        """The live, mutable config (``POST /sim/config`` changes it in place)."""
        return self.state.config

    def bind(self, handler: SimHandler) -> Handler:
        """``handler`` as an aiohttp handler of this sim (not counted, no knobs); a
        ``Reply`` it raises (a body that is not JSON) becomes its response."""

        async def bound(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(self, request)
            except Reply as reply:
                return reply.response

        return bound

    def wrap(self, route: str, handler: SimHandler) -> Handler:
        """Count the request, track in-flight, turn ``Reply`` into its response."""
        stats = self.state.stats

        async def wrapped(request: web.Request) -> web.StreamResponse:
            stats.requests[route] = stats.requests.get(route, 0) + 1
            stats.in_flight += 1
            if stats.in_flight > stats.max_in_flight:
                stats.max_in_flight = stats.in_flight
            status = 599
            try:
                try:
                    resp = await handler(self, request)
                except Reply as reply:
                    resp = reply.response
                status = resp.status
                return resp
            finally:
                stats.in_flight -= 1
                key = str(status)
                stats.statuses[key] = stats.statuses.get(key, 0) + 1

        return wrapped

    def auth(self, request: web.Request, proto: str) -> None:
        """Check the key the way ``proto`` sends it; raise its own refusal if wrong."""
        key = self.config.api_key
        if not key:
            return
        headers = request.headers
        bearer = headers.get("Authorization", "")
        given: str | None = bearer[7:] if bearer[:7].lower() == "bearer " else None
        if proto == ANTHROPIC:
            given = headers.get("x-api-key", given)
        elif proto == GEMINI:
            given = headers.get("x-goog-api-key") or request.query.get("key")
            if not given:
                raise fail(
                    GEMINI,
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity.",
                )
            if given != key:
                raise fail(
                    GEMINI,
                    400,
                    "API key not valid. Please pass a valid API key.",
                    code="API_KEY_INVALID",
                )
            return
        elif proto == PLAIN:
            given = headers.get("x-api-key", given)
        if given == key:
            return
        if proto == OPENAI:
            msg = (
                "You didn't provide an API key."
                if given is None
                else "Incorrect API key provided: sim key mismatch."
            )
            raise fail(OPENAI, 401, msg, code="invalid_api_key")
        if proto == ANTHROPIC:
            raise fail(ANTHROPIC, 401, "invalid x-api-key")
        if proto == OLLAMA:
            raise fail(OLLAMA, 401, "unauthorized")
        raise fail(PLAIN, 401, "missing or wrong API key", code="unauthorized")

    async def body(self, request: web.Request, proto: str) -> dict[str, Any]:
        """The request's JSON object body (a 400 in ``proto``'s shape otherwise)."""
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise fail(proto, 400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise fail(proto, 400, "request body must be a JSON object")
        return body

    async def gate(
        self,
        request: web.Request,
        proto: str,
        route: str,
        model_raw: str | None,
        body: dict[str, Any] | None = None,
    ) -> tuple[Knobs, str]:
        """Apply knobs before the answer: latency, hang, 429, random failure, model check.

        Returns the request's knobs and the model name without its knob suffix.
        """
        config = self.config
        model = ""
        try:
            overrides = header_knobs(request.headers) if _has_sim_header(request) else {}
            if model_raw:
                model, suffix = split_model(model_raw)
                overrides.update(suffix)
            knobs: Knobs = config
            if overrides:
                knobs = config.with_overrides(overrides)
                knobs.validate()
        except KnobError as exc:
            raise fail(proto, 400, str(exc)) from None
        if body is not None:
            self.state.stats.last[route] = {
                "model": model_raw,
                "body": body,
                "query": {str(k): v for k, v in request.query.items()},
                "headers": {
                    str(k): ("***" if k.lower() in _MASKED else v)
                    for k, v in request.headers.items()
                },
            }
        if knobs.latency:
            await asyncio.sleep(knobs.latency)
        if knobs.hang:
            await asyncio.Event().wait()
        if knobs.rate_limit:
            self.state.stats.simulated_failures += 1
            raise fail(
                proto,
                429,
                f"simulated rate limit; retry after {knobs.rate_limit}s",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(knobs.rate_limit)},
            )
        if knobs.fail_rate and self.state.roll(knobs) < knobs.fail_rate:
            self.state.stats.simulated_failures += 1
            raise fail(proto, knobs.fail_status, f"simulated failure (fail_rate={knobs.fail_rate})")
        if model_raw is not None and not self.known(model, proto):
            if proto == OPENAI:
                raise fail(
                    OPENAI,
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
            if proto == OLLAMA:
                raise fail(OLLAMA, 404, f'model "{model}" not found, try pulling it first')
            if proto == GEMINI:
                raise fail(
                    GEMINI,
                    404,
                    f"models/{model} is not found for API version v1beta, or is not supported "
                    "for generateContent.",
                )
            raise fail(proto, 404, f"model: {model}", code="model_not_found")
        return knobs, model

    def known(self, model: str, proto: str) -> bool:
        """Whether the sim serves ``model`` (Ollama names also with ``:latest``)."""
        models = self.config.models
        if model in models:
            return True
        return proto == OLLAMA and model.endswith(":latest") and model[:-7] in models


def _has_sim_header(request: web.Request) -> bool:
    return any(key[:6].lower() == "x-sim-" for key in request.headers)
