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

from endpoint_desk.core import tools as toolkit
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

    # an invalid value is never echoed in an error (it may be a password typed in the
    # wrong field, such as a proxy URL with its password written out)
    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

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
    capabilities: dict[str, bool] = Field(
        default_factory=dict,
        description="Overrides of what the adapter declares it can do (streaming, tools, "
        "vision, json_schema, embeddings), where the user knows better.",
    )
    proxy: str | None = Field(
        None,
        description="HTTP proxy for this endpoint's REST calls (http://[user:REF@]host:port, "
        "a password only as a secret reference), or 'direct' to ignore HTTPS_PROXY and "
        "HTTP_PROXY; default: those variables.",
    )
    ca_file: str | None = Field(
        None, description="PEM bundle of the CAs to trust for this endpoint's TLS."
    )
    verify_tls: bool = Field(
        True, description="Check the upstream's TLS certificate (off only for a test server)."
    )
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

    @field_validator("capabilities")
    @classmethod
    def _check_capabilities(cls, value: dict[str, bool]) -> dict[str, bool]:
        unknown = sorted(set(value) - set(toolkit.CAPABILITIES))
        if unknown:
            raise ValueError(
                f"unknown capability {unknown[0]!r}; capabilities are "
                + ", ".join(toolkit.CAPABILITIES)
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("proxy")
    @classmethod
    def _check_proxy(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "direct":
            return None if value is None else "direct"
        return check_proxy_url(value)

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


_SECRET_REF = re.compile(r"^(env|keyring|file):[A-Za-z0-9_.\-]+$")


def check_proxy_url(value: str) -> str:
    """An ``http://host:port`` proxy URL, its password (if any) a secret reference.

    Raises:
        ValueError: another scheme, no host, or a password written out in the URL.
    """
    from urllib.parse import unquote, urlsplit

    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError(
            f"proxy must be an http://host:port URL (or 'direct'), got {mask_proxy(value)!r}"
        )
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"proxy has a bad port: {mask_proxy(value)!r}") from exc
    if parts.password is not None and not _SECRET_REF.match(unquote(parts.password)):
        raise ValueError(
            "a proxy password must be a secret reference (http://user:env:NAME@host:port), "
            "never the password itself"
        )
    return value


def mask_proxy(url: str) -> str:
    """A proxy URL with any password replaced by ``***`` (for messages and logs)."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, userinfo = head.partition("://")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in userinfo else url


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
