"""The OpenAI embeddings front door: ``POST /v1/embeddings``.

The body is OpenAI's (``model``, ``input`` a string or a list of strings,
``dimensions``, ``encoding_format`` ``float`` or ``base64``; validated by
``EmbeddingRequest.from_openai``); the desk routes it to an endpoint that can embed
(OpenAI-, Gemini- or Ollama-style) and answers in OpenAI's shape whatever the
upstream spoke, with ``usage`` (estimated when the upstream gave none), the serving
endpoint in ``x-desk-endpoint`` and, under ``"desk"``, what it cost.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import BadRequest, DeskError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.responses import (
    JSON_HEADERS,
    desk_error_response,
    error_response,
    read_json_body,
)
from endpoint_desk.wire.openai.embeddings import embeddings_response


class Embeddings:
    """The handler of ``POST /v1/embeddings`` for one desk.

    Args:
        desk: the open engine.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /v1/embeddings``."""
        t0 = time.perf_counter()
        body, invalid = await read_json_body(request)
        if invalid is not None:
            return invalid
        try:
            ereq = EmbeddingRequest.from_openai(body)
        except BadRequest as exc:
            return error_response(400, exc.message, param=exc.param, code="invalid_request")
        try:
            result = await self.desk.embed(ereq)
        except DeskError as exc:
            return desk_error_response(self.desk, exc)
        data = embeddings_response(result.vectors, result.model, result.usage, ereq.encoding_format)
        data["desk"] = desk_extension(result)
        upstream_ms = sum(a.elapsed_ms for a in result.attempts)
        overhead = max(0.0, (time.perf_counter() - t0) * 1000 - upstream_ms)
        headers = dict(JSON_HEADERS)
        headers["x-desk-endpoint"] = result.endpoint
        headers["x-desk-overhead-ms"] = f"{overhead:.2f}"
        return web.Response(body=orjson.dumps(data), headers=headers)


def desk_extension(result: EmbeddingResult) -> dict[str, Any]:
    """What the desk adds to the reply under ``"desk"``: which endpoint served it and
    what it cost."""
    return {
        "id": result.id,
        "endpoint": result.endpoint,
        "provider": result.provider,
        "latency_ms": round(result.latency_ms, 2),
        "cost": round(result.usage.cost, 8),
        "estimated": result.usage.estimated,
        "attempts": len(result.attempts) or 1,
    }
