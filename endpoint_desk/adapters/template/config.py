"""The template endpoint's configuration (``kind = "template"``), checked.

Everything lives in ``spec.options["template"]`` (a table in TOML, an object in
JSON). A request is rendered from templates, sent, and the reply text (and, when
configured, usage) is read from the answer by paths. Job-style APIs (submit, then poll
a status URL until done) are covered by the optional ``poll`` table.

Keys of ``options["template"]``:

- ``url`` (str, default ``""``): path relative to ``base_url`` (``"/v1/generate"``) or
  an absolute URL. Placeholders are allowed and URL-encoded
  (``"/ask?q={{prompt}}"``).
- ``method`` (str, default ``"POST"``).
- ``headers`` (table, optional): extra headers. A value that is a secret reference
  (``env:NAME``, ``keyring:NAME``, ``file:NAME``) is resolved at request time;
  ``{{api_key}}`` inside a value inserts ``spec.api_key`` (``"Bearer {{api_key}}"``).
  When ``spec.api_key`` is set and no template uses ``{{api_key}}``, it is sent as
  ``Authorization: Bearer ...``. A credential header (``Authorization``,
  ``x-api-key``, ``api-key``, ``Cookie``...) with a plain value is refused
  (``ConfigError``): secrets are stored as references, never as values.
- ``body`` (table, array, or a JSON text; optional): the JSON body. A string that is
  exactly one placeholder (``"{{messages}}"``) is replaced by the JSON *value* (an
  array, a number, null...); an object member whose value is such a placeholder and
  resolves to null is left out. Placeholders inside a longer string insert their
  text (``"Q: {{prompt}}"``). The body is built as data and then serialized, so a
  prompt with quotes or braces can never break the JSON.
- ``response`` (str, required): path to the reply text in the (final) answer, dot
  separated, numbers index arrays: ``"output.text"``, ``"choices.0.message.content"``,
  ``"items.-1.text"``. ``""`` means the whole answer (a JSON string, or a body that
  is not JSON at all).
- ``tool_calls`` (str, optional): path to the tool calls in the answer, for APIs that
  call tools. Each item is OpenAI-shaped (``{"id", "function": {"name",
  "arguments"}}``) or flat (``{"name", "arguments"|"args"|"input", "id"?}``; arguments
  as an object or a JSON text). With it the endpoint declares the ``tools``
  capability; the request's tools reach the API through the ``{{tools}}``
  placeholder.
- ``usage`` (table, optional): ``input`` and ``output`` paths to token counts; when
  absent, the desk estimates usage and marks it estimated.
- ``finish`` (str, optional): path to a finish reason (OpenAI vocabulary kept,
  anything else reads as ``stop``).
- ``error`` (str, optional): path to an error message that some APIs put in a 2xx
  answer; when it holds a value the request fails with ``UpstreamError``.
- ``poll`` (table, optional): submit-then-poll mode:

  - ``id`` (str, required): path to the job id in the submit answer.
  - ``url`` (str, required): the status URL, with ``{{id}}`` (``"/jobs/{{id}}"``).
  - ``method`` (str, default ``"GET"``); ``body`` (optional template, may use
    ``{{id}}``).
  - ``status`` (str, required): path to the job status in a poll answer.
  - ``done`` (str or list, required): status values meaning finished (compared
    without case). The reply and usage paths are then read from that answer.
  - ``failed`` (str or list, optional): status values meaning failed
    (``UpstreamError`` with the ``error`` path's text).
  - ``error`` (str, optional): path to the failure message.
  - ``interval`` (seconds, default 1.0): pause between polls.
  - ``timeout`` (seconds, default ``limits.timeout_seconds``): time limit for the
    whole job; past it the request fails with ``UpstreamTimeout``. The engine's
    per-request limit (``limits.timeout_seconds``) also applies, so raise that for
    long jobs.

Placeholders: ``{{prompt}}`` (the last user message's text), ``{{messages}}``
(``[{"role", "content"}]`` with text content), ``{{system}}`` (system messages'
text, or null), ``{{conversation}}`` (every message as ``role: text`` lines),
``{{model}}`` (the upstream model name, or null), ``{{temperature}}``,
``{{max_tokens}}``, ``{{top_p}}``, ``{{stop}}`` (null when not given),
``{{tools}}`` (OpenAI-shaped tools, or null), ``{{tool_choice}}``,
``{{response_format}}``, ``{{api_key}}``, and in the poll templates ``{{id}}``.
In ``{{messages}}`` an assistant message that called tools carries its ``tool_calls``
and a tool result its ``tool_call_id`` (OpenAI's shape).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from endpoint_desk.adapters.template.render import as_text, placeholders
from endpoint_desk.core.errors import ConfigError

__all__ = ["PLACEHOLDERS", "SECRET_REF", "PollConfig", "TemplateConfig", "status_key"]

PLACEHOLDERS = frozenset(
    {
        "prompt",
        "messages",
        "system",
        "conversation",
        "model",
        "temperature",
        "max_tokens",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
        "api_key",
    }
)
"""Names a request template may use (the poll templates may also use ``id``)."""

SECRET_REF = re.compile(r"^(env|keyring|file):[A-Za-z0-9_.\-]+$")
"""A secret reference (``env:NAME``, ``keyring:NAME``, ``file:NAME``)."""
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization", "cookie"}
)
_TEMPLATE_KEYS = frozenset(
    {
        "url",
        "method",
        "headers",
        "body",
        "response",
        "usage",
        "finish",
        "error",
        "poll",
        "tool_calls",
    }
)
_POLL_KEYS = frozenset(
    {"id", "url", "method", "body", "status", "done", "failed", "error", "interval", "timeout"}
)


def status_key(value: Any) -> str:
    """A job status as compared with ``done`` / ``failed`` (trimmed, without case)."""
    return value.strip().lower() if isinstance(value, str) else as_text(value).lower()


def _values_list(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{what} needs at least one value")
    return frozenset(status_key(v) for v in items)


@dataclass(frozen=True, slots=True)
class PollConfig:
    """The ``poll`` table, checked."""

    id: str
    url: str
    method: str
    body: Any
    status: str
    done: frozenset[str]
    failed: frozenset[str]
    error: str | None
    interval: float
    timeout: float


@dataclass(frozen=True, slots=True)
class TemplateConfig:
    """``options["template"]``, checked (raises ``ConfigError`` naming the problem)."""

    url: str
    method: str
    headers: dict[str, str]
    body: Any
    response: str
    usage_input: str | None
    usage_output: str | None
    finish: str | None
    error: str | None
    poll: PollConfig | None
    tool_calls: str | None = None

    @classmethod
    def parse(cls, raw: Any, *, endpoint: str, default_timeout: float) -> TemplateConfig:
        """Check and normalize the raw table."""
        where = f"{endpoint}: options.template"
        if not isinstance(raw, dict):
            raise ConfigError(
                f"{where} is missing: a template endpoint needs at least "
                '{"url": ..., "body": {...}, "response": "path.to.text"}'
            )
        unknown = set(raw) - _TEMPLATE_KEYS
        if unknown:
            raise ConfigError(
                f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_TEMPLATE_KEYS)}"
            )
        url = _str(raw, "url", where, default="")
        method = _str(raw, "method", where, default="POST").upper()
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError(f"{where}.headers must be a table of strings")
        for key, value in headers.items():
            if key.lower() in _CREDENTIAL_HEADERS and not (
                SECRET_REF.match(value) or "{{" in value
            ):
                raise ConfigError(
                    f"{where}.headers.{key} holds a credential as plain text; use a secret "
                    "reference (env:NAME) or '{{api_key}}' with the endpoint's api_key"
                )
        body = _body(raw.get("body"), f"{where}.body")
        if "response" not in raw:
            raise ConfigError(f"{where}.response is required: the path to the reply text")
        response = _str(raw, "response", where, default="")
        usage = raw.get("usage") or {}
        if not isinstance(usage, dict) or set(usage) - {"input", "output"}:
            raise ConfigError(f"{where}.usage must be a table with 'input' and 'output' paths")
        usage_in = _opt_str(usage, "input", f"{where}.usage")
        usage_out = _opt_str(usage, "output", f"{where}.usage")
        finish = _opt_str(raw, "finish", where)
        error = _opt_str(raw, "error", where)
        tool_calls = _opt_str(raw, "tool_calls", where)
        poll = None
        if raw.get("poll") is not None:
            poll = _poll(raw["poll"], f"{where}.poll", default_timeout)
        used = placeholders([url, headers, body])
        bad = used - PLACEHOLDERS
        if bad:
            raise ConfigError(
                f"{where} uses unknown placeholders {sorted(bad)}; known: {sorted(PLACEHOLDERS)}"
            )
        if poll is not None:
            bad = placeholders([poll.url, poll.body]) - PLACEHOLDERS - {"id"}
            if bad:
                raise ConfigError(f"{where}.poll uses unknown placeholders {sorted(bad)}")
        return cls(
            url=url,
            method=method,
            headers=dict(headers),
            body=body,
            response=response,
            usage_input=usage_in,
            usage_output=usage_out,
            finish=finish,
            error=error,
            poll=poll,
            tool_calls=tool_calls,
        )

    def uses(self, name: str) -> bool:
        """Whether any request or poll template uses placeholder ``name``."""
        parts: list[Any] = [self.url, self.headers, self.body]
        if self.poll is not None:
            parts += [self.poll.url, self.poll.body]
        return name in placeholders(parts)


def _str(raw: Mapping[str, Any], key: str, where: str, *, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string, got {value!r}")
    return value


def _opt_str(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be a string path, got {value!r}")
    return value


def _body(value: Any, where: str) -> Any:
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"{where} is a string but not JSON ({exc}); write placeholders inside "
                'JSON strings, e.g. {"input": "{{prompt}}"}'
            ) from None
    return value


def _positive(raw: Mapping[str, Any], key: str, where: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}.{key} must be a positive number of seconds, got {value!r}")
    return float(value)


def _poll(raw: Any, where: str, default_timeout: float) -> PollConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(raw) - _POLL_KEYS
    if unknown:
        raise ConfigError(
            f"{where} has unknown keys {sorted(unknown)}; known: {sorted(_POLL_KEYS)}"
        )
    for key in ("id", "url", "status", "done"):
        if raw.get(key) in (None, ""):
            raise ConfigError(f"{where}.{key} is required")
    return PollConfig(
        id=_str(raw, "id", where, default=""),
        url=_str(raw, "url", where, default=""),
        method=_str(raw, "method", where, default="GET").upper(),
        body=_body(raw.get("body"), f"{where}.body"),
        status=_str(raw, "status", where, default=""),
        done=_values_list(raw["done"], f"{where}.done"),
        failed=_values_list(raw.get("failed"), f"{where}.failed"),
        error=_opt_str(raw, "error", where),
        interval=_positive(raw, "interval", where, 1.0),
        timeout=_positive(raw, "timeout", where, default_timeout),
    )
