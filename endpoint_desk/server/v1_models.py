"""``GET /v1/models`` and ``GET /v1/models/{model}``: every name the serving endpoints
answer to (their models, mapped names, ``endpoint/model`` pins), in OpenAI's shape."""

from __future__ import annotations

from aiohttp import web

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.responses import JSON_HEADERS, error_response, json_response
from endpoint_desk.wire.openai import encode as wire


class Models:
    """The model list handlers of one desk."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def list_all(self, request: web.Request) -> web.Response:
        """``GET /v1/models``: every name the serving endpoints answer to."""
        return web.Response(body=wire.models_body(self._model_list()), headers=JSON_HEADERS)

    async def get(self, request: web.Request) -> web.Response:
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
