"""What every request of the gateway passes through: CORS preflight, keys by path
(``/v1`` or ``/api``, as a bearer or ``x-api-key``; ``/health`` is open), errors in the
front door's shape (OpenAI's, or Anthropic's on ``/v1/messages``) for everything a
handler raises, and the count of responses by status (``/metrics``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from endpoint_desk.core.errors import DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.auth import KeyCheck
from endpoint_desk.server.metrics import MetricsExporter
from endpoint_desk.server.responses import errors_for, http_error_response

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Middleware:
    """The gateway's one middleware (:meth:`handle`).

    Args:
        desk: the open engine (for the answers to its errors).
        keys: which bearer keys protect ``/v1`` and ``/api``.
        exporter: the ``/metrics`` exporter, which counts responses.
    """

    def __init__(self, desk: Desk, keys: KeyCheck, exporter: MetricsExporter) -> None:
        self.desk = desk
        self.keys = keys
        self.cors = frozenset(desk.settings.server.cors_origins)
        self._count = exporter.collector.count_response

    @web.middleware
    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Auth by path, errors in the front door's shape, response counting."""
        if self.cors and request.method == "OPTIONS":
            return self._preflight(request)
        path = request.path
        if self.keys.enabled and not path.startswith("/health"):
            headers = request.headers
            auth, api_key = headers.get("Authorization"), headers.get("x-api-key")
            allowed = (
                self.keys.allows_admin(auth, api_key)
                if path.startswith("/api/")
                else self.keys.allows_v1(auth, api_key)
            )
            if not allowed:
                self._count(401)
                return errors_for(path).error(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>' "
                    "or 'x-api-key: <key>'",
                    "invalid_api_key",
                    {"WWW-Authenticate": 'Bearer realm="desk"'},
                )
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = http_error_response(exc, errors_for(path))
        except DeskError as exc:
            resp = errors_for(path).desk_error(self.desk, exc)
        except Exception:
            log.exception("unexpected error serving %s %s", request.method, path)
            resp = errors_for(path).error(
                500, "the desk failed on this request (see the log)", "internal", None
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
        return errors_for(request.path).error(403, "CORS origin not allowed", "cors", None)
