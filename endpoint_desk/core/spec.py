"""What an endpoint is: its kind, state, limits, prices, browser settings and the whole
``EndpointSpec`` (pydantic models: they come from config files, the CLI and the
management API and must be validated). ``core/models.py`` re-exports everything here."""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from endpoint_desk.core import tools as toolkit

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
