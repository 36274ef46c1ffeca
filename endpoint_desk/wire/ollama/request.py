"""The canonical request as an Ollama ``/api/chat`` body, and back.

To Ollama (``chat_body``): messages keep their roles (developer -> system); images go
in ``images`` (base64 without the data-URL prefix); assistant tool calls become
``tool_calls`` with ``arguments`` as an object; ``tool`` messages carry ``tool_name``;
tools keep OpenAI's shape; a JSON ``response_format`` becomes ``format`` (``"json"`` or
the schema); sampling parameters go in ``options``.

From Ollama (``parse_chat_request``): the inverse, for the simulated upstream. Ollama's
calls carry no ids; ids are made up and tool results paired with calls by name, in order.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.core.tools import (
    check_tool_links,
    check_tools,
    dump_arguments,
    json_schema_of,
    parse_arguments,
)
from endpoint_desk.wire.common import data_url, new_call_id, to_data_url

DONE_REASONS: dict[str, str] = {"stop": "stop", "length": "length", "load": "stop"}
"""Ollama ``done_reason`` -> OpenAI ``finish_reason``."""


def chat_body(
    request: ChatRequest,
    *,
    stream: bool,
    model_options: dict[str, Any] | None = None,
    keep_alive: Any = None,
    think: bool | None = None,
) -> dict[str, Any]:
    """The ``/api/chat`` body for a request."""
    names: dict[str, str] = {}
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        role = m.role if m.role in ("system", "user", "assistant", "tool") else "user"
        if m.role == "developer":
            role = "system"
        out: dict[str, Any] = {"role": role, "content": m.text}
        images = [d[1] for d in (data_url(u) for u in m.images) if d is not None]
        if images:
            out["images"] = images
        if m.tool_calls:
            out["tool_calls"] = [
                {
                    "function": {
                        "name": c["function"]["name"],
                        "arguments": parse_arguments(c["function"].get("arguments", "")),
                    }
                }
                for c in m.tool_calls
            ]
            names.update((c["id"], c["function"]["name"]) for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id in names:
            out["tool_name"] = names[m.tool_call_id]
        messages.append(out)
    options: dict[str, Any] = dict(model_options or {})
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if request.top_p is not None:
        options["top_p"] = request.top_p
    if request.max_tokens is not None:
        options["num_predict"] = request.max_tokens
    if request.stop:
        options["stop"] = list(request.stop)
    body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
    if request.tools and request.tool_choice != "none":
        body["tools"] = request.tools
    if request.response_format is not None:
        body["format"] = json_schema_of(request.response_format) or "json"
    if options:
        body["options"] = options
    if keep_alive is not None:
        body["keep_alive"] = keep_alive
    if think is not None:
        body["think"] = think
    return body


def parse_chat_request(body: Any) -> ChatRequest:
    """An ``/api/chat`` body as the canonical request.

    Raises:
        BadRequest: naming the offending field.
    """
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required", param="model")
    raw = body.get("messages")
    if not isinstance(raw, list):
        raise BadRequest("messages must be an array", param="messages")
    pending: dict[str, deque[str]] = defaultdict(deque)
    messages: list[ChatMessage] = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise BadRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = str(m.get("role") or "user")
        text = str(m.get("content") or "")
        content: str | list[dict[str, Any]] = text
        images = m.get("images")
        if isinstance(images, list) and images:
            content = [{"type": "text", "text": text}] + [
                {"type": "image_url", "image_url": {"url": to_data_url("image/png", str(b))}}
                for b in images
            ]
        calls = None
        if isinstance(m.get("tool_calls"), list):
            calls = []
            for c in m["tool_calls"]:
                fn = c.get("function") if isinstance(c, dict) else None
                if not isinstance(fn, dict):
                    continue
                name = str(fn.get("name") or "")
                cid = str(c.get("id") or new_call_id())
                pending[name].append(cid)
                calls.append(
                    {
                        "id": cid,
                        "type": "function",
                        "function": {
                            "name": name,
                            "arguments": dump_arguments(fn.get("arguments")),
                        },
                    }
                )
        call_id = None
        if role == "tool":
            name = str(m.get("tool_name") or m.get("name") or "")
            queue = pending.get(name) or next((q for q in pending.values() if q), None)
            call_id = queue.popleft() if queue else f"unmatched-{name}"
        messages.append(ChatMessage(role, content, tool_calls=calls or None, tool_call_id=call_id))
    check_tool_links(messages)
    raw_options = body.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    fmt = body.get("format")
    response_format: dict[str, Any] | None = None
    if fmt == "json":
        response_format = {"type": "json_object"}
    elif isinstance(fmt, dict):
        response_format = {"type": "json_schema", "json_schema": {"name": "reply", "schema": fmt}}
    tools = check_tools(body.get("tools"))
    num_predict = options.get("num_predict")
    stream = body.get("stream", True)
    return ChatRequest(
        messages=messages,
        model=model,
        stream=stream is not False,
        temperature=options.get("temperature"),
        top_p=options.get("top_p"),
        max_tokens=num_predict if isinstance(num_predict, int) and num_predict > 0 else None,
        stop=options.get("stop") or None,
        tools=tools,
        tool_choice="auto" if tools else None,
        response_format=response_format,
    )
