"""The canonical request as an Anthropic Messages body (the way back, reading a
Messages body, is ``read.py``).

To Anthropic (``messages_body``): system and developer messages become ``system``;
assistant tool calls become ``tool_use`` blocks and ``tool`` messages ``tool_result``
blocks in a user turn; consecutive turns of one role are joined (the API wants them
alternating); ``tools`` get ``input_schema``; ``tool_choice`` becomes ``auto`` /
``any`` / ``none`` / ``tool``; a JSON ``response_format`` becomes a forced tool whose
input is the reply (``structured_tool``); images become ``image`` blocks.
"""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.core.tools import (
    forced_tool,
    image_url_of,
    json_schema_of,
    parse_arguments,
)
from endpoint_desk.wire.common import data_url

DEFAULT_MAX_TOKENS = 4096
DEFAULT_PASSTHROUGH = ("top_k", "metadata", "thinking", "service_tier")
STRUCTURED_TOOL = "json_response"
"""The forced tool's name when a ``json_object`` format names none."""


def structured_tool(request: ChatRequest) -> tuple[str, bool] | None:
    """``(tool name, wrapped)`` when the request asks for JSON output: the reply is the
    input of a forced tool; ``wrapped`` when the schema is not an object and sits under
    a ``value`` property (tool inputs must be objects)."""
    fmt = request.response_format
    if fmt is None:
        return None
    schema = json_schema_of(fmt)
    name = fmt["json_schema"]["name"] if schema is not None else STRUCTURED_TOOL
    wrapped = schema is not None and schema.get("type", "object") != "object"
    return str(name), wrapped


def _image_block(url: str) -> dict[str, Any]:
    inline = data_url(url)
    if inline is not None:
        return {
            "type": "image",
            "source": {"type": "base64", "media_type": inline[0], "data": inline[1]},
        }
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blocks_of(message: ChatMessage) -> list[dict[str, Any]]:
    """A message's content as Anthropic blocks (text and images)."""
    if isinstance(message.content, str):
        return [{"type": "text", "text": message.content}] if message.content else []
    blocks: list[dict[str, Any]] = []
    for part in message.content:
        url = image_url_of(part)
        if url is not None:
            blocks.append(_image_block(url))
        elif part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": str(part["text"])})
    return blocks


def _turn(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        content = message.content if isinstance(message.content, str) else _blocks_of(message)
        return {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": content}
            ],
        }
    if message.role == "assistant" and message.tool_calls:
        blocks = _blocks_of(message)
        for call in message.tool_calls:
            fn = call["function"]
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": fn["name"],
                    "input": parse_arguments(fn.get("arguments", "")),
                }
            )
        return {"role": "assistant", "content": blocks}
    role = "assistant" if message.role == "assistant" else "user"
    if isinstance(message.content, str):
        return {"role": role, "content": message.content}
    return {"role": role, "content": _blocks_of(message)}


def _as_blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content


def _merge(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Join consecutive turns of one role (the API wants alternating turns)."""
    out: list[dict[str, Any]] = []
    for t in turns:
        if out and out[-1]["role"] == t["role"]:
            prev, cur = out[-1]["content"], t["content"]
            if isinstance(prev, str) and isinstance(cur, str):
                out[-1]["content"] = prev + "\n\n" + cur
            else:
                out[-1]["content"] = [*_as_blocks(prev), *_as_blocks(cur)]
        else:
            out.append(dict(t))
    return out


def _tool_choice(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    forced = forced_tool(choice)
    out: dict[str, Any] | None
    if forced is not None:
        out = {"type": "tool", "name": forced}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "auto":
        out = {"type": "auto"}
    else:
        out = None
    if request.parallel_tool_calls is False and (out is None or out["type"] != "none"):
        out = {**(out or {"type": "auto"}), "disable_parallel_tool_use": True}
    return out


def messages_body(
    request: ChatRequest,
    *,
    stream: bool,
    default_max_tokens: int = DEFAULT_MAX_TOKENS,
    passthrough: tuple[str, ...] = DEFAULT_PASSTHROUGH,
) -> dict[str, Any]:
    """The Messages API body for a request (model already mapped)."""
    system = [m.text for m in request.messages if m.role in ("system", "developer") and m.text]
    turns = [_turn(m) for m in request.messages if m.role not in ("system", "developer")]
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _merge(turns),
        "max_tokens": request.max_tokens or default_max_tokens,
    }
    if system:
        body["system"] = "\n\n".join(system)
    if stream:
        body["stream"] = True
    if request.temperature is not None:
        body["temperature"] = min(1.0, request.temperature)  # Anthropic's range is 0..1
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop_sequences"] = list(request.stop)
    tools = [
        {
            "name": t["function"]["name"],
            "description": t["function"].get("description") or "",
            "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
        }
        for t in request.tools or ()
    ]
    choice = _tool_choice(request) if request.tools else None
    structured = structured_tool(request)
    if structured is not None:
        name, wrapped = structured
        schema = json_schema_of(request.response_format) or {"type": "object"}
        if wrapped:
            schema = {"type": "object", "properties": {"value": schema}, "required": ["value"]}
        tools.append(
            {"name": name, "description": "Reply with this tool's input.", "input_schema": schema}
        )
        if not request.tools:
            choice = {"type": "tool", "name": name}
    if tools:
        body["tools"] = tools
        if choice is not None:
            body["tool_choice"] = choice
    for key in passthrough:
        if key in request.extra:
            body[key] = request.extra[key]
    return body
