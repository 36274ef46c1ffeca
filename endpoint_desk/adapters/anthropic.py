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
from endpoint_desk.adapters.restkit import (
    ErrorHook,
    data_url,
    default_error_hook,
    open_response,
    read_json,
    split_system,
    strip_suffix,
)
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    ConfigError,
    DeskError,
    ModelNotFound,
    ProtocolError,
    RateLimited,
    UpstreamError,
)
from endpoint_desk.core.models import ChatChunk, ChatMessage, ChatRequest, EndpointKind, Usage

DEFAULT_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
DEFAULT_PASSTHROUGH = ("top_k", "metadata", "thinking", "service_tier")

STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic ``stop_reason`` -> OpenAI ``finish_reason``."""


def finish_reason(stop_reason: Any) -> str:
    """OpenAI's finish reason for an Anthropic stop reason (unknown ones -> ``stop``)."""
    return STOP_REASONS.get(str(stop_reason), "stop") if stop_reason else "stop"


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    """A message's content in Anthropic's shape (text, or text and image blocks)."""
    if isinstance(message.content, str):
        return message.content
    blocks: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if not isinstance(url, str):
                continue
            inline = data_url(url)
            if inline is not None:
                source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
            else:
                source = {"type": "url", "url": url}
            blocks.append({"type": "image", "source": source})
    return blocks


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _merge(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive messages of one role (the API wants alternating turns)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            prev = out[-1]["content"]
            cur = m["content"]
            if isinstance(prev, str) and isinstance(cur, str):
                out[-1]["content"] = prev + "\n\n" + cur
            else:
                out[-1]["content"] = [*_blocks(prev), *_blocks(cur)]
        else:
            out.append(dict(m))
    return out


def anthropic_body(
    request: ChatRequest,
    *,
    stream: bool,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH,
) -> dict[str, Any]:
    """The Messages API body for a request (model already mapped)."""
    system, rest = split_system(request.messages)
    messages = [
        {"role": "assistant" if m.role == "assistant" else "user", "content": _content(m)}
        for m in rest
    ]
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _merge(messages),
        "max_tokens": request.max_tokens or default_max_tokens,
    }
    if system:
        body["system"] = system
    if stream:
        body["stream"] = True
    if request.temperature is not None:
        body["temperature"] = min(1.0, request.temperature)  # Anthropic's range is 0..1
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    for key in passthrough:
        if key in request.extra:
            body[key] = request.extra[key]
    return body


def _usage(data: Any, into: Usage | None = None) -> Usage | None:
    """Fold an Anthropic ``usage`` object into ``into`` (cache reads count as input)."""
    if not isinstance(data, dict):
        return into
    usage = into or Usage()
    inp = [
        data.get(k)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if any(isinstance(v, int) for v in inp):
        usage.input_tokens = sum(v for v in inp if isinstance(v, int))
    if isinstance(data.get("output_tokens"), int):
        usage.output_tokens = data["output_tokens"]
    return usage


def stream_error(endpoint: str, data: Any) -> DeskError:
    """The desk error for an ``error`` event (or error body) in Anthropic's shape."""
    err = data.get("error") if isinstance(data, dict) else None
    etype = str(err.get("type", "")) if isinstance(err, dict) else ""
    msg = str(err.get("message", "")) if isinstance(err, dict) else str(data)
    text = f"{endpoint} reported {etype or 'an error'} mid-stream: {msg}"
    if etype == "rate_limit_error":
        return RateLimited(text, endpoint=endpoint)
    if etype in ("authentication_error", "permission_error"):
        return AuthFailed(text, endpoint=endpoint)
    if etype == "not_found_error":
        return ModelNotFound(text, endpoint=endpoint)
    if etype in ("invalid_request_error", "request_too_large"):
        return BadRequest(text, endpoint=endpoint)
    return UpstreamError(text, endpoint=endpoint)


class AnthropicAdapter(Adapter):
    """Anthropic Messages API over the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.ANTHROPIC
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, list_models=True, vision=True
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
        body = anthropic_body(
            request,
            stream=request.stream,
            default_max_tokens=self._max_tokens,
            passthrough=self._passthrough,
        )
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
                async for chunk in self._read_stream(resp):
                    yield chunk
                return
            raw = await resp.read()
        yield self._parse_whole(raw)

    def _parse_whole(self, raw: bytes) -> ChatChunk:
        name = self.spec.name
        data = loads(raw, endpoint=name)
        if not isinstance(data, dict):
            raise ProtocolError(f"{name} sent a message that is not an object", endpoint=name)
        if data.get("type") == "error":
            raise stream_error(name, data)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProtocolError(f"{name} sent a message without a 'content' list", endpoint=name)
        text = "".join(
            str(b.get("text", ""))
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text"
        )
        return ChatChunk(
            delta=text,
            finish_reason=finish_reason(data.get("stop_reason")),
            usage=_usage(data.get("usage")),
            model=data.get("model"),
        )

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        usage: Usage | None = None
        model: str | None = None
        stop: Any = None
        done = False
        async for event, data in iter_sse(resp):
            obj = loads(data, endpoint=name)
            if not isinstance(obj, dict):
                raise ProtocolError(
                    f"{name} sent a stream event that is not an object", endpoint=name
                )
            etype = obj.get("type") or event
            if etype == "content_block_delta":
                delta = obj.get("delta") or {}
                if isinstance(delta, dict) and delta.get("type") == "text_delta":
                    text = delta.get("text")
                    if text:
                        yield ChatChunk(delta=str(text))
            elif etype == "message_start":
                message = obj.get("message") or {}
                if isinstance(message, dict):
                    model = message.get("model") or model
                    usage = _usage(message.get("usage"), usage)
            elif etype == "message_delta":
                delta = obj.get("delta") or {}
                if isinstance(delta, dict) and delta.get("stop_reason"):
                    stop = delta["stop_reason"]
                usage = _usage(obj.get("usage"), usage)
            elif etype == "message_stop":
                done = True
                break
            elif etype == "error":
                raise stream_error(name, obj)
            # ping, content_block_start, content_block_stop: nothing to do
        if not done:
            raise ProtocolError(f"{name} cut the stream short (no message_stop)", endpoint=name)
        yield ChatChunk(finish_reason=finish_reason(stop), usage=usage, model=model)
