"""Typed settings: one object, from (highest first) arguments, ``DESK_*`` environment
variables, a ``.env`` file in the working folder, the TOML config file, defaults.

Nested sections use ``__`` in environment names: ``DESK_SERVER__PORT=9000``.
A few well-known names are read too: ``DATABASE_URL``, ``LOG_LEVEL``, ``DB_ECHO``,
``DESK_API_KEY``.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import Limits
from endpoint_desk.core.paths import Paths, get_paths

Strategy = Literal["success_rate", "latency", "round_robin", "weighted", "least_busy", "cost"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    """The local ``/v1`` gateway and the management API."""

    host: str = Field("127.0.0.1", description="Address to bind; loopback by default.")
    port: int = Field(8765, ge=0, le=65535, description="Port to bind.")
    api_key: str | None = Field(
        None,
        description="Bearer key for /v1 and /api (a value or a secret reference). "
        "Required before binding to a non-loopback address.",
    )
    admin_key: str | None = Field(None, description="Separate bearer key for /api.")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins.")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="Largest request body.")
    max_messages: int = Field(2048, ge=1, description="Most messages in one request.")
    extra_fields: list[str] = Field(
        default_factory=lambda: [
            "top_k", "min_p", "typical_p", "repetition_penalty", "min_tokens",
            "ignore_eos", "skip_special_tokens", "chat_template_kwargs", "enable_thinking",
            "thinking", "reasoning", "provider", "transforms", "route", "models",
            "safe_prompt", "random_seed", "extra_body",
        ],
        description="Top-level /v1 request fields passed on to upstreams besides OpenAI's "
        "own (provider extensions); any other unknown field is refused with 400.",
    )  # fmt: skip


class RoutingSettings(_Section):
    strategy: Strategy = Field("success_rate", description="Desk-wide routing strategy.")
    per_model: dict[str, Strategy] = Field(
        default_factory=dict, description="Strategy overrides by asked model name."
    )
    latency_tolerance: float = Field(
        0.2, ge=0, description="Endpoints within this share of the fastest share load."
    )
    queue_seconds: float = Field(
        30.0,
        ge=0,
        description="Seconds a request waits for a free slot when every candidate is at a "
        "limit you set (concurrency, or a rate limit that frees in time), before 429; "
        "per endpoint: limits.queue_seconds.",
    )


class BreakerSettings(_Section):
    """The stop-loss: trips an endpoint whose failures pass a threshold."""

    window_seconds: float = Field(60.0, gt=0)
    min_requests: int = Field(5, ge=1)
    failure_threshold: float = Field(0.5, gt=0, le=1)
    cooldown_seconds: float = Field(30.0, gt=0)
    max_cooldown_seconds: float = Field(600.0, gt=0)


class HealthSettings(_Section):
    enabled: bool = True
    jitter: float = Field(0.1, ge=0, le=1, description="Share of the interval added at random.")
    webhook_url: str | None = Field(None, description="Alerts are POSTed here as JSON.")


class BudgetSettings(_Section):
    daily_desk_budget: float | None = Field(None, ge=0, description="USD per day, whole desk.")


class CacheSettings(_Section):
    ttl_seconds: float = Field(300.0, gt=0)
    max_entries: int = Field(1000, ge=1)


class StoreSettings(_Section):
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("database_url", "DATABASE_URL"),
        description="SQLAlchemy URL; default: SQLite in the data folder.",
    )
    echo: bool = Field(False, description="Log every SQL statement (DB_ECHO=true).")
    flush_interval: float = Field(0.5, gt=0, description="Seconds between write-behind flushes.")
    batch_size: int = Field(500, ge=1)
    sync_interval: float = Field(
        2.0,
        ge=0,
        description=(
            "Seconds between reads of the portfolio by a running desk (serve, TUI), "
            "to pick up desk add/rm/start/stop from another terminal; 0 turns it off."
        ),
    )


class BrowserSettings(_Section):
    executable_path: str | None = Field(
        None, description="Chromium to drive; default: DESK_CHROMIUM, PATH, Playwright's."
    )
    headless: bool = True


class HttpSettings(_Section):
    """How the desk talks HTTP to REST upstreams. Proxies come from HTTPS_PROXY,
    HTTP_PROXY and NO_PROXY, or an endpoint's own proxy setting."""

    client: Literal["h1", "aiohttp"] = Field(
        "h1",
        description="HTTP client for every REST upstream call: 'h1', the desk's own "
        "HTTP/1.1 client (less CPU per request), or 'aiohttp'.",
    )
    ca_file: str | None = Field(
        None,
        description="PEM bundle of the CAs to trust for every upstream, instead of the "
        "system's (SSL_CERT_FILE is honoured too); an endpoint's own ca_file wins.",
    )
    image_max_bytes: int = Field(
        20 * 1024 * 1024,
        ge=1,
        description="Largest image fetched from an http(s) image_url for an upstream that "
        "needs the bytes (Anthropic, Gemini, Ollama, web chats); larger is a 400.",
    )
    image_timeout: float = Field(
        10.0, gt=0, description="Seconds to fetch one such image; slower is a 400."
    )


class LogSettings(_Section):
    level: str = Field("WARNING", description="DEBUG, INFO, WARNING or ERROR.")


class UISettings(_Section):
    theme: str = Field("textual-dark", description="Textual theme name.")
    keymap: dict[str, str] = Field(
        default_factory=dict, description="Binding id -> keys, e.g. {'test' = 'ctrl+t'}."
    )


class Settings(BaseSettings):
    """Everything configurable, with its default."""

    model_config = SettingsConfigDict(
        env_prefix="DESK_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    ui: UISettings = Field(default_factory=UISettings)
    defaults: Limits = Field(
        default_factory=Limits,
        description="Limits new endpoints start with, where they set none of their own.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, dotenv_settings, _TomlSource(settings_cls))


class _TomlSource(PydanticBaseSettingsSource):
    """The TOML file, plus the well-known unprefixed environment names."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = read_toml(get_paths().config_file)
        _apply_plain_env(data)
        return data


def _dotenv_value(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None:
        return value
    env_file = Path(".env")
    if env_file.is_file():
        from dotenv import dotenv_values

        found = dotenv_values(env_file).get(name)
        return found
    return None


def _apply_plain_env(data: dict[str, Any]) -> None:
    """``DATABASE_URL``, ``DB_ECHO``, ``LOG_LEVEL``, ``DESK_API_KEY`` (also from .env)."""
    if url := _dotenv_value("DATABASE_URL"):
        data.setdefault("store", {})["database_url"] = url
    if echo := _dotenv_value("DB_ECHO"):
        data.setdefault("store", {})["echo"] = echo.strip().lower() in ("1", "true", "yes", "on")
    if level := _dotenv_value("LOG_LEVEL"):
        data.setdefault("log", {})["level"] = level.strip().upper()
    if key := _dotenv_value("DESK_API_KEY"):
        data.setdefault("server", {})["api_key"] = key


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML config file; a missing file is an empty config.

    Raises:
        ConfigError: the file cannot be read or is not valid TOML.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def load_settings(**overrides: Any) -> Settings:
    """Build the settings object.

    Raises:
        ConfigError: one line naming the file or variable and the bad setting.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        path = get_paths().config_file
        raise ConfigError(
            f"bad setting {where!r} ({first['msg']}); check {path} and DESK_* variables"
        ) from exc


def paths() -> Paths:
    return get_paths()
