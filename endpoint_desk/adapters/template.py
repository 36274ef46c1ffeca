"""Any other REST API, by configuration only (``kind = "template"``).

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
``{{api_key}}``, and in the poll templates ``{{id}}``.

Streaming is not supported: the whole reply comes as one chunk
(``capabilities.streaming`` is false). The model list is ``spec.models``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import error_for_status
from endpoint_desk.adapters.restkit import ErrorHook, join_url, open_response
from endpoint_desk.core.errors import (
    ConfigError,
    DeskError,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointKind, Usage

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
        "api_key",
    }
)
"""Names a request template may use (the poll templates may also use ``id``)."""

_PH = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECRET_REF = re.compile(r"^(env|keyring|file):[A-Za-z0-9_.\-]+$")
_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization", "cookie"}
)
_FINISH = frozenset({"stop", "length", "content_filter", "tool_calls"})
_TEMPLATE_KEYS = frozenset(
    {"url", "method", "headers", "body", "response", "usage", "finish", "error", "poll"}
)
_POLL_KEYS = frozenset(
    {"id", "url", "method", "body", "status", "done", "failed", "error", "interval", "timeout"}
)

# ---------------------------------------------------------------------------- templates


def placeholders(template: Any) -> set[str]:
    """Every placeholder name used anywhere in ``template`` (strings, lists, tables)."""
    found: set[str] = set()
    if isinstance(template, str):
        found.update(m.group(1) for m in _PH.finditer(template))
    elif isinstance(template, dict):
        for value in template.values():
            found |= placeholders(value)
    elif isinstance(template, list):
        for value in template:
            found |= placeholders(value)
    return found


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _whole(template: str) -> str | None:
    """The name when ``template`` is exactly one placeholder, else ``None``."""
    match = _PH.fullmatch(template.strip())
    return match.group(1) if match else None


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill ``template`` with ``values`` as data (see the module docstring).

    A string that is exactly one placeholder becomes the value itself; placeholders
    inside longer strings insert text; object members whose whole-placeholder value is
    ``None`` are left out.
    """
    if isinstance(template, str):
        name = _whole(template)
        if name is not None:
            return values.get(name)
        return _PH.sub(lambda m: _as_text(values.get(m.group(1))), template)
    if isinstance(template, dict):
        out: dict[str, Any] = {}
        for key, value in template.items():
            if isinstance(value, str):
                name = _whole(value)
                if name is not None and values.get(name) is None:
                    continue
            out[str(key)] = render(value, values)
        return out
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


def render_url(template: str, values: Mapping[str, Any]) -> str:
    """Fill a URL template; inserted values are percent-encoded."""
    return _PH.sub(lambda m: quote(_as_text(values.get(m.group(1))), safe=""), template)


# ---------------------------------------------------------------------------- paths


class PathError(LookupError):
    """A path that does not lead to a value; the message says where it stopped."""


def get_path(data: Any, path: str) -> Any:
    """The value at ``path`` (``"a.0.b"``; ``""`` is ``data`` itself).

    Raises:
        PathError: naming the segment that is missing and what was there instead.
    """
    if not path:
        return data
    current = data
    walked: list[str] = []
    for segment in path.split("."):
        if isinstance(current, list):
            try:
                current = current[int(segment)]
            except (ValueError, IndexError):
                raise PathError(
                    f"{'.'.join(walked) or 'the answer'} is an array of {len(current)}; "
                    f"no item {segment!r}"
                ) from None
        elif isinstance(current, dict):
            if segment not in current:
                keys = ", ".join(sorted(map(str, current))[:12]) or "none"
                raise PathError(
                    f"{'.'.join(walked) or 'the answer'} has no {segment!r} (keys: {keys})"
                )
            current = current[segment]
        else:
            raise PathError(
                f"{'.'.join(walked) or 'the answer'} is {type(current).__name__}, "
                f"not an object; cannot read {segment!r}"
            )
        walked.append(segment)
    return current


def _norm(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else _as_text(value).lower()


def _values_list(value: Any, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(f"{what} needs at least one value")
    return frozenset(_norm(v) for v in items)


# ---------------------------------------------------------------------------- config


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
                _SECRET_REF.match(value) or "{{" in value
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


# ---------------------------------------------------------------------------- adapter


def request_values(request: ChatRequest) -> dict[str, Any]:
    """The placeholder values of a request (``api_key`` is added by the adapter)."""
    system_texts = [m.text for m in request.messages if m.role in ("system", "developer")]
    users = [m.text for m in request.messages if m.role == "user"]
    prompt = users[-1] if users else (request.messages[-1].text if request.messages else "")
    return {
        "prompt": prompt,
        "messages": [{"role": m.role, "content": m.text} for m in request.messages],
        "system": "\n\n".join(system_texts) if system_texts else None,
        "conversation": "\n".join(f"{m.role}: {m.text}" for m in request.messages),
        "model": request.model or None,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "stop": list(request.stop) if request.stop else None,
    }


class TemplateAdapter(Adapter):
    """A REST API described by ``options["template"]``; see the module docstring."""

    kind: ClassVar[EndpointKind] = EndpointKind.TEMPLATE
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=False, list_models=False, usage=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = TemplateConfig.parse(
            self.spec.options.get("template"),
            endpoint=self.spec.name,
            default_timeout=self.spec.limits.timeout_seconds,
        )
        self._uses_key = self.config.uses("api_key")
        self._uses_model = self.config.uses("model")

    # ---- requests ---------------------------------------------------------

    def _headers(self, values: Mapping[str, Any], with_body: bool) -> dict[str, str]:
        headers: dict[str, str] = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.5"}
        if with_body:
            headers["Content-Type"] = "application/json"
        if self.spec.api_key and not self._uses_key:
            key = self.secret(self.spec.api_key)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        if self.spec.headers:
            headers.update(self.resolved_headers())
        for name, value in self.config.headers.items():
            if _SECRET_REF.match(value):
                headers[name] = self._resolve(value)
            else:
                headers[name] = _PH.sub(lambda m: _as_text(values.get(m.group(1))), value)
        return headers

    async def _exchange(
        self,
        method: str,
        url_template: str,
        body_template: Any,
        values: Mapping[str, Any],
        model: str | None,
    ) -> Any:
        """One HTTP exchange; returns the parsed JSON answer (or the text, if not JSON)."""
        name = self.spec.name
        url = join_url(self.spec.base_url, render_url(url_template, values))
        body = None if body_template is None else orjson.dumps(render(body_template, values))
        async with open_response(
            method,
            url,
            endpoint=name,
            route=self.route,
            headers=self._headers(values, body is not None),
            timeout=self.spec.limits.timeout_seconds,
            on_error=self._on_error(method, url_template, values, model),
            body=body,
        ) as resp:
            raw = await resp.read()
            ctype = resp.headers.get("Content-Type", "")
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if "json" not in ctype and self.config.response == "" and self.config.poll is None:
                return raw.decode("utf-8", "replace")
            preview = raw[:80].decode("utf-8", "replace")
            raise ProtocolError(
                f"{name} sent invalid JSON ({exc}); it began {preview!r}", endpoint=name
            ) from exc
        if self.config.error:
            try:
                problem = get_path(doc, self.config.error)
            except PathError:
                problem = None
            if problem:
                text = problem.get("message", problem) if isinstance(problem, dict) else problem
                raise UpstreamError(
                    f"{name} answered with an error: {_as_text(text)[:300]}", endpoint=name
                )
        return doc

    def _on_error(
        self, method: str, url_template: str, values: Mapping[str, Any], model: str | None
    ) -> ErrorHook:
        """Status errors; a 404 is an unknown model only when the answer speaks of one
        (for a custom API it usually means a wrong URL, which the message then names)."""
        name = self.spec.name
        shown = join_url(self.spec.base_url, render_url(url_template, {**values, "api_key": "***"}))

        def hook(status: int, body: bytes, headers: Mapping[str, str]) -> DeskError:
            if status == 404 and model and (model.encode() in body or b"model" in body.lower()):
                return error_for_status(status, body, headers, endpoint=name, model=model)
            return error_for_status(status, body, headers, endpoint=name, what=f"{method} {shown}")

        return hook

    def _read(self, doc: Any, path: str, what: str) -> Any:
        try:
            return get_path(doc, path)
        except PathError as exc:
            raise ProtocolError(
                f"{self.spec.name}: cannot read the {what} at {path!r}: {exc}",
                endpoint=self.spec.name,
            ) from None

    def _reply(self, doc: Any) -> ChatChunk:
        name = self.spec.name
        value = self._read(doc, self.config.response, "reply text")
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            text = "".join(value)
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            text = str(value)
        else:
            raise ProtocolError(
                f"{name}: the reply at {self.config.response!r} is "
                f"{type(value).__name__}, not text",
                endpoint=name,
            )
        usage = self._usage(doc)
        finish = "stop"
        if self.config.finish:
            try:
                raw = get_path(doc, self.config.finish)
            except PathError:
                raw = None
            if isinstance(raw, str) and raw.lower() in _FINISH:
                finish = raw.lower()
        return ChatChunk(delta=text, finish_reason=finish, usage=usage)

    def _usage(self, doc: Any) -> Usage | None:
        cfg = self.config
        if not (cfg.usage_input or cfg.usage_output):
            return None
        counts: list[int] = []
        for path in (cfg.usage_input, cfg.usage_output):
            value: Any = 0
            if path:
                try:
                    value = get_path(doc, path)
                except PathError:
                    return None  # not reported this time: the desk estimates
            if isinstance(value, bool) or not isinstance(value, int | float):
                return None
            counts.append(int(value))
        return Usage(input_tokens=counts[0], output_tokens=counts[1])

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        values = request_values(request)
        if self._uses_key:
            values["api_key"] = self.secret(self.spec.api_key) or ""
        model = request.model if (self._uses_model and request.model) else None
        cfg = self.config
        doc = await self._exchange(cfg.method, cfg.url, cfg.body, values, model)
        if cfg.poll is not None:
            doc = await self._wait(cfg.poll, doc, values)
        yield self._reply(doc)

    async def _wait(self, poll: PollConfig, doc: Any, values: dict[str, Any]) -> Any:
        """Poll until the job is done; returns the final answer."""
        name = self.spec.name
        job_id = self._read(doc, poll.id, "job id")
        if not isinstance(job_id, str | int) or isinstance(job_id, bool) or job_id == "":
            raise ProtocolError(f"{name}: the job id at {poll.id!r} is {job_id!r}", endpoint=name)
        values = {**values, "id": str(job_id)}
        started = time.monotonic()
        deadline = started + poll.timeout
        first = True
        while True:
            try:
                status = get_path(doc, poll.status)
            except PathError as exc:
                if not first:
                    raise ProtocolError(
                        f"{name}: cannot read the job status at {poll.status!r}: {exc}",
                        endpoint=name,
                    ) from None
                status = None  # a submit answer may carry only the id
            first = False
            state = _norm(status) if status is not None else ""
            if state in poll.done:
                return doc
            if state in poll.failed:
                detail = ""
                if poll.error:
                    try:
                        detail = _as_text(get_path(doc, poll.error))
                    except PathError:
                        detail = ""
                raise UpstreamError(
                    f"{name}: job {job_id} failed (status {status!r})"
                    + (f": {detail[:300]}" if detail else ""),
                    endpoint=name,
                )
            now = time.monotonic()
            if now >= deadline:
                raise UpstreamTimeout(
                    f"{name}: job {job_id} was not done after {poll.timeout:g} s "
                    f"(last status {status!r})",
                    endpoint=name,
                )
            await asyncio.sleep(min(poll.interval, deadline - now))
            doc = await self._exchange(poll.method, poll.url, poll.body, values, None)
