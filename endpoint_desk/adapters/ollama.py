"""Ollama's native API: ``POST /api/chat``, ``POST /api/embed`` and ``GET /api/tags``.

``base_url`` is the server (``http://localhost:11434``); a trailing ``/api`` or ``/v1``
is accepted (the native API lives at the root). Streamed replies are newline-delimited
JSON: one object per piece (``message.content``), then a final object with
``done: true``, ``done_reason``, ``prompt_eval_count`` (input tokens) and
``eval_count`` (output tokens). A stream that ends without ``done: true`` is a
truncated reply (``ProtocolError``). An ``{"error": ...}`` line mid-stream raises
``UpstreamError``. Parameters go in ``options`` (``temperature``, ``top_p``,
``num_predict`` for ``max_tokens``, ``stop``). A key, when given (Ollama behind an
authenticating proxy), is sent as ``Authorization: Bearer``.

Options (``spec.options``):

- ``ollama_options`` (dict, optional): extra model ``options`` (``num_ctx``,
  ``top_k``, ``seed``...), merged under the request's own parameters.
- ``keep_alive`` (str or number, optional): how long Ollama keeps the model loaded
  after the request (``"5m"``, ``0``...).
- ``think`` (bool, optional): sent as ``think`` (thinking models); the thinking text
  is not part of the reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import Response, iter_ndjson, loads
from endpoint_desk.adapters.images import inline_images
from endpoint_desk.adapters.restkit import (
    ErrorHook,
    default_error_hook,
    open_response,
    read_json,
    strip_suffix,
)
from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import ConfigError, ProtocolError
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind
from endpoint_desk.wire.ollama.embeddings import embed_body, parse_embed
from endpoint_desk.wire.ollama.request import chat_body
from endpoint_desk.wire.ollama.response import LineDecoder, final_chunk


class OllamaAdapter(Adapter):
    """Ollama's native chat API over the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.OLLAMA
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True,
        list_models=True,
        vision=True,
        tools=True,
        json_schema=True,
        embeddings=True,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.spec.options
        self._root = strip_suffix(self.spec.base_url, "/api", "/v1")
        model_options = opts.get("ollama_options")
        if model_options is not None and not isinstance(model_options, dict):
            raise ConfigError(f"{self.spec.name}: option ollama_options must be a table")
        self._model_options: dict[str, Any] | None = model_options
        self._keep_alive = opts.get("keep_alive")
        think = opts.get("think")
        self._think = bool(think) if think is not None else None

    def _headers(self) -> dict[str, str]:
        return self.bearer_json_headers()

    def _on_error(self, model: str | None, what: str = "request") -> ErrorHook:
        return default_error_hook(self.spec.name, model, what)

    async def list_models(self) -> list[str]:
        """The local models of ``GET /api/tags``."""
        name = self.spec.name
        data = await read_json(
            "GET",
            self._root + "/api/tags",
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=min(self.spec.limits.timeout_seconds, 15.0),
            on_error=self._on_error(None, "model list"),
        )
        items = data.get("models") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"{name}: /api/tags did not return a 'models' list", endpoint=name)
        return [
            str(m.get("name") or m.get("model"))
            for m in items
            if isinstance(m, dict) and (m.get("name") or m.get("model"))
        ]

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """``POST /api/embed`` (every text in one call); ``prompt_eval_count`` is the
        input tokens."""
        name = self.spec.name
        data = await read_json(
            "POST",
            self._root + "/api/embed",
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=self.spec.limits.timeout_seconds,
            on_error=self._on_error(request.model),
            body=orjson.dumps(embed_body(request)),
        )
        vectors, usage = parse_embed(data, name)
        return self.embedded(request, vectors, usage)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        request = await inline_images(request, route=self.route, endpoint=name)
        if not request.model:
            raise ConfigError(f"{name}: no model given and the endpoint has no default model")
        body = chat_body(
            request,
            stream=request.stream,
            model_options=self._model_options,
            keep_alive=self._keep_alive,
            think=self._think,
        )
        async with open_response(
            "POST",
            self._root + "/api/chat",
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=self.spec.limits.timeout_seconds,
            on_error=self._on_error(request.model),
            body=orjson.dumps(body),
        ) as resp:
            if request.stream:
                async for chunk in self._read_stream(resp):
                    yield chunk
                return
            raw = await resp.read()
        obj = loads(raw, endpoint=name)
        decoder = LineDecoder(name)
        content, _ = decoder.feed(obj)
        if not obj.get("done", True):
            raise ProtocolError(f"{name} sent an unfinished reply to stream=false", endpoint=name)
        final = final_chunk(obj, decoder.calls > 0)
        if content is not None:
            final.delta, final.tool_calls = content.delta, content.tool_calls
        yield final

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        decoder = LineDecoder(name)
        async for obj in iter_ndjson(resp, endpoint=name):
            chunk, done = decoder.feed(obj)
            if chunk is not None:
                yield chunk
            if done:
                yield final_chunk(obj, decoder.calls > 0)
                return
        raise ProtocolError(f"{name} cut the stream short (no done: true)", endpoint=name)
