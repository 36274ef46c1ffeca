"""Anthropic's Messages API (``POST /v1/messages``) and services that copy it.

``base_url`` is the host (``https://api.anthropic.com``); a trailing ``/v1`` is
accepted. The key (``spec.api_key``) goes in ``x-api-key``. System and developer
messages are lifted out of the conversation into the ``system`` parameter, and
``max_tokens`` (required by the API) is supplied when the caller gave none.

Streaming reads the named events ``message_start`` (input usage),
``content_block_delta`` (text), ``message_delta`` (stop reason, output usage),
``message_stop`` (the end), ``ping`` and ``error``; a stream that ends without
``message_stop`` is a truncated reply (``ProtocolError``). Stop reasons become
OpenAI's finish reasons: ``end_turn``/``stop_sequence``/``pause_turn`` -> ``stop``,
``max_tokens``/``model_context_window_exceeded`` -> ``length``, ``tool_use`` ->
``tool_calls``, ``refusal`` -> ``content_filter``.

Options (``spec.options``):

- ``anthropic_version`` (str, default ``"2023-06-01"``): the ``anthropic-version``
  header.
- ``anthropic_beta`` (str or list of str, optional): the ``anthropic-beta`` header.
- ``default_max_tokens`` (int, default 4096): ``max_tokens`` when the request has
  none.
- ``passthrough`` (list of str, default ``["top_k", "metadata", "thinking",
  "service_tier"]``): request ``extra`` fields copied into the body unchanged (other
  OpenAI-only fields are dropped; Anthropic would reject them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import Response, iter_sse, loads
from endpoint_desk.adapters.images import inline_images
from endpoint_desk.adapters.restkit import (
    ErrorHook,
    default_error_hook,
    open_response,
    read_json,
    strip_suffix,
)
from endpoint_desk.core.errors import ConfigError, ProtocolError
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind
from endpoint_desk.wire.anthropic.request import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_PASSTHROUGH,
    messages_body,
    structured_tool,
)
from endpoint_desk.wire.anthropic.response import StreamDecoder, parse_message, unwrap_structured

DEFAULT_VERSION = "2023-06-01"


class AnthropicAdapter(Adapter):
    """Anthropic Messages API over the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.ANTHROPIC
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, list_models=True, vision=True, tools=True, json_schema=True
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        opts = self.spec.options
        self._root = strip_suffix(self.spec.base_url, "/v1/messages", "/v1")
        self._version = str(opts.get("anthropic_version") or DEFAULT_VERSION)
        beta = opts.get("anthropic_beta")
        self._beta = ",".join(beta) if isinstance(beta, list) else (str(beta) if beta else None)
        max_tokens = opts.get("default_max_tokens", DEFAULT_MAX_TOKENS)
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise ConfigError(
                f"{self.spec.name}: option default_max_tokens must be a positive integer, "
                f"got {max_tokens!r}"
            )
        self._max_tokens = max_tokens
        passthrough = opts.get("passthrough", list(DEFAULT_PASSTHROUGH))
        if not isinstance(passthrough, list) or not all(isinstance(p, str) for p in passthrough):
            raise ConfigError(f"{self.spec.name}: option passthrough must be a list of names")
        self._passthrough = tuple(passthrough)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": self._version,
        }
        if self._beta:
            headers["anthropic-beta"] = self._beta
        key = self.secret(self.spec.api_key)
        if key:
            headers["x-api-key"] = key
        if self.spec.headers:
            headers.update(self.resolved_headers())
        return headers

    def _on_error(self, model: str | None, what: str = "request") -> ErrorHook:
        return default_error_hook(self.spec.name, model, what)

    async def list_models(self) -> list[str]:
        """Every model of ``GET /v1/models`` (all pages)."""
        name = self.spec.name
        timeout = min(self.spec.limits.timeout_seconds, 15.0)
        models: list[str] = []
        params = {"limit": "1000"}
        for _ in range(20):  # pages; a guard against an upstream that never ends
            data = await read_json(
                "GET",
                self._root + "/v1/models",
                endpoint=name,
                route=self.route,
                headers=self._headers(),
                timeout=timeout,
                on_error=self._on_error(None, "model list"),
                params=params,
            )
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise ProtocolError(
                    f"{name}: /v1/models did not return a 'data' list", endpoint=name
                )
            models.extend(str(m["id"]) for m in items if isinstance(m, dict) and "id" in m)
            if not (data.get("has_more") and data.get("last_id")):
                break
            params = {"limit": "1000", "after_id": str(data["last_id"])}
        return models

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        request = await inline_images(request, route=self.route, endpoint=name)
        body = messages_body(
            request,
            stream=request.stream,
            default_max_tokens=self._max_tokens,
            passthrough=self._passthrough,
        )
        structured = structured_tool(request)
        async with open_response(
            "POST",
            self._root + "/v1/messages",
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=self.spec.limits.timeout_seconds,
            on_error=self._on_error(request.model),
            body=orjson.dumps(body),
        ) as resp:
            ctype = resp.headers.get("Content-Type", "")
            if request.stream and "text/event-stream" in ctype:
                async for chunk in self._read_stream(resp, structured):
                    yield chunk
                return
            raw = await resp.read()
        chunk = parse_message(loads(raw, endpoint=name), name, structured and structured[0])
        if structured is not None:
            chunk.delta = unwrap_structured(chunk.delta, structured[1])
        yield chunk

    async def _read_stream(
        self, resp: Response, structured: tuple[str, bool] | None
    ) -> AsyncIterator[ChatChunk]:
        decoder = StreamDecoder(self.spec.name, structured and structured[0])
        wrapped: list[str] | None = [] if structured is not None and structured[1] else None
        async for event, data in iter_sse(resp):
            chunk = decoder.feed(event, loads(data, endpoint=self.spec.name))
            if decoder.done:
                break
            if chunk is None:
                continue
            if wrapped is not None:  # a wrapped JSON reply is unwrapped once it is whole
                wrapped.append(chunk.delta)
                continue
            yield chunk
        final = decoder.final()
        if wrapped is not None:
            final.delta = unwrap_structured("".join(wrapped), True)
        yield final
