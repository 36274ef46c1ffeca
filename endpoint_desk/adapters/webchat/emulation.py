"""Tool calls and JSON replies for web chats, by asking in the prompt.

A chat page knows nothing of ``tools`` or ``response_format``. With the endpoint option
``tool_emulation = true`` the desk writes the whole conversation into one prompt
(earlier tool calls and their results as text), describes the tools and asks for a
reply that is only a JSON object ``{"tool_calls": [{"name", "arguments"}]}`` when a
tool is needed; a JSON response format asks for JSON only. The reply is read back:
a tool call that names a known tool becomes ``tool_calls``; JSON is cut out of any
chatter or code fence around it; anything that does not parse is an ordinary text
answer, never an error. Without the option, the router does not send such requests to
a web chat at all (the ``tools`` and ``json_schema`` capabilities are off).
"""

from __future__ import annotations

from typing import Any

import orjson

from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.core.tools import dump_arguments, forced_tool, json_schema_of, tool_names
from endpoint_desk.wire.common import new_call_id

__all__ = ["emulated", "extract_json", "prompt_for", "read_tool_calls"]

_LABELS = {"system": "System", "developer": "System", "user": "User", "assistant": "Assistant"}


def emulated(request: ChatRequest) -> bool:
    """Whether the request needs the prompt written for tools or a JSON reply."""
    return bool(
        (request.tools and request.tool_choice != "none")
        or request.response_format is not None
        or any(m.role == "tool" or m.tool_calls for m in request.messages)
    )


def _line(message: ChatMessage, names: dict[str, str]) -> str:
    if message.role == "tool":
        name = names.get(message.tool_call_id or "", "a tool")
        return f"Tool result of {name} (call {message.tool_call_id}): {message.text}"
    label = _LABELS.get(message.role, message.role.title())
    parts = [f"{label}: {message.text}"] if message.text else []
    for call in message.tool_calls or ():
        fn = call["function"]
        parts.append(f"{label} called the tool {fn['name']} with {fn.get('arguments') or '{}'}.")
    return "\n".join(parts)


def _tool_block(request: ChatRequest) -> str:
    lines = ["You can use these tools:"]
    for tool in request.tools or ():
        fn = tool["function"]
        schema = orjson.dumps(fn.get("parameters") or {"type": "object"}).decode()
        desc = f": {fn['description']}" if fn.get("description") else ""
        lines.append(f"- {fn['name']}{desc}. Arguments (JSON schema): {schema}")
    lines.append(
        "To use a tool, reply with only this JSON object and no other text: "
        '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}'
    )
    forced = forced_tool(request.tool_choice)
    if forced:
        lines.append(f"You must call the tool {forced} now.")
    elif request.tool_choice == "required":
        lines.append("You must call one of the tools now.")
    else:
        lines.append("If no tool is needed, or the tool results above answer it, reply normally.")
    return "\n".join(lines)


def prompt_for(request: ChatRequest) -> str:
    """The one prompt typed into the page for an emulated request."""
    names = {c["id"]: c["function"]["name"] for m in request.messages for c in m.tool_calls or ()}
    blocks = [_line(m, names) for m in request.messages]
    if request.tools and request.tool_choice != "none":
        blocks.append(_tool_block(request))
    fmt = request.response_format
    if fmt is not None:
        schema = json_schema_of(fmt)
        if schema is not None:
            blocks.append(
                "Reply with only a JSON value that matches this JSON schema, no other text: "
                + orjson.dumps(schema).decode()
            )
        else:
            blocks.append("Reply with only a JSON object, no other text.")
    return "\n\n".join(b for b in blocks if b)


def extract_json(text: str) -> Any | None:
    """The first JSON object or array in ``text`` (inside a code fence or chatter
    around it); ``None`` when there is none."""
    for opener, closer in (("{", "}"), ("[", "]")):
        start = text.find(opener)
        for _ in range(_TRIES):
            if start < 0:
                break
            end = text.rfind(closer)
            for _ in range(_TRIES):
                if end <= start:
                    break
                try:
                    return orjson.loads(text[start : end + 1])
                except orjson.JSONDecodeError:
                    end = text.rfind(closer, start, end)
            start = text.find(opener, start + 1)
    return None


_TRIES = 40
"""Openers and closers tried at most (a reply full of braces stays cheap)."""


def read_tool_calls(text: str, request: ChatRequest) -> list[dict[str, Any]] | None:
    """The tool calls a reply asks for (OpenAI's shape, fresh ids), or ``None`` when it
    is an ordinary answer (no JSON, no ``tool_calls``, or only unknown tools)."""
    if not request.tools or '"' not in text:
        return None
    data = extract_json(text)
    if isinstance(data, dict) and "tool_calls" not in data and "name" in data:
        data = {"tool_calls": [data]}
    if not isinstance(data, dict) or not isinstance(data.get("tool_calls"), list):
        return None
    known = set(tool_names(request.tools))
    calls: list[dict[str, Any]] = []
    for item in data["tool_calls"]:
        if not isinstance(item, dict):
            continue
        inner = item.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else item
        name = fn.get("name")
        if name not in known:
            continue
        args = fn.get("arguments", fn.get("args", {}))
        if isinstance(args, str):
            parsed = extract_json(args)
            args = parsed if parsed is not None else args
        calls.append(
            {
                "id": new_call_id(),
                "type": "function",
                "function": {"name": name, "arguments": dump_arguments(args)},
            }
        )
    return calls or None
