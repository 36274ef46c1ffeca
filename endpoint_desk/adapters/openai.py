"""OpenAI-style chat completions: OpenAI itself and every compatible service
(DeepSeek, DeepInfra, Z.ai, OpenRouter, Groq, vLLM, llama.cpp, LM Studio...).

``base_url`` may end in ``/v1`` (or any version path such as ``/api/paas/v4``) or be a
bare host; the adapter appends ``/v1`` only when the URL has no path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import DeskError, ProtocolError
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind
from endpoint_desk.wire.openai.embeddings import embeddings_body, parse_embeddings
from endpoint_desk.wire.openai.request import chat_body
from endpoint_desk.wire.openai.response import (
    RawEvents,
    StreamState,
    parse_completion,
)


def api_root(base_url: str) -> str:
    """``http://host:1234`` -> ``http://host:1234/v1``; URLs with a path stay as given."""
    base = base_url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        return base + "/v1"
    return base


class OpenAIAdapter(Adapter):
    """Chat completions over HTTP with the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.OPENAI
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True,
        list_models=True,
        tools=True,
        vision=True,
        json_schema=True,
        embeddings=True,
    )
    """OpenAI's API can do all of it; a compatible service whose models cannot (no
    vision on a text model, no tools on a small local one) says so per endpoint with
    ``capabilities``, or the upstream's own 400 tells the caller."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._root = api_root(self.spec.base_url)
        self._chat_url = self._root + "/chat/completions"
        self._models_url = self._root + "/models"
        self._embeddings_url = self._root + "/embeddings"

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

    async def embed(self, request: EmbeddingRequest) -> EmbeddingResult:
        """``POST {root}/embeddings``; vectors are asked for as floats."""
        name = self.spec.name
        data = await read_json(
            "POST",
            self._embeddings_url,
            endpoint=name,
            route=self.route,
            headers=self._headers(),
            timeout=self.spec.limits.timeout_seconds,
            on_error=default_error_hook(name, request.model),
            body=orjson.dumps(embeddings_body(request)),
        )
        vectors, usage, model = parse_embeddings(data, name)
        return self.embedded(request, vectors, usage, model)

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        stream = request.stream
        body = orjson.dumps(chat_body(request, stream=stream))
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
                    if request.raw_sse:
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
        return parse_completion(loads(raw, endpoint=name), name)

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        state = StreamState(name)
        async for _event, data in iter_sse(resp):
            if data == "[DONE]":
                state.done = True
                break
            text, fragments = state.feed(loads(data, endpoint=name))
            if text or fragments:
                yield ChatChunk(delta=text, tool_calls=fragments)
        yield state.final()

    async def _read_raw(self, resp: Response, include_usage: bool) -> AsyncIterator[ChatChunk]:
        """Yield one chunk per network read: its text and tool calls, and its complete
        events as raw bytes (see ``ChatRequest.raw_sse``); then the final chunk."""
        state = StreamState(self.spec.name)
        events = RawEvents(state, include_usage)
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
            text, fragments, raw = events.feed(block[: cut + 2])
            yield ChatChunk(delta=text, tool_calls=fragments, metadata={"raw_sse": raw})
        if rest.strip():
            text, fragments, raw = events.feed(rest + b"\n\n")
            yield ChatChunk(delta=text, tool_calls=fragments, metadata={"raw_sse": raw})
        yield state.final()
