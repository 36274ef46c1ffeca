"""The simulated upstream's aiohttp application: every protocol, every knob.

See :mod:`endpoint_desk.sim` for the routes and the knob syntax.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.sim.knobs import KnobError, Knobs, SimConfig, header_knobs, split_model

__all__ = ["STATE_KEY", "SimState", "SimStats", "count_tokens", "create_app", "split_chunks"]

OPENAI, ANTHROPIC, GEMINI, OLLAMA, PLAIN = "openai", "anthropic", "gemini", "ollama", "plain"
JSON = "application/json"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
OLLAMA_VERSION = "0.5.7"
_MASKED = {"authorization", "x-api-key", "x-goog-api-key"}


def count_tokens(text: str) -> int:
    """The sim's deterministic token count: ``ceil(len(text) / 4)``."""
    return (len(text) + 3) // 4


def split_chunks(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` near-equal pieces (``n == 0``: one piece per word).

    The pieces always join back to ``text``; an empty text gives no pieces.
    """
    if not text:
        return []
    if n <= 0:
        parts = text.split(" ")
        pieces = [p + " " for p in parts[:-1]]
        if parts[-1]:
            pieces.append(parts[-1])
        return pieces
    n = min(n, len(text))
    size, extra = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


@dataclass
class SimStats:
    """Counters the tests read (also served as JSON by ``GET /sim/stats``)."""

    requests: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    simulated_failures: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    last: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Requests served on all API routes (``/sim/*`` not counted)."""
        return sum(self.requests.values())

    def count(self, route: str) -> int:
        """Requests served on one route, e.g. ``"POST /v1/chat/completions"``."""
        return self.requests.get(route, 0)

    def reset(self) -> None:
        """Zero every counter (requests still in flight stay counted in ``in_flight``)."""
        self.requests.clear()
        self.statuses.clear()
        self.simulated_failures = 0
        self.max_in_flight = self.in_flight
        self.last.clear()

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON-able dict."""
        return {
            "total": self.total,
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "simulated_failures": self.simulated_failures,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "last": self.last,
        }


@dataclass
class _Job:
    text: str
    usage: dict[str, int]
    ready_at: float
    fail: bool


@dataclass
class SimState:
    """Everything one sim app holds: its (mutable) config, counters, jobs, random state."""

    config: SimConfig
    stats: SimStats = field(default_factory=SimStats)
    jobs: dict[str, _Job] = field(default_factory=dict)
    script_index: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _rng_seed: int | None = None
    _seeded: dict[int, random.Random] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """Restart the failure dice from the config's seed (and forget per-request seeds)."""
        self._rng_seed = self.config.seed
        self._rng = random.Random(self.config.seed)
        self._seeded.clear()

    def roll(self, knobs: Knobs) -> float:
        """One draw in [0, 1) from the generator of this request's seed."""
        if knobs is not self.config and knobs.seed is not None and knobs.seed != self.config.seed:
            rng = self._seeded.get(knobs.seed)
            if rng is None:
                rng = self._seeded[knobs.seed] = random.Random(knobs.seed)
            return rng.random()
        if self.config.seed != self._rng_seed:
            self.reseed()
        return self._rng.random()

    def reset(self) -> None:
        """Zero the counters, forget jobs, restart the script and the dice."""
        self.stats.reset()
        self.jobs.clear()
        self.script_index = 0
        self.reseed()


STATE_KEY = web.AppKey("sim_state", SimState)


class _Reply(Exception):
    """Raised inside a handler to answer at once with ``response``."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


# --------------------------------------------------------------------------- errors

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "rate_limit_exceeded",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def error_response(
    proto: str,
    status: int,
    message: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in the protocol's own JSON shape."""
    body: Any
    if proto == OPENAI:
        etype = _OPENAI_TYPES.get(
            status, "server_error" if status >= 500 else "invalid_request_error"
        )
        body = {"error": {"message": message, "type": etype, "param": None, "code": code}}
    elif proto == ANTHROPIC:
        etype = _ANTHROPIC_TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        body = {"type": "error", "error": {"type": etype, "message": message}}
    elif proto == GEMINI:
        gstatus = _GOOGLE_STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
        err: dict[str, Any] = {"code": status, "message": message, "status": gstatus}
        if code:
            err["details"] = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": code,
                    "domain": "googleapis.com",
                }
            ]
        body = {"error": err}
    elif proto == OLLAMA:
        body = {"error": message}
    else:
        body = {"error": {"message": message, "code": code or status}}
    return _json_response(body, status, headers)


def _fail(proto: str, status: int, message: str, **kw: Any) -> _Reply:
    return _Reply(error_response(proto, status, message, **kw))


# --------------------------------------------------------------------------- the app


def create_app(config: SimConfig | None = None) -> web.Application:
    """The sim as an aiohttp application (state under ``app[STATE_KEY]``).

    ``config`` is used (and mutated by ``POST /sim/config``) in place, so a test that
    holds it may change knobs between requests.
    """
    config = config if config is not None else SimConfig()
    config.validate()
    sim = _Sim(SimState(config))
    app = web.Application(client_max_size=32 * 1024 * 1024)
    app[STATE_KEY] = sim.state
    w = sim.wrap
    served = sim.served = config.served()
    add_get, add_post = app.router.add_get, app.router.add_post
    if "openai" in served or "anthropic" in served:
        add_get("/v1/models", w("GET /v1/models", sim.models_v1))
    if "openai" in served:
        add_get("/v1/models/{model}", w("GET /v1/models/{model}", sim.model_v1))
        add_post("/v1/chat/completions", w("POST /v1/chat/completions", sim.openai_chat))
    if "anthropic" in served:
        add_post("/v1/messages", w("POST /v1/messages", sim.anthropic_messages))
    if "gemini" in served:
        add_get("/v1beta/models", w("GET /v1beta/models", sim.gemini_models))
        add_get("/v1beta/models/{name}", w("GET /v1beta/models/{name}", sim.gemini_model))
        add_post("/v1beta/models/{name}", w("POST /v1beta/models/{name}", sim.gemini_call))
    if "ollama" in served:
        add_get("/", sim.ollama_root)
        add_get("/api/tags", w("GET /api/tags", sim.ollama_tags))
        add_get("/api/version", w("GET /api/version", sim.ollama_version))
        add_post("/api/chat", w("POST /api/chat", sim.ollama_chat))
    if "jobs" in served:
        add_post("/jobs", w("POST /jobs", sim.job_submit))
        add_get("/jobs/{id}", w("GET /jobs/{id}", sim.job_poll))
    if "custom" in served:
        add_post("/custom/generate", w("POST /custom/generate", sim.custom_generate))
    app.router.add_get("/sim", sim.sim_info)
    app.router.add_get("/sim/stats", sim.sim_stats)
    app.router.add_post("/sim/reset", sim.sim_reset)
    app.router.add_get("/sim/config", sim.sim_config_get)
    app.router.add_post("/sim/config", sim.sim_config_post)
    return app


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Sim:
    """The handlers of one sim app."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.served: list[str] = []

    @property
    def config(self) -> SimConfig:
        return self.state.config

    # ------------------------------------------------------------------ plumbing

    def wrap(self, route: str, handler: Handler) -> Handler:
        """Count the request, track in-flight, turn ``_Reply`` into its response."""
        stats = self.state.stats

        async def wrapped(request: web.Request) -> web.StreamResponse:
            stats.requests[route] = stats.requests.get(route, 0) + 1
            stats.in_flight += 1
            if stats.in_flight > stats.max_in_flight:
                stats.max_in_flight = stats.in_flight
            status = 599
            try:
                try:
                    resp = await handler(request)
                except _Reply as reply:
                    resp = reply.response
                status = resp.status
                return resp
            finally:
                stats.in_flight -= 1
                key = str(status)
                stats.statuses[key] = stats.statuses.get(key, 0) + 1

        return wrapped

    def _auth(self, request: web.Request, proto: str) -> None:
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
                raise _fail(
                    GEMINI,
                    403,
                    "Method doesn't allow unregistered callers (callers without established "
                    "identity). Please use API Key or other form of API consumer identity.",
                )
            if given != key:
                raise _fail(
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
            raise _fail(OPENAI, 401, msg, code="invalid_api_key")
        if proto == ANTHROPIC:
            raise _fail(ANTHROPIC, 401, "invalid x-api-key")
        if proto == OLLAMA:
            raise _fail(OLLAMA, 401, "unauthorized")
        raise _fail(PLAIN, 401, "missing or wrong API key", code="unauthorized")

    async def _body(self, request: web.Request, proto: str) -> dict[str, Any]:
        raw = await request.read()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _fail(proto, 400, "request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _fail(proto, 400, "request body must be a JSON object")
        return body

    async def _gate(
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
            raise _fail(proto, 400, str(exc)) from None
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
            raise _fail(
                proto,
                429,
                f"simulated rate limit; retry after {knobs.rate_limit}s",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(knobs.rate_limit)},
            )
        if knobs.fail_rate and self.state.roll(knobs) < knobs.fail_rate:
            self.state.stats.simulated_failures += 1
            raise _fail(
                proto, knobs.fail_status, f"simulated failure (fail_rate={knobs.fail_rate})"
            )
        if model_raw is not None and not self._known(model, proto):
            if proto == OPENAI:
                raise _fail(
                    OPENAI,
                    404,
                    f"The model `{model}` does not exist or you do not have access to it.",
                    code="model_not_found",
                )
            if proto == OLLAMA:
                raise _fail(OLLAMA, 404, f'model "{model}" not found, try pulling it first')
            if proto == GEMINI:
                raise _fail(
                    GEMINI,
                    404,
                    f"models/{model} is not found for API version v1beta, or is not supported "
                    "for generateContent.",
                )
            raise _fail(proto, 404, f"model: {model}", code="model_not_found")
        return knobs, model

    def _known(self, model: str, proto: str) -> bool:
        models = self.config.models
        if model in models:
            return True
        return proto == OLLAMA and model.endswith(":latest") and model[:-7] in models

    def _reply(self, model: str, messages: list[dict[str, str]], knobs: Knobs) -> str:
        if knobs.reply is not None:
            return knobs.reply
        config = self.config
        if model.startswith("scripted") and config.script is not None:
            if callable(config.script):
                return str(config.script(messages))
            if config.script:
                text = config.script[self.state.script_index % len(config.script)]
                self.state.script_index += 1
                return text
        canned = config.replies.get(model)
        if canned is not None:
            return canned
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        return "Echo: " + last

    # ------------------------------------------------------------------ writers

    async def _send_body(
        self,
        request: web.Request,
        knobs: Knobs,
        body: bytes,
        pieces: int,
        content_type: str = JSON,
    ) -> web.StreamResponse:
        """A complete (non-stream) answer, after the simulated generation time."""
        wait = knobs.ttft + knobs.chunk_delay * max(0, pieces - 1)
        if wait:
            await asyncio.sleep(wait)
        if knobs.garbage:
            body = body[: max(1, len(body) // 2)]
        if not knobs.drip and not knobs.truncate:
            return web.Response(body=body, content_type=content_type)
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        resp.content_length = len(body)
        await resp.prepare(request)
        end = max(1, len(body) // 2) if knobs.truncate else len(body)
        try:
            await self._write(resp, body[:end], knobs.drip)
            if knobs.truncate:
                _cut(request)
            else:
                await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    async def _send_stream(
        self,
        request: web.Request,
        knobs: Knobs,
        frames: list[bytes],
        first: int,
        last: int,
        content_type: str,
    ) -> web.StreamResponse:
        """A streamed answer; ``frames[first:last]`` are the content frames."""
        resp = web.StreamResponse(
            headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        if knobs.garbage and frames:
            i = first if last > first else 0
            frame = frames[i]
            sep = b"\n" if content_type == NDJSON else b"\n\n"
            frames[i] = frame[: max(1, len(frame.rstrip()) // 2)] + sep
        end = len(frames)
        if knobs.truncate:
            end = first + max(1, (last - first) // 2) if last > first else max(1, end // 2)
        try:
            if not (knobs.ttft or knobs.chunk_delay or knobs.drip):
                await resp.write(b"".join(frames[:end]))
            else:
                if knobs.ttft:
                    await asyncio.sleep(knobs.ttft)
                for i in range(end):
                    if knobs.chunk_delay and first < i < last:
                        await asyncio.sleep(knobs.chunk_delay)
                    await self._write(resp, frames[i], knobs.drip)
            if knobs.truncate:
                _cut(request)
            else:
                await resp.write_eof()
        except ConnectionError:
            pass
        return resp

    @staticmethod
    async def _write(resp: web.StreamResponse, data: bytes, drip: float) -> None:
        if not drip:
            await resp.write(data)
            return
        for i in range(len(data)):
            await resp.write(data[i : i + 1])
            await asyncio.sleep(drip)

    # ------------------------------------------------------------------ OpenAI

    def _openai_model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1700000000, "owned_by": "desk-sim"}

    async def models_v1(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/models``: Anthropic's list with ``anthropic-version``, else OpenAI's."""
        if "anthropic" in self.served and (
            "anthropic-version" in request.headers or "openai" not in self.served
        ):
            self._auth(request, ANTHROPIC)
            if "anthropic-version" not in request.headers:
                raise _fail(ANTHROPIC, 400, "anthropic-version: header is required")
            await self._gate(request, ANTHROPIC, "GET /v1/models", None)
            data = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m.replace("-", " ").title(),
                    "created_at": "2024-10-22T00:00:00Z",
                }
                for m in self.config.models
            ]
            return _json_response(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                }
            )
        self._auth(request, OPENAI)
        await self._gate(request, OPENAI, "GET /v1/models", None)
        return _json_response(
            {"object": "list", "data": [self._openai_model(m) for m in self.config.models]}
        )

    async def model_v1(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1/models/{model}`` (OpenAI retrieve)."""
        self._auth(request, OPENAI)
        _, model = await self._gate(
            request, OPENAI, "GET /v1/models/{model}", request.match_info["model"]
        )
        return _json_response(self._openai_model(model))

    async def openai_chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``, plain and streamed."""
        route = "POST /v1/chat/completions"
        self._auth(request, OPENAI)
        body = await self._body(request, OPENAI)
        model_raw = body.get("model")
        if not isinstance(model_raw, str) or not model_raw:
            raise _fail(
                OPENAI, 400, "you must provide a model parameter", code="missing_required_parameter"
            )
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise _fail(OPENAI, 400, "'messages' must be a non-empty array", code="invalid_type")
        knobs, model = await self._gate(request, OPENAI, route, model_raw, body)
        messages = [_openai_message(m) for m in raw_messages]
        text = self._reply(model, messages, knobs)
        text, cut = _limit(text, body.get("max_completion_tokens") or body.get("max_tokens"))
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
            return await self._send_body(request, knobs, orjson.dumps(answer), len(pieces))
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
        return await self._send_stream(request, knobs, frames, 1, 1 + len(pieces), SSE)

    # ------------------------------------------------------------------ Anthropic

    async def anthropic_messages(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/messages``, plain and streamed (named SSE events)."""
        route = "POST /v1/messages"
        self._auth(request, ANTHROPIC)
        if "anthropic-version" not in request.headers:
            raise _fail(ANTHROPIC, 400, "anthropic-version: header is required")
        body = await self._body(request, ANTHROPIC)
        model_raw = body.get("model")
        if not isinstance(model_raw, str) or not model_raw:
            raise _fail(ANTHROPIC, 400, "model: Field required")
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _fail(ANTHROPIC, 400, "max_tokens: Field required (a positive integer)")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise _fail(ANTHROPIC, 400, "messages: at least one message is required")
        knobs, model = await self._gate(request, ANTHROPIC, route, model_raw, body)
        messages = []
        system = body.get("system")
        if system:
            messages.append({"role": "system", "content": _text_of(system)})
        messages.extend(_openai_message(m) for m in raw_messages)
        text = self._reply(model, messages, knobs)
        text, cut = _limit(text, max_tokens)
        stop = "max_tokens" if cut else "end_turn"
        it = sum(count_tokens(m["content"]) for m in messages)
        ot = count_tokens(text)
        mid = "msg_" + uuid.uuid4().hex[:24]
        pieces = split_chunks(text, knobs.chunks)
        if not body.get("stream"):
            answer = {
                "id": mid,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": it, "output_tokens": ot},
            }
            return await self._send_body(request, knobs, orjson.dumps(answer), len(pieces))

        def event(name: str, data: dict[str, Any]) -> bytes:
            return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

        start: dict[str, Any] = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": it, "output_tokens": 1},
        }
        frames = [
            event("message_start", {"type": "message_start", "message": start}),
            event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            event("ping", {"type": "ping"}),
        ]
        frames.extend(
            event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": p},
                },
            )
            for p in pieces
        )
        frames.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        frames.append(
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": ot},
                },
            )
        )
        frames.append(event("message_stop", {"type": "message_stop"}))
        return await self._send_stream(request, knobs, frames, 3, 3 + len(pieces), SSE)

    # ------------------------------------------------------------------ Gemini

    def _gemini_model(self, name: str) -> dict[str, Any]:
        return {
            "name": f"models/{name}",
            "version": "001",
            "displayName": name,
            "description": "desk sim model",
            "inputTokenLimit": 1048576,
            "outputTokenLimit": 8192,
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        }

    async def gemini_models(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1beta/models``."""
        self._auth(request, GEMINI)
        await self._gate(request, GEMINI, "GET /v1beta/models", None)
        return _json_response({"models": [self._gemini_model(m) for m in self.config.models]})

    async def gemini_model(self, request: web.Request) -> web.StreamResponse:
        """``GET /v1beta/models/{model}``."""
        self._auth(request, GEMINI)
        _, model = await self._gate(
            request, GEMINI, "GET /v1beta/models/{name}", request.match_info["name"]
        )
        return _json_response(self._gemini_model(model))

    async def gemini_call(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1beta/models/{model}:generateContent`` and ``:streamGenerateContent``."""
        self._auth(request, GEMINI)
        model_raw, _, method = request.match_info["name"].rpartition(":")
        if method not in ("generateContent", "streamGenerateContent") or not model_raw:
            raise _fail(
                GEMINI,
                404,
                f"unknown method {method!r}; use generateContent or streamGenerateContent",
            )
        route = f"POST /v1beta/models:{method}"
        body = await self._body(request, GEMINI)
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise _fail(GEMINI, 400, "* GenerateContentRequest.contents: contents is not specified")
        knobs, model = await self._gate(request, GEMINI, route, model_raw, body)
        messages: list[dict[str, str]] = []
        sys_inst = body.get("systemInstruction") or body.get("system_instruction")
        if isinstance(sys_inst, dict):
            messages.append({"role": "system", "content": _gemini_text(sys_inst)})
        for c in contents:
            if isinstance(c, dict):
                role = "assistant" if c.get("role") == "model" else "user"
                messages.append({"role": role, "content": _gemini_text(c)})
        pt = sum(count_tokens(m["content"]) for m in messages)
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
            return await self._gemini_out(request, knobs, [blocked], 0, 0, stream, sse)
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
            return await self._gemini_out(request, knobs, [blocked], 0, 0, stream, sse)
        text = self._reply(model, messages, knobs)
        gen = body.get("generationConfig") or body.get("generation_config") or {}
        text, cut = _limit(text, gen.get("maxOutputTokens") if isinstance(gen, dict) else None)
        finish = "MAX_TOKENS" if cut else "STOP"
        ct = count_tokens(text)
        usage = {"promptTokenCount": pt, "candidatesTokenCount": ct, "totalTokenCount": pt + ct}
        pieces = split_chunks(text, knobs.chunks)
        if not stream:
            answer = {
                "candidates": [
                    {
                        "content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": finish,
                        "index": 0,
                    }
                ],
                "usageMetadata": usage,
                "modelVersion": version,
                "responseId": rid,
            }
            return await self._send_body(request, knobs, orjson.dumps(answer), len(pieces))
        objs: list[dict[str, Any]] = []
        for i, p in enumerate(pieces or [""]):
            cand: dict[str, Any] = {
                "content": {"parts": [{"text": p}], "role": "model"},
                "index": 0,
            }
            obj: dict[str, Any] = {"candidates": [cand], "modelVersion": version, "responseId": rid}
            if i == max(0, len(pieces) - 1):
                cand["finishReason"] = finish
                obj["usageMetadata"] = usage
            else:
                obj["usageMetadata"] = {"promptTokenCount": pt, "totalTokenCount": pt}
            objs.append(obj)
        return await self._gemini_out(request, knobs, objs, 0, len(objs), True, sse)

    async def _gemini_out(
        self,
        request: web.Request,
        knobs: Knobs,
        objs: list[dict[str, Any]],
        first: int,
        last: int,
        stream: bool,
        sse: bool,
    ) -> web.StreamResponse:
        if not stream:
            return await self._send_body(request, knobs, orjson.dumps(objs[0]), 1)
        if sse:
            frames = [b"data: " + orjson.dumps(o) + b"\r\n\r\n" for o in objs]
            return await self._send_stream(request, knobs, frames, first, last, SSE)
        # Without alt=sse Gemini streams one JSON array.
        frames = [(b"[" if i == 0 else b",\r\n") + orjson.dumps(o) for i, o in enumerate(objs)]
        frames.append(b"]")
        return await self._send_stream(request, knobs, frames, first, last, JSON)

    # ------------------------------------------------------------------ Ollama

    async def ollama_root(self, request: web.Request) -> web.StreamResponse:
        """``GET /``: Ollama's liveness text (not counted, no knobs)."""
        return web.Response(text="Ollama is running")

    async def ollama_tags(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/tags``."""
        self._auth(request, OLLAMA)
        await self._gate(request, OLLAMA, "GET /api/tags", None)
        models = []
        for m in self.config.models:
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
        return _json_response({"models": models})

    async def ollama_version(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/version``."""
        self._auth(request, OLLAMA)
        await self._gate(request, OLLAMA, "GET /api/version", None)
        return _json_response({"version": OLLAMA_VERSION})

    async def ollama_chat(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/chat``: NDJSON stream by default, one JSON with ``stream: false``."""
        route = "POST /api/chat"
        self._auth(request, OLLAMA)
        body = await self._body(request, OLLAMA)
        model_raw = body.get("model")
        if not isinstance(model_raw, str) or not model_raw:
            raise _fail(OLLAMA, 400, "model is required")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list):
            raise _fail(OLLAMA, 400, "messages must be an array")
        knobs, model = await self._gate(request, OLLAMA, route, model_raw, body)
        messages = [_openai_message(m) for m in raw_messages]
        text = self._reply(model, messages, knobs)
        options = body.get("options")
        text, cut = _limit(text, options.get("num_predict") if isinstance(options, dict) else None)
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
            return await self._send_body(request, knobs, data, len(pieces))
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
        return await self._send_stream(request, knobs, frames, 0, len(pieces), NDJSON)

    # ------------------------------------------------------------------ jobs and custom

    async def job_submit(self, request: web.Request) -> web.StreamResponse:
        """``POST /jobs {"prompt": ...}`` -> ``{"id", "status": "running"}``."""
        route = "POST /jobs"
        self._auth(request, PLAIN)
        body = await self._body(request, PLAIN)
        messages = _plain_messages(body)
        if messages is None:
            raise _fail(PLAIN, 400, "'prompt' (a string) or 'messages' (an array) is required")
        model_raw = body.get("model")
        knobs, model = await self._gate(
            request, PLAIN, route, model_raw if isinstance(model_raw, str) else None, body
        )
        text = self._reply(model, messages, knobs)
        it = sum(count_tokens(m["content"]) for m in messages)
        ot = count_tokens(text)
        job_id = "job_" + uuid.uuid4().hex[:16]
        self.state.jobs[job_id] = _Job(
            text=text,
            usage={"input_tokens": it, "output_tokens": ot, "total_tokens": it + ot},
            ready_at=time.monotonic() + knobs.job_delay,
            fail=knobs.job_fail,
        )
        data = orjson.dumps({"id": job_id, "status": "running"})
        return await self._send_body(request, knobs, data, 1)

    async def job_poll(self, request: web.Request) -> web.StreamResponse:
        """``GET /jobs/{id}`` -> running, then done (with result) or failed."""
        self._auth(request, PLAIN)
        knobs, _ = await self._gate(request, PLAIN, "GET /jobs/{id}", None)
        job_id = request.match_info["id"]
        job = self.state.jobs.get(job_id)
        if job is None:
            raise _fail(PLAIN, 404, f"no job {job_id!r}", code="not_found")
        out: dict[str, Any]
        if time.monotonic() < job.ready_at:
            out = {"id": job_id, "status": "running"}
        elif job.fail:
            out = {"id": job_id, "status": "failed", "error": {"message": "simulated job failure"}}
        else:
            out = {"id": job_id, "status": "done", "result": {"text": job.text, "usage": job.usage}}
        return await self._send_body(request, knobs, orjson.dumps(out), 1)

    async def custom_generate(self, request: web.Request) -> web.StreamResponse:
        """``POST /custom/generate {"input": ...}`` -> ``{"output": {"text"}, "meta": ...}``."""
        route = "POST /custom/generate"
        self._auth(request, PLAIN)
        body = await self._body(request, PLAIN)
        inp = body.get("input")
        if not isinstance(inp, str):
            raise _fail(PLAIN, 400, "'input' (a string) is required")
        model_raw = body.get("model")
        knobs, model = await self._gate(
            request, PLAIN, route, model_raw if isinstance(model_raw, str) else None, body
        )
        messages = [{"role": "user", "content": inp}]
        text = self._reply(model, messages, knobs)
        out = {
            "output": {"text": text},
            "meta": {
                "tokens": {"in": count_tokens(inp), "out": count_tokens(text)},
                "model": model or None,
            },
        }
        return await self._send_body(
            request, knobs, orjson.dumps(out), len(split_chunks(text, knobs.chunks))
        )

    # ------------------------------------------------------------------ /sim control

    async def sim_info(self, request: web.Request) -> web.StreamResponse:
        """``GET /sim``: what this sim serves."""
        return _json_response(
            {
                "service": "desk-sim",
                "protocols": {p: PROTOCOLS[p] for p in [*self.served, "control"]},
                "models": list(self.config.models),
                "auth": bool(self.config.api_key),
            }
        )

    async def sim_stats(self, request: web.Request) -> web.StreamResponse:
        """``GET /sim/stats``."""
        return _json_response(self.state.stats.to_json())

    async def sim_reset(self, request: web.Request) -> web.StreamResponse:
        """``POST /sim/reset``: zero the counters, forget jobs, restart script and dice."""
        self.state.reset()
        return _json_response({"ok": True})

    async def sim_config_get(self, request: web.Request) -> web.StreamResponse:
        """``GET /sim/config``."""
        return _json_response(self.config.to_json())

    async def sim_config_post(self, request: web.Request) -> web.StreamResponse:
        """``POST /sim/config {knob: value, ...}``: change server-level knobs now."""
        body = await self._body(request, PLAIN)
        old_seed = self.config.seed
        try:
            self.config.update(body)
        except KnobError as exc:
            return error_response(PLAIN, 400, str(exc))
        if "seed" in body or self.config.seed != old_seed:
            self.state.reseed()
        return _json_response(self.config.to_json())


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

_SAFETY_RATINGS = [
    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True},
    {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
]


def _has_sim_header(request: web.Request) -> bool:
    return any(key[:6].lower() == "x-sim-" for key in request.headers)


def _cut(request: web.Request) -> None:
    """Close the connection after what was written (a truncated body)."""
    transport = request.transport
    if transport is not None:
        transport.close()


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type", "text") == "text"
        )
    return "" if content is None else str(content)


def _openai_message(m: Any) -> dict[str, str]:
    if not isinstance(m, dict):
        return {"role": "user", "content": str(m)}
    return {"role": str(m.get("role", "user")), "content": _text_of(m.get("content"))}


def _gemini_text(content: dict[str, Any]) -> str:
    parts = content.get("parts")
    if not isinstance(parts, list):
        return ""
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def _plain_messages(body: dict[str, Any]) -> list[dict[str, str]] | None:
    prompt = body.get("prompt", body.get("input"))
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    messages = body.get("messages")
    if isinstance(messages, list):
        return [_openai_message(m) for m in messages]
    return None


def _limit(text: str, max_tokens: Any) -> tuple[str, bool]:
    if (
        isinstance(max_tokens, int)
        and not isinstance(max_tokens, bool)
        and 0 < max_tokens < count_tokens(text)
    ):
        return text[: max_tokens * 4], True
    return text, False


def _iso_now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
