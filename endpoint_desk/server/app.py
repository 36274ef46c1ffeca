"""The local gateway: OpenAI's ``/v1`` in front of the engine, the management API
(``/api/endpoints``), ``/health`` and ``/metrics``, in the engine's own event loop.

``desk serve`` runs it without a UI; the TUI starts it on demand::

    server = await start_server(desk)          # host/port from settings by default
    print(server.url)                          # http://127.0.0.1:8765
    await server.aclose()                      # in-flight requests get a grace period

The hot path (``POST /v1/chat/completions``) does one ``orjson`` parse, validates into
the engine's plain ``ChatRequest`` dataclass, and writes pre-assembled SSE bytes; no
thread hand-off, no pydantic models, no per-request logging beyond the engine's
write-behind request log.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError, NoEndpointAvailable
from endpoint_desk.core.models import ChatChunk, ChatRequest, new_id
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import ServerChanged
from endpoint_desk.engine.request_path import ChatStream
from endpoint_desk.server import wire
from endpoint_desk.server.auth import KeyCheck, check_bind
from endpoint_desk.server.metrics import CONTENT_TYPE as METRICS_TYPE
from endpoint_desk.server.metrics import MetricsExporter

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

DESK_KEY: web.AppKey[Desk] = web.AppKey("desk", Desk)
GATEWAY_KEY: web.AppKey[Gateway] = web.AppKey("gateway")

_JSON_HEADERS = {"Content-Type": "application/json"}


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialized with orjson."""
    hdrs = dict(_JSON_HEADERS)
    if headers:
        hdrs.update(headers)
    return web.Response(body=orjson.dumps(data), status=status, headers=hdrs)


def error_response(
    status: int,
    message: str,
    type_: str = "invalid_request_error",
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """An error in OpenAI's shape."""
    hdrs = dict(_JSON_HEADERS)
    if headers:
        hdrs.update(headers)
    return web.Response(
        body=wire.error_body(message, type_, param, code), status=status, headers=hdrs
    )


def desk_error_response(desk: Desk, exc: DeskError) -> web.Response:
    """The HTTP answer for a desk error: its status, OpenAI's shape, ``Retry-After``
    on 429 and 503."""
    headers = {}
    if exc.http_status in (429, 503):
        retry = exc.retry_after
        if retry is None and isinstance(exc, NoEndpointAvailable):
            retry = _soonest_retry(desk)
        headers["Retry-After"] = wire.retry_after_header(retry)
    if exc.endpoint:
        headers["x-desk-endpoint"] = exc.endpoint
    hdrs = dict(_JSON_HEADERS)
    hdrs.update(headers)
    return web.Response(body=wire.error_of(exc), status=exc.http_status, headers=hdrs)


def _soonest_retry(desk: Desk) -> float | None:
    """Seconds until the first tripped endpoint may be tried again, if any."""
    now = time.time()
    waits = [v.until - now for v in desk.endpoints() if v.until is not None and v.until > now]
    return min(waits) if waits else None


class Gateway:
    """Request handlers of one server, bound to one desk.

    Args:
        desk: the open engine.
        keys: which bearer keys protect ``/v1`` and ``/api``.
        exporter: the ``/metrics`` exporter (counts responses too).
    """

    def __init__(self, desk: Desk, keys: KeyCheck, exporter: MetricsExporter) -> None:
        self.desk = desk
        self.keys = keys
        self.exporter = exporter
        server = desk.settings.server
        self.max_messages = server.max_messages
        self.extra_fields = frozenset(server.extra_fields)
        self.cors = frozenset(server.cors_origins)
        self._count = exporter.collector.count_response

    # ---------------------------------------------------------------- middleware

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Auth by path, OpenAI-shaped errors for everything, response counting."""
        if self.cors and request.method == "OPTIONS":
            return self._preflight(request)
        path = request.path
        if self.keys.enabled and not path.startswith("/health"):
            auth = request.headers.get("Authorization")
            allowed = (
                self.keys.allows_admin(auth)
                if path.startswith("/api/")
                else self.keys.allows_v1(auth)
            )
            if not allowed:
                self._count(401)
                return error_response(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    "invalid_request_error",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="desk"'},
                )
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = _http_error(exc)
        except DeskError as exc:
            resp = desk_error_response(self.desk, exc)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, path)
            resp = error_response(
                500, "the desk failed on this request (see the log)", "api_error", code="internal"
            )
        self._count(resp.status)
        if self.cors:
            origin = request.headers.get("Origin")
            if origin and ("*" in self.cors or origin in self.cors) and not resp.prepared:
                resp.headers["Access-Control-Allow-Origin"] = origin
                resp.headers["Vary"] = "Origin"
        return resp

    def _preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin", "")
        if origin and ("*" in self.cors or origin in self.cors):
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "GET, POST, PATCH, PUT, DELETE, OPTIONS",
                    "Access-Control-Allow-Headers": request.headers.get(
                        "Access-Control-Request-Headers", "Authorization, Content-Type"
                    ),
                    "Access-Control-Max-Age": "600",
                    "Vary": "Origin",
                },
            )
        return error_response(403, "CORS origin not allowed", code="cors")

    # ---------------------------------------------------------------- /v1

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``, plain or streamed."""
        t0 = time.perf_counter()
        raw = await request.read()
        if not raw:
            return error_response(400, "the request body is empty; send a JSON object")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return error_response(
                400, f"the request body is not valid JSON ({exc})", code="invalid_json"
            )
        try:
            creq = ChatRequest.from_openai(body, extra_fields=self.extra_fields)
        except BadRequest as exc:
            return error_response(400, exc.message, param=exc.param, code="invalid_request")
        if len(creq.messages) > self.max_messages:
            return error_response(
                400,
                f"too many messages ({len(creq.messages)}; at most {self.max_messages})",
                param="messages",
                code="invalid_request",
            )
        stream = self.desk.stream(creq, raw=creq.stream)
        if creq.stream:
            return await self._stream(request, creq, stream, t0)
        try:
            result = await stream.collect()
        except DeskError as exc:
            return desk_error_response(self.desk, exc)
        upstream_ms = sum(a.elapsed_ms for a in result.attempts)
        overhead = max(0.0, (time.perf_counter() - t0) * 1000 - upstream_ms)
        return web.Response(
            body=wire.completion_body(result, int(result.created)),
            headers={
                "Content-Type": "application/json",
                "x-desk-endpoint": result.endpoint,
                "x-desk-overhead-ms": f"{overhead:.2f}",
            },
        )

    async def _stream(
        self, request: web.Request, creq: ChatRequest, stream: ChatStream, t0: float
    ) -> web.StreamResponse:
        """Answer with server-sent events once the first content chunk came (so that a
        failure before it is still a clean HTTP error and failover stays invisible).

        Adapters that can (OpenAI-style upstreams) hand over their upstream's own event
        bytes (the stream was asked with ``raw=True``); those are forwarded as received,
        one write per network read. Other chunks are encoded here."""
        t_engine = time.perf_counter()
        it = stream.__aiter__()
        pending: list[ChatChunk] = []
        ended = False
        try:
            while True:
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    ended = True
                    break
                pending.append(chunk)
                if chunk.delta or chunk.finish_reason is not None or chunk.usage is not None:
                    break
        except DeskError as exc:
            await stream.aclose()
            return desk_error_response(self.desk, exc)
        except BaseException:
            await stream.aclose()
            raise
        headers = dict(wire.SSE_HEADERS)
        headers["x-desk-endpoint"] = stream.endpoint or ""
        headers["x-desk-overhead-ms"] = f"{(t_engine - t0) * 1000:.2f}"
        resp = _EventStream(headers=headers)
        try:
            await resp.prepare(request)
            meta = pending[-1].metadata if pending else None
            if meta is not None and "raw_sse" in meta:
                await _forward_raw(resp, it, pending, ended)
            else:
                await self._encode(resp, creq, stream, it, pending, ended)
        except ConnectionResetError:
            pass  # the client went away; closing the stream cancels the upstream call
        finally:
            await stream.aclose()
        return resp

    async def _encode(
        self,
        resp: web.StreamResponse,
        creq: ChatRequest,
        stream: ChatStream,
        it: AsyncIterator[ChatChunk],
        pending: list[ChatChunk],
        ended: bool,
    ) -> None:
        """Write the desk's own OpenAI chunks for adapters that give no raw events."""
        enc = wire.ChunkEncoder(new_id(), creq.model or "desk", int(time.time()))
        finish: str | None = None
        usage = None
        out = [enc.role()]
        for chunk in pending:
            if chunk.delta:
                out.append(enc.delta(chunk.delta))
            if chunk.finish_reason is not None:
                finish = chunk.finish_reason
            if chunk.usage is not None:
                usage = chunk.usage
        await resp.write(b"".join(out))
        if not ended:
            try:
                async for chunk in it:
                    if chunk.delta:
                        await resp.write(enc.delta(chunk.delta))
                    if chunk.finish_reason is not None:
                        finish = chunk.finish_reason
                    if chunk.usage is not None:
                        usage = chunk.usage
            except DeskError as exc:
                await resp.write(wire.stream_error_event(exc))
                return
        tail = [enc.finish(finish)]
        if creq.include_usage:
            result = stream.result
            if result is not None:
                tail.append(enc.usage(result.usage, wire.desk_extension(result)))
            elif usage is not None:
                tail.append(enc.usage(usage))
        tail.append(wire.DONE)
        await resp.write(b"".join(tail))
        await resp.write_eof()

    async def models(self, request: web.Request) -> web.Response:
        """``GET /v1/models``: every name the serving endpoints answer to."""
        return web.Response(body=wire.models_body(self._model_list()), headers=_JSON_HEADERS)

    async def model(self, request: web.Request) -> web.Response:
        """``GET /v1/models/{model}``."""
        wanted = request.match_info["model"]
        for mid, owner in self._model_list():
            if mid == wanted:
                return json_response(
                    {"id": mid, "object": "model", "created": 0, "owned_by": owner}
                )
        return error_response(
            404,
            f"no serving endpoint answers to model {wanted!r}",
            param="model",
            code="model_not_found",
        )

    def _model_list(self) -> list[tuple[str, str]]:
        seen: dict[str, str] = {}
        for view in self.desk.endpoints():
            if not view.state.serving:
                continue
            for name in view.spec.answers_to():
                seen.setdefault(name, view.name)
        return list(seen.items())

    # ---------------------------------------------------------------- health, metrics

    async def health(self, request: web.Request) -> web.Response:
        """``GET /health``: the server answers and the store can be read."""
        views = self.desk.endpoints()
        serving = sum(1 for v in views if v.state.serving)
        try:
            await self.desk.store.schema_version()
            store_ok = True
        except DeskError:
            store_ok = False
        data = {
            "status": "ok" if store_ok else "degraded",
            "store": "ok" if store_ok else "unavailable",
            "endpoints": len(views),
            "serving": serving,
        }
        return json_response(data, status=200 if store_ok else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """``GET /metrics``: Prometheus text format."""
        return web.Response(body=self.exporter.render(), headers={"Content-Type": METRICS_TYPE})


async def _forward_raw(
    resp: web.StreamResponse,
    it: AsyncIterator[ChatChunk],
    pending: list[ChatChunk],
    ended: bool,
) -> None:
    """Forward the upstream's own events (``chunk.metadata["raw_sse"]``)."""
    first = b"".join(
        [c.metadata["raw_sse"] for c in pending if c.metadata and "raw_sse" in c.metadata]
    )
    # The event that ends the reply goes out with the end of the body in one write; the
    # iterator is still read to its end so that the engine sees the request complete.
    done = first.endswith(_DONE_TAIL)
    if done:
        await resp.write_eof(first)
    else:
        await resp.write(first)
    if not ended:
        try:
            async for chunk in it:
                meta = chunk.metadata
                if meta is not None and not done:
                    raw = meta.get("raw_sse")
                    if raw:
                        if raw.endswith(_DONE_TAIL):
                            done = True
                            await resp.write_eof(raw)
                        else:
                            await resp.write(raw)
        except DeskError as exc:
            if not done:
                await resp.write(wire.stream_error_event(exc))
            return
    if not done:
        await resp.write_eof(wire.DONE)


_DONE_TAIL = b"[DONE]\n\n"


class _EventStream(web.StreamResponse):
    """A stream response whose headers go out with its first data (one write less)."""

    _send_headers_immediately = False


def _http_error(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404 route, 405, 413...) in OpenAI's shape."""
    status = exc.status
    if status == 413:
        message = "the request body is too large"
        text = exc.text or ""
        if "Maximum request body size" in text:
            message = f"the request body is too large ({text.strip()})"
        return error_response(413, message, code="request_too_large")
    if status == 404:
        return error_response(404, "no such route", code="not_found")
    if status == 405:
        return error_response(405, "method not allowed on this route", code="method_not_allowed")
    headers = {"Retry-After": exc.headers["Retry-After"]} if "Retry-After" in exc.headers else None
    return error_response(
        status, exc.reason or "request failed", "invalid_request_error", headers=headers
    )


def create_app(desk: Desk, keys: KeyCheck | None = None) -> web.Application:
    """The aiohttp application for ``desk`` (not yet listening).

    Args:
        desk: the open engine.
        keys: bearer keys; default: none (open).
    """
    from endpoint_desk.server.api import add_api_routes

    exporter = MetricsExporter(desk)
    gw = Gateway(desk, keys or KeyCheck(None), exporter)
    app = web.Application(
        middlewares=[gw.middleware],
        client_max_size=desk.settings.server.max_body_bytes,
    )
    app[DESK_KEY] = desk
    app[GATEWAY_KEY] = gw
    app.router.add_post("/v1/chat/completions", gw.chat_completions)
    app.router.add_get("/v1/models", gw.models)
    app.router.add_get("/v1/models/{model:.+}", gw.model)
    app.router.add_get("/health", gw.health)
    app.router.add_get("/metrics", gw.metrics)
    add_api_routes(app, desk)

    async def on_startup(_app: web.Application) -> None:
        exporter.start()

    async def on_cleanup(_app: web.Application) -> None:
        await exporter.aclose()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def resolve_key(desk: Desk, value: str | None) -> str | None:
    """A configured key: a value, or a secret reference resolved through the desk."""
    if not value:
        return None
    if desk.secrets.is_ref(value):
        return desk.secrets.resolve(value)
    return value


def tune_gc(threshold: int = 50_000) -> None:
    """Keep garbage collection off the request path of a long-running server.

    Everything alive after start-up (modules, settings, adapters, the ORM's metadata)
    moves to the permanent generation (``gc.freeze``), so full collections no longer
    walk it, and young collections run every ``threshold`` allocations instead of 700.
    ``desk serve`` calls this once the desk and the server are up.
    """
    gc.collect()
    gc.freeze()
    _gen0, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, max(gen1, 20), max(gen2, 100))


class RunningServer:
    """A listening server. ``url`` is its base address (``http://127.0.0.1:8765``)."""

    def __init__(self, desk: Desk, runner: web.AppRunner, url: str) -> None:
        self.desk = desk
        self.url = url
        self._runner = runner
        self._closed = False

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self.url.rsplit(":", 1)[1])

    async def aclose(self) -> None:
        """Stop listening; in-flight requests get the grace period, then are cancelled."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._runner.cleanup()
        finally:
            self.desk.bus.publish(ServerChanged(None))

    async def __aenter__(self) -> RunningServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def start_server(
    desk: Desk,
    host: str | None = None,
    port: int | None = None,
    *,
    api_key: str | None = None,
    admin_key: str | None = None,
    grace: float = 5.0,
) -> RunningServer:
    """Serve ``desk`` over HTTP and publish ``ServerChanged(url)`` on its bus.

    Args:
        desk: an open engine (``await desk.open()``).
        host: address to bind; default ``settings.server.host`` (127.0.0.1).
        port: port to bind (0 = any free port); default ``settings.server.port``.
        api_key: bearer key for ``/v1`` and ``/api``; default: the configured one
            (``DESK_API_KEY`` or ``[server] api_key``, a value or a secret reference).
        admin_key: separate key for ``/api``; default: ``[server] admin_key``.
        grace: seconds in-flight requests get when the server stops.

    Raises:
        ConfigError: a non-loopback host without a key, or the port cannot be bound.
    """
    settings = desk.settings.server
    host = host or settings.host
    port = settings.port if port is None else port
    key = api_key if api_key is not None else resolve_key(desk, settings.api_key)
    admin = admin_key if admin_key is not None else resolve_key(desk, settings.admin_key)
    check_bind(host, key)
    app = create_app(desk, KeyCheck(key, admin))
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=grace)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    bound = runner.addresses[0][1] if runner.addresses else port
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}"
    desk.bus.publish(ServerChanged(url))
    return RunningServer(desk, runner, url)
