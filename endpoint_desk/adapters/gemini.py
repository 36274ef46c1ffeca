"""Google's Gemini API (``generativelanguage.googleapis.com``).

``base_url`` is the host; a trailing ``/v1beta`` (or ``/v1``) is accepted. Requests go
to ``models/{model}:generateContent`` and, streamed, to
``models/{model}:streamGenerateContent?alt=sse``; embeddings to
``models/{model}:batchEmbedContents``. The key (``spec.api_key``) goes in
the ``x-goog-api-key`` header. Roles are mapped (``assistant`` -> ``model``, system and
developer messages -> ``systemInstruction``), parameters go in ``generationConfig``
(``temperature``, ``topP``, ``maxOutputTokens``, ``stopSequences``), and
``usageMetadata`` becomes usage (``promptTokenCount`` in; ``candidatesTokenCount`` plus
``thoughtsTokenCount`` out).

Safety: a prompt blocked by Google (``promptFeedback.blockReason``) or a reply stopped
for safety (``finishReason`` ``SAFETY``, ``PROHIBITED_CONTENT``, ``BLOCKLIST``,
``SPII``, ``RECITATION``, ``IMAGE_SAFETY``) before any text arrived raises
``ContentBlocked`` saying it was a safety block; when part of the reply was already
streamed, the reply ends with finish reason ``content_filter`` instead. An invalid key
(Google answers 400 ``API_KEY_INVALID``) raises ``AuthFailed``.

Options (``spec.options``):

- ``api_version`` (str, default ``"v1beta"``): the path version.
- ``key_in_query`` (bool, default false): send the key as ``?key=`` instead of the
  header (some proxies want that).
- ``safety_settings`` (list, optional): sent as ``safetySettings`` unchanged.
- ``generation_config`` (dict, optional): extra ``generationConfig`` fields (e.g.
  ``{"topK": 40}``), merged under the request's own parameters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import Response, error_for_status, iter_sse, loads
from endpoint_desk.adapters.images import inline_images
from endpoint_desk.adapters.restkit import ErrorHook, open_response, read_json, strip_suffix
from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import AuthFailed, ConfigError, DeskError, ProtocolError
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind
from endpoint_desk.wire.gemini.embeddings import batch_body, parse_batch
from endpoint_desk.wire.gemini.request import generate_body
from endpoint_desk.wire.gemini.response import StreamDecoder, parse_response

EMBED_BATCH = 100
"""Texts per ``batchEmbedContents`` call (Google's limit)."""


class GeminiAdapter(Adapter):
    """Gemini ``generateContent`` over the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.GEMINI
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
        version = str(opts.get("api_version") or "v1beta").strip("/")
        self._root = strip_suffix(self.spec.base_url, "/v1beta", "/v1") + "/" + version
        self._key_in_query = bool(opts.get("key_in_query", False))
        safety = opts.get("safety_settings")
        if safety is not None and not isinstance(safety, list):
            raise ConfigError(f"{self.spec.name}: option safety_settings must be a list")
        self._safety: list[Any] | None = safety
        gen = opts.get("generation_config")
        if gen is not None and not isinstance(gen, dict):
            raise ConfigError(f"{self.spec.name}: option generation_config must be a table")
        self._gen: dict[str, Any] | None = gen

    def _headers(self) -> tuple[dict[str, str], dict[str, str]]:
        """Headers and query parameters (the key goes in one of them)."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        params: dict[str, str] = {}
        key = self.secret(self.spec.api_key)
        if key:
            if self._key_in_query:
                params["key"] = key
            else:
                headers["x-goog-api-key"] = key
        if self.spec.headers:
            headers.update(self.resolved_headers())
        return headers, params

    def _model_url(self, model: str, method: str) -> str:
        """``{root}/models/{model}:{method}``."""
        return f"{self._root}/models/{quote(model, safe='@=,.-_:')}:{method}"

    def _on_error(self, model: str | None, what: str = "request") -> ErrorHook:
        name = self.spec.name

        def hook(status: int, body: bytes, headers: Mapping[str, str]) -> DeskError:
            if status == 400 and _is_key_error(body):
                return AuthFailed(
                    f"{name} refused the API key ({status}): the key is not valid",
                    endpoint=name,
                    status=status,
                )
            return error_for_status(status, body, headers, endpoint=name, model=model, what=what)

        return hook

    async def list_models(self) -> list[str]:
        """Models of ``GET /models`` that can ``generateContent`` (all pages), then those
        that can only ``embedContent`` (so the default model stays a chat model)."""
        name = self.spec.name
        headers, params = self._headers()
        params = {**params, "pageSize": "1000"}
        models: list[str] = []
        embedders: list[str] = []
        for _ in range(20):
            data = await read_json(
                "GET",
                self._root + "/models",
                endpoint=name,
                route=self.route,
                headers=headers,
                timeout=min(self.spec.limits.timeout_seconds, 15.0),
                on_error=self._on_error(None, "model list"),
                params=params,
            )
            items = data.get("models") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProtocolError(
                    f"{name}: /models did not return a 'models' list", endpoint=name
                )
            for m in items:
                if not isinstance(m, dict) or "name" not in m:
                    continue
                methods = m.get("supportedGenerationMethods")
                model = str(m["name"]).removeprefix("models/")
                if not isinstance(methods, list) or "generateContent" in methods:
                    models.append(model)
                elif "embedContent" in methods:
                    embedders.append(model)
            token = data.get("nextPageToken")
            if not token:
                break
            params = {**params, "pageToken": str(token)}
        return models + embedders

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """``models/{model}:batchEmbedContents``, at most ``EMBED_BATCH`` texts a call.
        Gemini reports no token count: the usage is estimated."""
        name = self.spec.name
        model = request.model.removeprefix("models/")
        headers, params = self._headers()
        url = self._model_url(model, "batchEmbedContents")
        vectors: list[list[float]] = []
        for start in range(0, len(request.inputs), EMBED_BATCH):
            texts = request.inputs[start : start + EMBED_BATCH]
            data = await read_json(
                "POST",
                url,
                endpoint=name,
                route=self.route,
                headers=headers,
                timeout=self.spec.limits.timeout_seconds,
                on_error=self._on_error(model),
                body=orjson.dumps(batch_body(texts, model, request.dimensions)),
                params=params,
            )
            vectors.extend(parse_batch(data, name))
        return self.embedded(request, vectors, None, model)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        request = await inline_images(request, route=self.route, endpoint=name)
        model = request.model.removeprefix("models/")
        if not model:
            raise ConfigError(f"{name}: no model given and the endpoint has no default model")
        body = generate_body(request, safety_settings=self._safety, generation_config=self._gen)
        headers, params = self._headers()
        method = "streamGenerateContent" if request.stream else "generateContent"
        if request.stream:
            params = {**params, "alt": "sse"}
        url = self._model_url(model, method)
        async with open_response(
            "POST",
            url,
            endpoint=name,
            route=self.route,
            headers=headers,
            timeout=self.spec.limits.timeout_seconds,
            on_error=self._on_error(model),
            body=orjson.dumps(body),
            params=params,
        ) as resp:
            if request.stream:
                async for chunk in self._read_stream(resp):
                    yield chunk
                return
            raw = await resp.read()
        yield parse_response(loads(raw, endpoint=name), name)

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        decoder = StreamDecoder(self.spec.name)
        async for _event, data in iter_sse(resp):
            chunk = decoder.feed(loads(data, endpoint=self.spec.name))
            if chunk is not None:
                yield chunk
        yield decoder.final()


def _is_key_error(body: bytes) -> bool:
    """Whether a Google 400 body says the API key is invalid."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return b"API key not valid" in body
    err = data.get("error") if isinstance(data, dict) else None
    if not isinstance(err, dict):
        return False
    for detail in err.get("details") or ():
        if isinstance(detail, dict) and detail.get("reason") in (
            "API_KEY_INVALID",
            "API_KEY_EXPIRED",
        ):
            return True
    return "API key not valid" in str(err.get("message", ""))
