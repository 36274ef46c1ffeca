"""The ``template`` adapter: any other REST API, by configuration only.

A request is rendered from the templates (:mod:`~endpoint_desk.adapters.template.render`),
sent, and the reply text (and, when configured, usage and finish reason) is read from the
answer by paths (:mod:`~endpoint_desk.adapters.template.paths`). Job-style APIs go on
to :func:`~endpoint_desk.adapters.template.poll.wait_for_job`. The keys of
``options["template"]`` are described in :mod:`endpoint_desk.adapters.template.config`.

Streaming is not supported: the whole reply comes as one chunk
(``capabilities.streaming`` is false). The model list is ``spec.models``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, ClassVar

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities
from endpoint_desk.adapters.http import error_for_status
from endpoint_desk.adapters.restkit import ErrorHook, join_url, open_response
from endpoint_desk.adapters.template.config import SECRET_REF, TemplateConfig
from endpoint_desk.adapters.template.paths import PathError, get_path, read_path
from endpoint_desk.adapters.template.poll import wait_for_job
from endpoint_desk.adapters.template.render import as_text, fill_text, render, render_url
from endpoint_desk.core.errors import DeskError, ProtocolError, UpstreamError
from endpoint_desk.core.models import (
    ChatChunk,
    ChatMessage,
    ChatRequest,
    EndpointKind,
    EndpointSpec,
    Usage,
)
from endpoint_desk.core.tools import dump_arguments, whole_call_fragments
from endpoint_desk.wire.common import new_call_id

__all__ = ["TemplateAdapter", "request_values"]

_FINISH = frozenset({"stop", "length", "content_filter", "tool_calls"})


def request_values(request: ChatRequest) -> dict[str, Any]:
    """The placeholder values of a request (``api_key`` is added by the adapter)."""
    system_texts = [m.text for m in request.messages if m.role in ("system", "developer")]
    users = [m.text for m in request.messages if m.role == "user"]
    prompt = users[-1] if users else (request.messages[-1].text if request.messages else "")
    return {
        "prompt": prompt,
        "messages": [_message(m) for m in request.messages],
        "system": "\n\n".join(system_texts) if system_texts else None,
        "conversation": "\n".join(f"{m.role}: {m.text}" for m in request.messages),
        "model": request.model or None,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "top_p": request.top_p,
        "stop": list(request.stop) if request.stop else None,
        "tools": request.tools,
        "tool_choice": request.tool_choice,
        "response_format": request.response_format,
    }


def _message(m: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.text}
    if m.tool_calls:
        out["tool_calls"] = m.tool_calls
    if m.tool_call_id is not None:
        out["tool_call_id"] = m.tool_call_id
    return out


def _call(item: Any, endpoint: str) -> dict[str, Any]:
    """One tool call in OpenAI's shape, from an OpenAI-shaped or flat item."""
    if not isinstance(item, dict):
        raise ProtocolError(f"{endpoint} sent a tool call that is not an object", endpoint=endpoint)
    inner = item.get("function")
    fn: dict[str, Any] = inner if isinstance(inner, dict) else item
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        raise ProtocolError(f"{endpoint} sent a tool call without a name", endpoint=endpoint)
    args: Any = next((fn[k] for k in ("arguments", "args", "input", "parameters") if k in fn), {})
    return {
        "id": str(item.get("id") or new_call_id()),
        "type": "function",
        "function": {"name": name, "arguments": dump_arguments(args)},
    }


class TemplateAdapter(Adapter):
    """A REST API described by ``options["template"]``; see the module docstring."""

    kind: ClassVar[EndpointKind] = EndpointKind.TEMPLATE
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=False, list_models=False, usage=False
    )

    @classmethod
    def capabilities_for(cls, spec: EndpointSpec) -> Capabilities:
        """Tools when the template says where the answer's tool calls are."""
        template = spec.options.get("template")
        if isinstance(template, dict) and template.get("tool_calls"):
            return replace(cls.capabilities, tools=True)
        return cls.capabilities

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
            if SECRET_REF.match(value):
                headers[name] = self._resolve(value)
            else:
                headers[name] = fill_text(value, values)
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
                    f"{name} answered with an error: {as_text(text)[:300]}", endpoint=name
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

    def _tool_calls(self, doc: Any) -> list[dict[str, Any]] | None:
        path = self.config.tool_calls
        if not path:
            return None
        try:
            items = get_path(doc, path)
        except PathError:
            return None
        if items is None or items == []:
            return None
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise ProtocolError(
                f"{self.spec.name}: the tool calls at {path!r} are not a list",
                endpoint=self.spec.name,
            )
        return [_call(item, self.spec.name) for item in items]

    def _reply(self, doc: Any) -> ChatChunk:
        name = self.spec.name
        calls = self._tool_calls(doc)
        if calls:
            try:
                value = get_path(doc, self.config.response)
            except PathError:
                value = None
            text = value if isinstance(value, str) else ""
            return ChatChunk(
                delta=text,
                finish_reason="tool_calls",
                usage=self._usage(doc),
                tool_calls=whole_call_fragments(calls),
            )
        value = read_path(doc, self.config.response, "reply text", endpoint=name)
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
            doc = await wait_for_job(
                cfg.poll, doc, values, endpoint=self.spec.name, exchange=self._exchange
            )
        yield self._reply(doc)
