"""The management API: ``/api/endpoints`` (the portfolio over HTTP).

Endpoints are addressed by the slug of their name (``DeepSeek Web Chat`` ->
``deepseek-web-chat``). Create accepts the body people already write::

    {"name": "DeepSeek Web Chat", "provider_type": "web_chat",
     "base_url": "https://chat.deepseek.com", "login_url": "https://chat.deepseek.com/login",
     "username": "me@example.com", "password": "...",
     "browser_config": {"headless": true, "anti_detection": true}}

``provider_type`` (``rest_api``, ``api_token`` or ``web_chat``) becomes the exact kind by
probing the URL when ``kind`` is not given (``server/api_create.py``). Passwords, user
names, keys and credential headers are stored as secrets at once; responses carry only
their references.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.api_create import Unprocessable, create_endpoint
from endpoint_desk.server.responses import json_response

T = TypeVar("T")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw:
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    return data


class EndpointsAPI:
    """Handlers of ``/api/endpoints``.

    Args:
        desk: the open engine.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self._changes: set[asyncio.Task[Any]] = set()

    async def _complete(self, change: Coroutine[Any, Any, T]) -> T:
        """Run a change of the portfolio to its end even if the client goes away (a
        half-done create or update would leave secrets or state behind)."""
        task = asyncio.ensure_future(change)
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)
        return await asyncio.shield(task)

    # ---------------------------------------------------------------- read

    async def list_all(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints``: every endpoint with state and metrics."""
        views = self.desk.endpoints()
        return json_response(
            {
                "endpoints": [v.to_dict() for v in views],
                "totals": self.desk.totals.snapshot().to_dict(),
            }
        )

    async def get(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints/{name}``."""
        return json_response(self.desk.endpoint(request.match_info["name"]).to_dict())

    # ---------------------------------------------------------------- create

    async def create(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints``: configure, prove (unless ``"prove": false``), save,
        and switch ON (unless ``"start": false``)."""
        body = await _body(request)
        view = await self._complete(create_endpoint(self.desk, body))
        return json_response(view.to_dict(), status=201)

    # ---------------------------------------------------------------- change

    async def update(self, request: web.Request) -> web.Response:
        """``PATCH``/``PUT /api/endpoints/{name}``: change settings by key, all or
        nothing, through the same engine call as ``desk set`` (``Desk.configure``): the
        body's keys are the spec's fields (tables such as ``limits`` merge), dotted keys
        (``model_mapping.gpt-4``) and the short aliases (``timeout``, ``rpm``...);
        ``null`` unsets. Secret values are stored as secrets; the answer carries only
        their references, plus ``changes`` (key, old, new)."""
        view = self.desk.endpoint(request.match_info["name"])
        body = await _body(request)
        if not body:
            raise Unprocessable("nothing to change: send the fields to change")
        try:
            done = await self._complete(self.desk.configure(view.name, body))
        except ConfigError as exc:
            raise Unprocessable(exc.message, param=exc.param) from None
        data = done.view.to_dict()
        data["changes"] = [{"key": k, "old": old, "new": new} for k, old, new in done.changes]
        return json_response(data)

    async def delete(self, request: web.Request) -> web.Response:
        """``DELETE /api/endpoints/{name}`` (its stored secrets go too)."""
        view = self.desk.endpoint(request.match_info["name"])
        await self._complete(self.desk.remove(view.name))
        return json_response({"deleted": view.name})

    async def start(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/start``: switch ON."""
        view = await self._complete(self.desk.start(request.match_info["name"]))
        return json_response(view.to_dict())

    async def stop(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/stop``: switch OFF."""
        view = await self._complete(self.desk.stop(request.match_info["name"]))
        return json_response(view.to_dict())

    # ---------------------------------------------------------------- use

    async def test(self, request: web.Request) -> web.Response:
        """``POST /api/endpoints/{name}/test`` ``{"message", "model", "force"}``: the
        standardized result. An endpoint switched OFF is refused (409) unless
        ``"force": true``."""
        view = self.desk.endpoint(request.match_info["name"])
        body = await _body(request)
        message = body.get("message", "Say hello.")
        if not isinstance(message, str) or not message.strip():
            raise Unprocessable("'message' must be a non-empty string", param="message")
        model = body.get("model")
        if model is not None and not isinstance(model, str):
            raise Unprocessable("'model' must be a string", param="model")
        force = body.get("force", False)
        if not isinstance(force, bool):
            raise Unprocessable("'force' must be true or false", param="force")
        result = await self.desk.test(view.name, message, model or None, force=force)
        return json_response(result.to_dict())

    async def health(self, request: web.Request) -> web.Response:
        """``GET /api/endpoints/{name}/health[?deep=1]``: probe now. A failing probe is
        an answer (``ok: false`` with the error), not an HTTP error."""
        view = self.desk.endpoint(request.match_info["name"])
        deep = request.query.get("deep", "").lower() in ("1", "true", "yes")
        data: dict[str, Any] = {"name": view.name, "state": view.state.value, "deep": deep}
        try:
            probe = await self.desk.probe(view.name, deep=deep)
        except DeskError as exc:
            data.update(ok=False, error=exc.to_dict(), detail=exc.one_line())
        else:
            data.update(
                ok=probe.ok,
                latency_ms=round(probe.latency_ms, 2),
                models=probe.models,
                detail=probe.detail,
                error_kind=probe.error_kind,
            )
        return json_response(data)


def add_api_routes(app: web.Application, desk: Desk) -> None:
    """Register the ``/api/endpoints`` routes on ``app``."""
    api = EndpointsAPI(desk)
    r = app.router
    r.add_get("/api/endpoints", api.list_all)
    r.add_get("/api/endpoints/", api.list_all)
    r.add_post("/api/endpoints", api.create)
    r.add_post("/api/endpoints/", api.create)
    r.add_get("/api/endpoints/{name}", api.get)
    r.add_patch("/api/endpoints/{name}", api.update)
    r.add_put("/api/endpoints/{name}", api.update)
    r.add_delete("/api/endpoints/{name}", api.delete)
    r.add_post("/api/endpoints/{name}/start", api.start)
    r.add_post("/api/endpoints/{name}/stop", api.stop)
    r.add_post("/api/endpoints/{name}/test", api.test)
    r.add_get("/api/endpoints/{name}/health", api.health)
