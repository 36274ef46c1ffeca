"""The local gateway: the engine's front doors in the engine's own event loop.

``desk serve`` runs it without a UI; the TUI starts it on demand::

    server = await start_server(desk)          # host/port from settings by default
    print(server.url)                          # http://127.0.0.1:8765
    await server.aclose()                      # in-flight requests get a grace period

Where each route lives:

- ``POST /v1/chat/completions``: ``v1_chat.py`` (OpenAI's chat, plain and streamed);
- ``POST /v1/embeddings``: ``v1_embeddings.py``;
- ``POST /v1/messages[/count_tokens]``: ``v1_messages.py`` (Anthropic's Messages API);
- ``GET /v1/models[/{model}]``: ``v1_models.py``;
- ``/api/endpoints...``: ``api.py`` (the portfolio over HTTP);
- ``GET /health``, ``GET /metrics``: ``ops.py``.

Every request passes ``middleware.py`` (keys, CORS, errors, response counts); every
answer is built by ``responses.py`` or ``endpoint_desk.wire``. A new front door (another wire
format) is one more module, registered in :func:`create_app`.
"""

from __future__ import annotations

import gc

from aiohttp import web

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import ServerChanged
from endpoint_desk.server.auth import KeyCheck, check_bind
from endpoint_desk.server.metrics import MetricsExporter
from endpoint_desk.server.middleware import Middleware
from endpoint_desk.server.ops import Ops
from endpoint_desk.server.v1_chat import ChatCompletions
from endpoint_desk.server.v1_embeddings import Embeddings
from endpoint_desk.server.v1_messages import Messages
from endpoint_desk.server.v1_models import Models

DESK_KEY: web.AppKey[Desk] = web.AppKey("desk", Desk)


def create_app(desk: Desk, keys: KeyCheck | None = None) -> web.Application:
    """The aiohttp application for ``desk`` (not yet listening).

    Args:
        desk: the open engine.
        keys: bearer keys; default: none (open).
    """
    from endpoint_desk.server.api import add_api_routes

    exporter = MetricsExporter(desk)
    middleware = Middleware(desk, keys or KeyCheck(None), exporter)
    app = web.Application(
        middlewares=[middleware.handle],
        client_max_size=desk.settings.server.max_body_bytes,
    )
    app[DESK_KEY] = desk
    chat, models, ops = ChatCompletions(desk), Models(desk), Ops(desk, exporter)
    app.router.add_post("/v1/chat/completions", chat.handle)
    app.router.add_post("/v1/embeddings", Embeddings(desk).handle)
    messages = Messages(desk)
    app.router.add_post("/v1/messages", messages.handle)
    app.router.add_post("/v1/messages/count_tokens", messages.count_tokens)
    app.router.add_get("/v1/models", models.list_all)
    app.router.add_get("/v1/models/{model:.+}", models.get)
    app.router.add_get("/health", ops.health)
    app.router.add_get("/metrics", ops.metrics)
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
