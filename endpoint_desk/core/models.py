"""Domain types: what an endpoint is, what a request and a result are.

``EndpointSpec`` and its parts are pydantic models (they come from config files, the
CLI and the management API and must be validated). The request/response types on
the hot path are plain slotted dataclasses.
"""

from __future__ import annotations

import enum
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from endpoint_desk.core.errors import BadRequest

# ---------------------------------------------------------------------------
# Endpoints
# ---------------------------------------------------------------------------


class EndpointKind(enum.StrEnum):
    """Wire protocol of an endpoint; one adapter per kind."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    OLLAMA = "ollama"
    TEMPLATE = "template"
    WEB_CHAT = "web_chat"


class EndpointState(enum.StrEnum):
    """Where an endpoint stands.

    ``off`` is a person's choice; ``tripped`` is the desk's (with a reason and a time
    to retry) and only the desk re-enables it; ``error`` needs a person (bad
    credentials, broken config).
    """

    OFF = "off"
    STARTING = "starting"
    ON = "on"
    DEGRADED = "degraded"
    TRIPPED = "tripped"
    ERROR = "error"

    @property
    def serving(self) -> bool:
        """Whether the router may send requests here."""
        return self in (EndpointState.ON, EndpointState.DEGRADED)


_SLUG_RE = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """``DeepSeek Web Chat`` -> ``deepseek-web-chat``."""
    slug = _SLUG_RE.sub("-", name.strip().lower()).strip("-")
    return slug


class Limits(BaseModel):
    """Per-endpoint guards. The rate and concurrency limits are off unless set: the
    desk never throttles what its user did not limit (an upstream's own 429 is still
    honoured)."""

    model_config = ConfigDict(extra="forbid")

    max_requests_per_minute: int | None = Field(
        None, ge=1, examples=[60], description="Requests admitted per minute (not set: no limit)."
    )
    max_concurrent_requests: int | None = Field(
        None, ge=1, examples=[5], description="Requests in flight at once (not set: no limit)."
    )
    queue_seconds: float | None = Field(
        None,
        ge=0,
        examples=[30.0],
        description="Seconds a request waits for a slot when a limit set here is full, "
        "before it fails over or gets 429 (not set: [routing] queue_seconds).",
    )
    timeout_seconds: float = Field(30.0, gt=0, description="Whole-request time limit.")
    retry_attempts: int = Field(3, ge=0, description="Further endpoints tried on failure.")
    health_check_interval: float = Field(300.0, gt=0, description="Seconds between probes.")
    daily_budget: float | None = Field(None, ge=0, description="Spend cap per day, USD.")


class Prices(BaseModel):
    """USD per million tokens; overrides the price table for this endpoint."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(0.0, ge=0)


class ProxyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    server: str
    username: str | None = None
    password: str | None = Field(None, description="A secret reference, never a value.")


class Viewport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(1280, ge=200)
    height: int = Field(900, ge=200)


class BrowserConfig(BaseModel):
    """How the browser behind a web chat endpoint is set up."""

    model_config = ConfigDict(extra="allow")

    headless: bool = True
    user_agent: str | None = None
    viewport: Viewport = Field(default_factory=Viewport)
    timeout: float = Field(60.0, gt=0, description="Seconds for a page load or a reply.")
    proxy: ProxyConfig | None = None
    executable_path: str | None = None
    anti_detection: bool = False


class EndpointSpec(BaseModel):
    """Everything the desk knows about one endpoint (its configuration, not its state).

    Secrets appear only as references (``env:NAME``, ``keyring:NAME``, ``file:NAME``),
    never as values.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(description="Slug: lowercase letters, digits and dashes.")
    display_name: str | None = None
    kind: EndpointKind
    base_url: str
    api_key: str | None = Field(None, description="Secret reference for the API key.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers; values may be secret references."
    )
    models: list[str] = Field(default_factory=list, description="Upstream model names.")
    model_mapping: dict[str, str] = Field(
        default_factory=dict, description="Asked model name -> upstream model name."
    )
    default_model: str | None = None
    limits: Limits = Field(default_factory=Limits)
    weight: float = Field(1.0, ge=0, description="Share for the weighted strategy.")
    tier: int = Field(0, ge=0, description="Priority tier; lower tiers are tried first.")
    prices: Prices | None = None
    browser_config: BrowserConfig | None = None
    login_url: str | None = None
    username: str | None = Field(None, description="Secret reference for a login name.")
    password: str | None = Field(None, description="Secret reference for a password.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Adapter-specific settings (web chat selectors, template, versions).",
    )
    cache: bool = Field(False, description="Serve identical requests from the reply cache.")
    health_probe: Literal["cheap", "chat"] = "cheap"
    note: str = ""
    demo: bool = False
    enabled: bool = Field(True, description="Switched ON by a person.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        slug = slugify(value)
        if not slug:
            raise ValueError("name must contain a letter or a digit")
        return slug

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _defaults(self) -> EndpointSpec:
        if self.display_name is None:
            object.__setattr__(self, "display_name", self.name)
        return self

    # ---- model names -----------------------------------------------------

    def answers_to(self) -> list[str]:
        """Every model name this endpoint answers to: upstream names and mapped names."""
        names = list(dict.fromkeys([*self.model_mapping, *self.models]))
        return names

    def upstream_model(self, asked: str | None) -> str | None:
        """Translate an asked model name into this endpoint's upstream name.

        ``None`` or an empty name means "whatever the endpoint serves by default".
        """
        if not asked:
            return self.default_model or (self.models[0] if self.models else None)
        if asked in self.model_mapping:
            return self.model_mapping[asked]
        return asked

    def serves(self, asked: str) -> bool:
        """Whether this endpoint serves ``asked`` directly or by mapping.

        An endpoint that lists no models serves any name (many local servers do).
        """
        if asked in self.model_mapping or asked in self.models:
            return True
        return not self.models and not self.model_mapping


# ---------------------------------------------------------------------------
# Requests and results
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class ChatMessage:
    role: str
    content: str | list[dict[str, Any]]
    name: str | None = None

    @property
    def text(self) -> str:
        """The message's text; multi-part content keeps only its text parts."""
        if isinstance(self.content, str):
            return self.content
        return "".join(
            str(part.get("text", "")) for part in self.content if part.get("type") == "text"
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.name:
            out["name"] = self.name
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
            name = m.get("name")
            messages.append(ChatMessage(role, content, name if isinstance(name, str) else None))
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise BadRequest("'stream' must be a boolean", param="stream")
        temperature = _number(body, "temperature", 0.0, 2.0)
        top_p = _number(body, "top_p", 0.0, 1.0)
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
        )

    def prompt_text(self) -> str:
        """All message texts joined, for token estimates."""
        return "\n".join(m.text for m in self.messages)


def _number(body: dict[str, Any], key: str, lo: float, hi: float) -> float | None:
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

    def to_dict(self) -> dict[str, Any]:
        """The standardized result as JSON-ready data."""
        return {
            "id": self.id,
            "provider": self.provider,
            "model": self.model,
            "endpoint": self.endpoint,
            "response": {
                "content": self.content,
                "type": self.type,
                "metadata": {"finish_reason": self.finish_reason, **self.metadata},
            },
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
