"""Google's Gemini API (``generativelanguage.googleapis.com``).

``base_url`` is the host; a trailing ``/v1beta`` (or ``/v1``) is accepted. Requests go
to ``models/{model}:generateContent`` and, streamed, to
``models/{model}:streamGenerateContent?alt=sse``. The key (``spec.api_key``) goes in
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
from endpoint_desk.adapters.restkit import (
    ErrorHook,
    data_url,
    open_response,
    read_json,
    split_system,
    strip_suffix,
)
from endpoint_desk.core.errors import (
    AuthFailed,
    ConfigError,
    ContentBlocked,
    DeskError,
    ProtocolError,
    UpstreamError,
)
from endpoint_desk.core.models import ChatChunk, ChatMessage, ChatRequest, EndpointKind, Usage

SAFETY_REASONS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
"""Finish reasons that mean Google withheld the reply."""

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "stop",
    "OTHER": "stop",
    "LANGUAGE": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    **{reason: "content_filter" for reason in SAFETY_REASONS},
}
"""Gemini ``finishReason`` -> OpenAI ``finish_reason``."""


def finish_reason(reason: Any) -> str:
    """OpenAI's finish reason for a Gemini finish reason (unknown ones -> ``stop``)."""
    return FINISH_REASONS.get(str(reason), "stop") if reason else "stop"


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}]
    parts: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": str(part.get("text", ""))})
        elif kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            inline = data_url(url) if isinstance(url, str) else None
            if inline is not None:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            elif isinstance(url, str):
                parts.append({"fileData": {"fileUri": url}})
    return parts or [{"text": ""}]


def gemini_body(
    request: ChatRequest,
    *,
    safety_settings: list[Any] | None = None,
    generation_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``generateContent`` body for a request."""
    system, rest = split_system(request.messages)
    contents: list[dict[str, Any]] = []
    for m in rest:
        role = "model" if m.role == "assistant" else "user"
        parts = _parts(m)
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = dict(generation_config or {})
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.stop:
        config["stopSequences"] = list(request.stop)
    if config:
        body["generationConfig"] = config
    if safety_settings:
        body["safetySettings"] = safety_settings
    return body


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    out = data.get("candidatesTokenCount")
    thoughts = data.get("thoughtsTokenCount")
    return Usage(
        input_tokens=int(data.get("promptTokenCount") or 0),
        output_tokens=int(out or 0) + int(thoughts or 0),
    )


def _ratings(items: Any) -> str:
    """The categories Google flagged, for the error message."""
    if not isinstance(items, list):
        return ""
    flagged = [
        str(r.get("category", "?")).removeprefix("HARM_CATEGORY_").lower()
        for r in items
        if isinstance(r, dict) and (r.get("blocked") or r.get("probability") in ("HIGH", "MEDIUM"))
    ]
    return f" (flagged: {', '.join(flagged)})" if flagged else ""


class _Piece:
    """What one ``GenerateContentResponse`` holds."""

    __slots__ = ("finish", "model", "ratings", "text", "usage")

    def __init__(self, endpoint: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise ProtocolError(
                f"{endpoint} sent a response that is not an object", endpoint=endpoint
            )
        if "error" in obj:
            err = obj["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise UpstreamError(f"{endpoint} reported an error: {msg}", endpoint=endpoint)
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            reason = feedback["blockReason"]
            raise ContentBlocked(
                f"{endpoint} refused the prompt: safety block (blockReason {reason})"
                + _ratings(feedback.get("safetyRatings")),
                endpoint=endpoint,
            )
        self.usage = _usage(obj.get("usageMetadata"))
        self.model: str | None = obj.get("modelVersion")
        self.text = ""
        self.finish: str | None = None
        self.ratings: Any = None
        candidates = obj.get("candidates")
        if candidates is None:
            return
        if not isinstance(candidates, list):
            raise ProtocolError(
                f"{endpoint} sent 'candidates' that is not a list", endpoint=endpoint
            )
        if not candidates:
            return
        cand = candidates[0]
        if not isinstance(cand, dict):
            raise ProtocolError(
                f"{endpoint} sent a candidate that is not an object", endpoint=endpoint
            )
        content = cand.get("content") or {}
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, list):
            self.text = "".join(
                str(p.get("text", ""))
                for p in parts
                if isinstance(p, dict) and "text" in p and not p.get("thought")
            )
        self.finish = cand.get("finishReason") or None
        self.ratings = cand.get("safetyRatings")


def _blocked(endpoint: str, piece: _Piece) -> ContentBlocked:
    return ContentBlocked(
        f"{endpoint} withheld the reply: safety block (finishReason {piece.finish})"
        + _ratings(piece.ratings),
        endpoint=endpoint,
    )


class GeminiAdapter(Adapter):
    """Gemini ``generateContent`` over the shared connection pool."""

    kind: ClassVar[EndpointKind] = EndpointKind.GEMINI
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True, list_models=True, vision=True
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
        """Models of ``GET /models`` that can ``generateContent`` (all pages)."""
        name = self.spec.name
        headers, params = self._headers()
        params = {**params, "pageSize": "1000"}
        models: list[str] = []
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
                if isinstance(methods, list) and "generateContent" not in methods:
                    continue
                models.append(str(m["name"]).removeprefix("models/"))
            token = data.get("nextPageToken")
            if not token:
                break
            params = {**params, "pageToken": str(token)}
        return models

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        model = request.model.removeprefix("models/")
        if not model:
            raise ConfigError(f"{name}: no model given and the endpoint has no default model")
        body = gemini_body(request, safety_settings=self._safety, generation_config=self._gen)
        headers, params = self._headers()
        method = "streamGenerateContent" if request.stream else "generateContent"
        if request.stream:
            params = {**params, "alt": "sse"}
        url = f"{self._root}/models/{quote(model, safe='@=,.-_:')}:{method}"
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
        piece = _Piece(name, loads(raw, endpoint=name))
        if piece.finish is None and not piece.text:
            raise ProtocolError(f"{name} sent a response without candidates", endpoint=name)
        if piece.finish in SAFETY_REASONS and not piece.text:
            raise _blocked(name, piece)
        yield ChatChunk(
            delta=piece.text,
            finish_reason=finish_reason(piece.finish),
            usage=piece.usage,
            model=piece.model,
        )

    async def _read_stream(self, resp: Response) -> AsyncIterator[ChatChunk]:
        name = self.spec.name
        usage: Usage | None = None
        model: str | None = None
        finish: str | None = None
        sent = False
        async for _event, data in iter_sse(resp):
            piece = _Piece(name, loads(data, endpoint=name))
            usage = piece.usage or usage
            model = piece.model or model
            if piece.text:
                sent = True
                yield ChatChunk(delta=piece.text)
            if piece.finish:
                finish = piece.finish
                if finish in SAFETY_REASONS and not sent:
                    raise _blocked(name, piece)
        if finish is None:
            raise ProtocolError(f"{name} cut the stream short (no finishReason)", endpoint=name)
        yield ChatChunk(finish_reason=finish_reason(finish), usage=usage, model=model)


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
