"""What a request and a result are: ``ChatMessage``, ``ChatRequest`` (read and checked
from OpenAI's body), ``ChatChunk``, ``Usage``, ``Attempt``, ``ChatResult`` and
``ProbeResult``. These are on the hot path, so they are plain slotted dataclasses.
``core/models.py`` re-exports everything here."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.core import tools as toolkit
from endpoint_desk.core.errors import BadRequest

# ---------------------------------------------------------------------------
# Requests and results
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class ChatMessage:
    """One message in OpenAI's shape.

    ``tool_calls`` (assistant) and ``tool_call_id`` (role ``tool``) are OpenAI-shaped
    (see ``core/tools.py``).
    """

    role: str
    content: str | list[dict[str, Any]]
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @property
    def text(self) -> str:
        """The message's text; multi-part content keeps only its text parts."""
        if isinstance(self.content, str):
            return self.content
        return "".join(
            str(part.get("text", "")) for part in self.content if part.get("type") == "text"
        )

    @property
    def images(self) -> list[str]:
        """The image URLs of a multi-part message, in order."""
        if isinstance(self.content, str):
            return []
        return [u for u in (toolkit.image_url_of(p) for p in self.content) if u is not None]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
            if not self.content:
                out["content"] = None
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
OPENAI_CHAT_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "n",
        "max_tokens", "max_completion_tokens", "stop", "presence_penalty",
        "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "user", "seed",
        "response_format", "tools", "tool_choice", "parallel_tool_calls", "functions",
        "function_call", "service_tier", "store", "metadata", "modalities", "audio",
        "prediction", "reasoning_effort", "web_search_options", "verbosity",
        "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip
"""Every top-level field of OpenAI's chat completions request."""
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "stop",
        "stream_options",
        "user",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
    }
)


@dataclass(slots=True)
class ChatRequest:
    """An OpenAI-shaped chat request, as the engine and the adapters see it."""

    messages: list[ChatMessage]
    model: str = ""
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    include_usage: bool = False
    cache: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    raw_sse: bool = False
    """Set by a front end that forwards the upstream's own SSE bytes (the ``/v1``
    server, through ``Desk.stream(request, raw=True)``); never read from a client's body.

    Adapters that can (OpenAI-style upstreams) then attach ``metadata["raw_sse"]`` to
    the chunks of a streamed reply: the complete OpenAI ``data:`` events they were parsed
    from, as received (the usage-only event left out unless the request asked for usage).
    Text, usage and finish reason are still parsed, so routing, metrics and cost see the
    same chunks; the last chunk (finish reason, usage) carries no raw bytes.
    """
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    inlined: dict[str, str] = field(default_factory=dict)
    """``data:`` URLs of the http(s) images already fetched for this request (the first
    attempt fetches, a failover reuses them; ``adapters/images.py``)."""

    def needs(self) -> frozenset[str]:
        """The capabilities (``core.tools.CAPABILITIES``) an endpoint must have to serve
        this request: ``tools`` (tools offered and not switched off), ``vision`` (an
        image part), ``json_schema`` (a JSON response format)."""
        needs: set[str] = set()
        if self.tools and self.tool_choice != "none":
            needs.add("tools")
        if self.response_format is not None:
            needs.add("json_schema")
        for m in self.messages:
            if not isinstance(m.content, str) and m.images:
                needs.add("vision")
                break
        return frozenset(needs)

    @classmethod
    def from_text(cls, text: str, model: str = "", **kw: Any) -> ChatRequest:
        return cls(messages=[ChatMessage("user", text)], model=model, **kw)

    @classmethod
    def from_openai(cls, body: Any, *, extra_fields: frozenset[str] | None = None) -> ChatRequest:
        """Validate an OpenAI ``/v1/chat/completions`` body.

        Args:
            extra_fields: top-level fields accepted besides OpenAI's own (provider
                extensions such as ``top_k``); any other field is refused. ``None``
                accepts every field.
        Raises:
            BadRequest: with ``param`` naming the offending field.
        """
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object", param=None)
        if extra_fields is not None:
            for key in body:
                if key not in OPENAI_CHAT_FIELDS and key != "cache" and key not in extra_fields:
                    raise BadRequest(
                        f"unknown field {str(key)[:60]!r}; provider extensions the desk "
                        "passes on are listed in [server] extra_fields",
                        param=str(key)[:60],
                    )
        model = body.get("model", "")
        if not isinstance(model, str):
            raise BadRequest("'model' must be a string", param="model")
        raw_messages = body.get("messages")
        if not isinstance(raw_messages, list) or not raw_messages:
            raise BadRequest("'messages' must be a non-empty array", param="messages")
        messages: list[ChatMessage] = []
        for i, m in enumerate(raw_messages):
            if not isinstance(m, dict):
                raise BadRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
            role = m.get("role")
            if role not in _ROLES:
                raise BadRequest(
                    f"messages[{i}].role must be one of {sorted(_ROLES)}",
                    param=f"messages[{i}].role",
                )
            content = m.get("content")
            if content is None:
                content = ""
            if isinstance(content, list):
                if not all(isinstance(p, dict) for p in content):
                    raise BadRequest(
                        f"messages[{i}].content parts must be objects",
                        param=f"messages[{i}].content",
                    )
            elif not isinstance(content, str):
                raise BadRequest(
                    f"messages[{i}].content must be a string or an array",
                    param=f"messages[{i}].content",
                )
            if isinstance(content, list):
                toolkit.check_parts(content, f"messages[{i}].content")
            name = m.get("name")
            calls = None
            if role == "assistant" and m.get("tool_calls") is not None:
                calls = toolkit.check_tool_calls(m["tool_calls"], f"messages[{i}].tool_calls")
            call_id = m.get("tool_call_id")
            if call_id is not None and not isinstance(call_id, str):
                raise BadRequest(
                    f"messages[{i}].tool_call_id must be a string",
                    param=f"messages[{i}].tool_call_id",
                )
            messages.append(
                ChatMessage(
                    role,
                    content,
                    name if isinstance(name, str) else None,
                    calls,
                    call_id if role == "tool" else None,
                )
            )
        toolkit.check_tool_links(messages)
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean", param="stream")
        temperature = number_field(body, "temperature", 0.0, 2.0)
        top_p = number_field(body, "top_p", 0.0, 1.0)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (
            isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
        ):
            raise BadRequest("'max_tokens' must be a positive integer", param="max_tokens")
        stop = body.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        elif stop is not None and (
            not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
        ):
            raise BadRequest("'stop' must be a string or an array of strings", param="stop")
        opts = body.get("stream_options")
        include_usage = bool(isinstance(opts, dict) and opts.get("include_usage"))
        cache = body.get("cache")
        extra = {k: v for k, v in body.items() if k not in _KNOWN_FIELDS and k != "cache"}
        tools = toolkit.check_tools(body.get("tools"))
        parallel = body.get("parallel_tool_calls")
        if parallel is not None and not isinstance(parallel, bool):
            raise BadRequest("'parallel_tool_calls' must be a boolean", param="parallel_tool_calls")
        return cls(
            messages=messages,
            model=model,
            stream=stream,
            temperature=temperature,
            max_tokens=max_tokens,
            top_p=top_p,
            stop=stop,
            include_usage=include_usage,
            cache=cache if isinstance(cache, bool) else None,
            extra=extra,
            tools=tools,
            tool_choice=toolkit.check_tool_choice(body.get("tool_choice"), tools),
            parallel_tool_calls=parallel,
            response_format=toolkit.check_response_format(body.get("response_format")),
        )

    def prompt_text(self) -> str:
        """All message texts joined, for token estimates."""
        return "\n".join(m.text for m in self.messages)


def number_field(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
    """``body[key]`` as a float in ``[lo, hi]`` (``None`` when absent).

    Raises:
        BadRequest: the value is not a number in range.
    """
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise BadRequest(f"'{key}' must be a number between {lo:g} and {hi:g}", param=key)
    return float(value)


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "cost": round(self.cost, 8),
            "estimated": self.estimated,
        }


@dataclass(slots=True)
class ChatChunk:
    """One piece of a streamed reply.

    An adapter yields text deltas; its last chunk carries ``finish_reason`` and, when
    the upstream reported it, ``usage`` (and, for conversations the adapter keeps,
    ``session_id``).
    """

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    """Tool-call fragments in OpenAI's ``delta.tool_calls`` shape (index, id, name,
    argument pieces); a chunk with tool calls counts as content for failover."""


@dataclass(slots=True)
class Attempt:
    """One try at one endpoint while serving a request."""

    endpoint: str
    error_kind: str | None = None
    error: str | None = None
    started: float = 0.0
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "error_kind": self.error_kind,
            "error": self.error,
            "started": self.started,
            "elapsed_ms": round(self.elapsed_ms, 2),
        }


def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


@dataclass(slots=True)
class ChatResult:
    """The standardized result: the same shape whatever served the request."""

    id: str
    provider: str
    model: str
    content: str
    endpoint: str
    type: str = "text"
    finish_reason: str | None = "stop"
    metadata: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    session_id: str | None = None
    session_persistent: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    created: float = field(default_factory=time.time)
    attempts: list[Attempt] = field(default_factory=list)
    cached: bool = False
    tool_calls: list[dict[str, Any]] | None = None
    """Whole tool calls in OpenAI's message shape, when the model called tools."""

    def to_dict(self) -> dict[str, Any]:
        """The standardized result as JSON-ready data."""
        response: dict[str, Any] = {
            "content": self.content,
            "type": "tool_calls" if self.tool_calls else self.type,
            "metadata": {"finish_reason": self.finish_reason, **self.metadata},
        }
        if self.tool_calls:
            response["tool_calls"] = self.tool_calls
        return {
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            "endpoint": self.endpoint,
            "response": response,
            "usage": self.usage.to_dict(),
            "session": {"id": self.session_id, "persistent": self.session_persistent},
            "timing": {
                "latency_ms": round(self.latency_ms, 2),
                "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 2),
            },
            "attempts": [a.to_dict() for a in self.attempts],
            "cached": self.cached,
            "created": int(self.created),
        }


# ---------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class ProbeResult:
    """What a health or discovery probe found."""

    ok: bool
    latency_ms: float = 0.0
    models: list[str] = field(default_factory=list)
    detail: str = ""
    error_kind: str | None = None
