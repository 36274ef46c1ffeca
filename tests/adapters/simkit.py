"""Helpers of the adapter contract suite: one endpoint spec per REST adapter, all
pointed at a sim, and small request/collect helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from endpoint_desk.adapters.base import Adapter, create_adapter
from endpoint_desk.core.models import ChatChunk, ChatRequest, EndpointSpec, Limits

SIM_KEY = "sim-key-0123456789"
KEY_REF = "env:DESK_TEST_SIM_KEY"

REST_KINDS = ["openai", "anthropic", "gemini", "ollama", "template", "template-jobs"]
"""Every REST adapter (the two template flavours are separate rows)."""

STREAMING_KINDS = {"openai", "anthropic", "gemini", "ollama"}


def custom_template() -> dict[str, Any]:
    """The template for the sim's ``POST /custom/generate``."""
    return {
        "url": "/custom/generate",
        "method": "POST",
        "headers": {"Authorization": "Bearer {{api_key}}"},
        "body": {"input": "{{prompt}}", "model": "{{model}}"},
        "response": "output.text",
        "usage": {"input": "meta.tokens.in", "output": "meta.tokens.out"},
    }


def jobs_template(interval: float = 0.02, timeout: float | None = None) -> dict[str, Any]:
    """The template for the sim's job API (``POST /jobs``, ``GET /jobs/{id}``)."""
    poll: dict[str, Any] = {
        "id": "id",
        "url": "/jobs/{{id}}",
        "status": "status",
        "done": "done",
        "failed": ["failed", "error"],
        "error": "error.message",
        "interval": interval,
    }
    if timeout is not None:
        poll["timeout"] = timeout
    return {
        "url": "/jobs",
        "headers": {"x-api-key": KEY_REF},
        "body": {"prompt": "{{prompt}}", "model": "{{model}}"},
        "response": "result.text",
        "usage": {"input": "result.usage.input_tokens", "output": "result.usage.output_tokens"},
        "poll": poll,
    }


def make_spec(kind_id: str, url: str, *, timeout: float = 5.0, **extra: Any) -> EndpointSpec:
    """An endpoint spec of ``kind_id`` (a row of ``REST_KINDS``) pointed at ``url``."""
    data: dict[str, Any] = {
        "name": f"sim-{kind_id}",
        "base_url": url,
        "limits": Limits(timeout_seconds=timeout),
    }
    if kind_id == "template":
        data.update(kind="template", api_key=KEY_REF, options={"template": custom_template()})
    elif kind_id == "template-jobs":
        data.update(kind="template", models=["sim-model"], options={"template": jobs_template()})
    else:
        data.update(kind=kind_id, api_key=KEY_REF)
    data.update(extra)
    return EndpointSpec(**data)


def resolver(value: str = SIM_KEY) -> Callable[[str], str]:
    """A secret resolver that knows one reference."""

    def resolve(ref: str) -> str:
        assert ref == KEY_REF, f"unexpected secret reference {ref!r}"
        return value

    return resolve


def adapter_for(
    kind_id: str, url: str, *, key: str = SIM_KEY, timeout: float = 5.0, **extra: Any
) -> Adapter:
    """A ready adapter of ``kind_id`` for the sim at ``url``."""
    return create_adapter(make_spec(kind_id, url, timeout=timeout, **extra), resolver(key))


async def collect(adapter: Adapter, request: ChatRequest) -> list[ChatChunk]:
    """Every chunk of one chat call."""
    return [chunk async for chunk in adapter.chat(request)]


def ask(text: str = "hello there friend", model: str = "sim-model", **kw: Any) -> ChatRequest:
    """A one-message request."""
    return ChatRequest.from_text(text, model=model, **kw)
