"""OpenAI-style chat completions: OpenAI itself and every compatible service
(DeepSeek, DeepInfra, Z.ai, OpenRouter, Groq, vLLM, llama.cpp, LM Studio...).

``base_url`` may end in ``/v1`` (or any version path such as ``/api/paas/v4``) or be a
bare host; the adapter appends ``/v1`` only when the URL has no path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextvars import ContextVar
from typing import Any, ClassVar
from urllib.parse import urlsplit

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import (
    error_for_status,
    iter_sse,
    loads,
    translate_exception,
)
from endpoint_desk.adapters.restkit import default_error_hook, read_json
from endpoint_desk.adapters.transport import Response
from endpoint_desk.adapters.transport import request as http_request
from endpoint_desk.core.errors import DeskError, ProtocolError
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind, Usage

RAW_SSE: ContextVar[bool] = ContextVar("endpoint_desk_raw_sse", default=False)
"""Set by a front end that forwards the upstream's own SSE bytes (the ``/v1`` server).

While it is true in the task iterating a streamed chat, the chunks carry
``metadata["raw_sse"]``: the complete OpenAI ``data:`` events they were parsed from, as
received (the usage-only event left out unless the request asked for usage). Text,
usage and finish reason are still parsed, so routing, metrics and cost see the same
chunks; the last chunk (finish reason, usage) carries no raw bytes.
"""


def api_root(base_url: str) -> str:
    """``http://host:1234`` -> ``http://host:1234/v1``; URLs with a path stay as given."""
    base = base_url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        return base + "/v1"
    return base


def openai_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The OpenAI wire body for a request (model already mapped)."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [m.to_dict() for m in request.messages],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = request.stop
    if request.extra:
        for key, value in request.extra.items():
            body.setdefault(key, value)
    return body


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
    )


class OpenAIAdapter(Adapter):
    """Chat completions over HTTP with the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.OPENAI
    capabilities: ClassVar[Capabilities] = Capabilities(streaming=True, list_models=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root = api_root(self.spec.base_url)
        self._chat_url = self._root + "/chat/completions"
        self._models_url = self._root + "/models"

    def _headers(self) -> dict[str, str]:
        return self.bearer_json_headers()

    async def list_models(self) -> list[str]:
        name = self.spec.name
        data = await read_json(
            "GET",
            self._models_url,
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=min(self.spec.limits.timeout_seconds, 15.0),
            on_error=default_error_hook(name, None, "model list"),
        )
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"{name}: /models did not return a 'data' list", endpoint=name)
        return [str(m["id"]) for m in items if isinstance(m, dict) and "id" in m]

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        stream = request.stream
        body = orjson.dumps(openai_body(request, stream=stream))
        seconds = self.spec.limits.timeout_seconds
        started = False
        try:
            resp = await http_request(
                "POST",
                self._chat_url,
                endpoint=name,
                route=self.route,
                headers=self._headers(),
                body=body,
                timeout=seconds,
            )
            async with resp:
                if resp.status != 200:
                    raw = await resp.read()
                    raise error_for_status(
                        resp.status, raw, resp.headers, endpoint=name, model=request.model
                    )
                started = True
                ctype = resp.headers.get("Content-Type", "")
                if stream and "text/event-stream" in ctype:
                    if RAW_SSE.get():
                        reader = self._read_raw(resp, request.include_usage)
                    else:
                        reader = self._read_stream(resp)
                    async for chunk in reader:
                        yield chunk
                    return
                raw = await resp.read()
                yield self._parse_whole(raw)
        except DeskError:
            raise
        except GeneratorExit:
            raise
        except Exception as exc:
            raise translate_exception(exc, endpoint=name, started_body=started) from exc

    def _parse_whole(self, raw: bytes) -> ChatChunk:
        name = self.spec.name
        data = loads(raw, endpoint=name)
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            content = message.get("content") or ""
            finish = choice.get("finish_reason") or "stop"
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProtocolError(
                f"{name} sent a completion without choices[0].message", endpoint=name
            ) from exc
        return ChatChunk(
            delta=str(content),
            finish_reason=str(finish),
            usage=_usage(data.get("usage")),
            model=data.get("model"),
        )

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        finish: str | None = None
        usage: Usage | None = None
        model: str | None = None
        done = False
        async for _event, data in iter_sse(resp):
            if data == "[DONE]":
                done = True
                break
            obj = loads(data, endpoint=name)
            if not isinstance(obj, dict):
                raise ProtocolError(f"{name} sent a stream event that is not an object")
            if "error" in obj:
                err = obj["error"]
                msg = err.get("message") if isinstance(err, dict) else str(err)
                raise ProtocolError(f"{name} reported an error mid-stream: {msg}", endpoint=name)
            if obj.get("usage"):
                usage = _usage(obj["usage"])
            model = obj.get("model") or model
            for choice in obj.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    yield ChatChunk(delta=text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        if not done and finish is None:
            raise ProtocolError(f"{name} cut the stream short (no [DONE])", endpoint=name)
        yield ChatChunk(finish_reason=finish or "stop", usage=usage, model=model)

    async def _read_raw(self, resp: Response, include_usage: bool) -> AsyncIterator[ChatChunk]:
        """Yield one chunk per network read: its text, and its complete events as raw
        bytes (see ``RAW_SSE``); then the final chunk."""
        state = _RawState(self.spec.name, include_usage)
        rest = b""
        async for block in resp.iter_any():
            if rest:
                block = rest + block
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            cut = block.rfind(b"\n\n")
            if cut < 0:
                rest = block
                continue
            rest = block[cut + 2 :]
            text, raw = state.feed(block[: cut + 2])
            yield ChatChunk(delta=text, metadata={"raw_sse": raw})
        if rest.strip():
            text, raw = state.feed(rest + b"\n\n")
            yield ChatChunk(delta=text, metadata={"raw_sse": raw})
        if not state.done and state.finish is None:
            raise ProtocolError(f"{self.spec.name} cut the stream short (no [DONE])")
        yield ChatChunk(finish_reason=state.finish or "stop", usage=state.usage, model=state.model)


class _RawState:
    """What the raw SSE reader learned so far (usage, finish reason, model, [DONE])."""

    __slots__ = ("done", "finish", "include_usage", "model", "name", "usage")

    def __init__(self, name: str, include_usage: bool) -> None:
        self.name = name
        self.include_usage = include_usage
        self.done = False
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None

    def feed(self, complete: bytes) -> tuple[str, bytes]:
        """Parse complete events; return their text and the bytes to forward."""
        texts: list[str] = []
        dropped = False
        keep: list[bytes] = []
        for event in complete.split(b"\n\n"):
            if not event:
                continue
            data = _event_data(event)
            if data is None:
                keep.append(event)
                continue
            if data == b"[DONE]":
                self.done = True
                keep.append(event)
                continue
            obj = loads(data, endpoint=self.name)
            if not isinstance(obj, dict):
                raise ProtocolError(f"{self.name} sent a stream event that is not an object")
            if "error" in obj:
                err = obj["error"]
                msg = err.get("message") if isinstance(err, dict) else str(err)
                raise ProtocolError(
                    f"{self.name} reported an error mid-stream: {msg}", endpoint=self.name
                )
            if obj.get("usage"):
                self.usage = _usage(obj["usage"])
            self.model = obj.get("model") or self.model
            choices = obj.get("choices")
            if choices:
                for choice in choices:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if text:
                        texts.append(text)
                    if choice.get("finish_reason"):
                        self.finish = choice["finish_reason"]
            elif not self.include_usage:
                dropped = True
                continue
            keep.append(event)
        raw = b"".join(e + b"\n\n" for e in keep) if dropped else complete
        return "".join(texts), raw


def _event_data(event: bytes) -> bytes | None:
    """The data of one SSE event (``None`` for a comment or an event without data)."""
    if event.startswith(b"data: ") and b"\n" not in event:
        return event[6:]
    data: list[bytes] = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(data) if data else None
