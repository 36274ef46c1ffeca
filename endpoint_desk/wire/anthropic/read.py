"""An Anthropic Messages body as the canonical request (``parse_messages_request``), for
the desk's ``/v1/messages`` front door and the simulated upstream: the inverse of
``request.py``.

``system`` becomes a system message; text and image blocks become OpenAI content parts
(images checked as Anthropic's API checks them: a known media type and valid base64,
or an http(s) URL); assistant ``tool_use`` blocks become ``tool_calls`` and user
``tool_result`` blocks ``tool`` messages, each answering a ``tool_use`` of an earlier
turn; ``tools`` with ``input_schema`` become function tools; ``tool_choice`` becomes
OpenAI's. Errors are ``BadRequest`` naming the field as the client wrote it
(``tools[0].input_schema``, ``messages[2].content[0].tool_use_id``).
"""

from __future__ import annotations

import base64
from typing import Any

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import ChatMessage, ChatRequest, number_field
from endpoint_desk.core.tools import (
    check_response_format,
    check_tool_choice,
    check_tool_links,
    check_tools,
    dump_arguments,
)
from endpoint_desk.wire.common import text_of, to_data_url


def _part(block: dict[str, Any], at: str) -> dict[str, Any] | None:
    """A text or image block (at path ``at``) as an OpenAI content part; other blocks
    (thinking, documents, server-tool results) carry nothing the desk can pass on to
    another protocol and give ``None``."""
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": str(block.get("text", ""))}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": _image_url(block, at)}}
    return None


def _content_parts(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Text and image blocks as OpenAI content parts."""
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        if not isinstance(block, dict):
            raise BadRequest(f"{where}[{j}] must be an object", param=f"{where}[{j}]")
        part = _part(block, f"{where}[{j}]")
        if part is not None:
            parts.append(part)
    return parts


IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
"""The image media types Anthropic's API accepts in a base64 source."""


def _image_url(block: dict[str, Any], at: str) -> str:
    """An image block's source as a URL (``data:`` for base64), checked as Anthropic's
    API checks it: a known media type and valid base64, or an http(s) URL."""
    at = f"{at}.source"
    source = block.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if isinstance(source, dict) and kind == "base64":
        media = source.get("media_type")
        if media not in IMAGE_TYPES:
            raise BadRequest(
                f"{at}.media_type must be one of {', '.join(sorted(IMAGE_TYPES))}, got {media!r}",
                param=f"{at}.media_type",
            )
        data = source.get("data")
        if not isinstance(data, str) or not data or not _is_base64(data):
            raise BadRequest(f"{at}.data must be base64-encoded image data", param=f"{at}.data")
        return to_data_url(str(media), data)
    if isinstance(source, dict) and kind == "url":
        url = source.get("url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            return url
        raise BadRequest(f"{at}.url must be an http(s) URL", param=f"{at}.url")
    raise BadRequest(f"{at} must be a base64 or url image source", param=at)


def _is_base64(data: str) -> bool:
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        return False
    return True


def _simplify(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _tool_use(block: dict[str, Any], at: str) -> dict[str, Any]:
    """A ``tool_use`` block as an OpenAI tool call."""
    if not isinstance(block.get("id"), str) or not block["id"]:
        raise BadRequest(f"{at}.id must be a non-empty string", param=f"{at}.id")
    if not isinstance(block.get("name"), str):
        raise BadRequest(f"{at}.name must be a string", param=f"{at}.name")
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": dump_arguments(block.get("input", {}))},
    }


def _tool_result(block: dict[str, Any], at: str, used: set[str]) -> ChatMessage:
    """A ``tool_result`` block as a ``tool`` message; it must answer a ``tool_use``
    block of an earlier assistant turn (its id in ``used``)."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str):
        raise BadRequest(f"{at}.tool_use_id must be a string", param=f"{at}.tool_use_id")
    if call_id not in used:
        raise BadRequest(
            f"{at}.tool_use_id {call_id[:80]!r} answers no tool_use block of an earlier "
            "assistant message",
            param=f"{at}.tool_use_id",
        )
    result = block.get("content", "")
    if isinstance(result, list):
        body = _simplify(_content_parts(result, f"{at}.content"))
    else:
        body = "" if result is None else str(result)
    if block.get("is_error") and isinstance(body, str):
        body = "Error: " + body
    return ChatMessage("tool", body, tool_call_id=call_id)


def _read_turn(i: int, raw: Any, used: set[str]) -> list[ChatMessage]:
    """One Anthropic turn as canonical messages (a user turn's ``tool_result`` blocks
    become ``tool`` messages). ``used`` collects the ids of ``tool_use`` blocks so far;
    a ``tool_result`` must answer one of them."""
    where = f"messages[{i}]"
    if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant"):
        raise BadRequest(f"{where} must have role 'user' or 'assistant'", param=f"{where}.role")
    role = raw["role"]
    content = raw.get("content")
    if isinstance(content, str):
        return [ChatMessage(role, content)]
    if not isinstance(content, list):
        raise BadRequest(f"{where}.content must be a string or an array", param=f"{where}.content")
    out: list[ChatMessage] = []
    calls: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(block, dict):
            raise BadRequest(f"{at} must be an object", param=at)
        kind = block.get("type")
        if kind == "tool_use" or kind == "tool_result":
            wanted = "assistant" if kind == "tool_use" else "user"
            if role != wanted:
                raise BadRequest(f"{at}: {kind} blocks belong in {wanted} turns", param=at)
            if kind == "tool_use":
                calls.append(_tool_use(block, at))
            else:
                out.append(_tool_result(block, at, used))
            continue
        part = _part(block, at)
        if part is not None:
            parts.append(part)
    used.update(c["id"] for c in calls)
    if parts or calls or not out:
        out.append(ChatMessage(role, _simplify(parts), tool_calls=calls or None))
    return out


def _read_tools(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest("'tools' must be an array", param="tools")
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict):
            raise BadRequest(f"tools[{i}] must be an object", param=f"tools[{i}]")
        if tool.get("type") not in (None, "custom"):
            raise BadRequest(
                f"tools[{i}] is a server tool ({tool.get('type')!r}); the desk passes on only "
                "tools with an input_schema",
                param=f"tools[{i}].type",
            )
        fn: dict[str, Any] = {"name": tool.get("name")}
        if tool.get("description") is not None:
            fn["description"] = tool["description"]
        if "input_schema" in tool:
            fn["parameters"] = tool["input_schema"]
        tools.append({"type": "function", "function": fn})
    try:
        return check_tools(tools)
    except BadRequest as exc:
        # name the field as the client wrote it: tools[i].input_schema, not OpenAI's path
        param = None if exc.param is None else _anthropic_path(exc.param)
        raise BadRequest(_anthropic_path(exc.message), param=param) from None


def _anthropic_path(text: str) -> str:
    """OpenAI's tool field paths in ``text`` as Anthropic's (``tools[0].input_schema``)."""
    return text.replace(".function.parameters", ".input_schema").replace(".function.", ".")


def _read_choice(raw: Any) -> tuple[Any, bool | None]:
    """``tool_choice`` as OpenAI's, and ``parallel_tool_calls``."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise BadRequest("'tool_choice' must be an object", param="tool_choice")
    kind = raw.get("type")
    parallel = False if raw.get("disable_parallel_tool_use") else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", parallel
    if kind == "tool":
        return {"type": "function", "function": {"name": raw.get("name")}}, parallel
    raise BadRequest(
        f"'tool_choice.type' must be auto, any, tool or none, got {kind!r}",
        param="tool_choice.type",
    )


def parse_messages_request(body: Any) -> ChatRequest:
    """An Anthropic Messages body as the canonical request.

    Raises:
        BadRequest: naming the offending field.
    """
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: Field required", param="model")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise BadRequest("max_tokens: Field required (a positive integer)", param="max_tokens")
    raw_messages = body.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise BadRequest("messages: at least one message is required", param="messages")
    messages: list[ChatMessage] = []
    system = body.get("system")
    if system:
        if not isinstance(system, str | list):
            raise BadRequest("system must be a string or an array of text blocks", param="system")
        messages.append(ChatMessage("system", text_of(system)))
    used: set[str] = set()
    for i, raw in enumerate(raw_messages):
        messages.extend(_read_turn(i, raw, used))
    check_tool_links(messages)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("stream must be a boolean", param="stream")
    temperature = number_field(body, "temperature", 0.0, 1.0)
    top_p = number_field(body, "top_p", 0.0, 1.0)
    stop = body.get("stop_sequences")
    if stop is not None and (
        not isinstance(stop, list) or not all(isinstance(s, str) for s in stop)
    ):
        raise BadRequest("stop_sequences must be an array of strings", param="stop_sequences")
    tools = _read_tools(body.get("tools"))
    choice, parallel = _read_choice(body.get("tool_choice"))
    extra: dict[str, Any] = {}
    if isinstance(body.get("top_k"), int):
        extra["top_k"] = body["top_k"]
    return ChatRequest(
        messages=messages,
        model=model,
        stream=stream,
        temperature=temperature,
        max_tokens=max_tokens,
        top_p=top_p,
        stop=stop or None,
        include_usage=True,
        extra=extra,
        tools=tools,
        tool_choice=check_tool_choice(choice, tools) if tools else None,
        parallel_tool_calls=parallel,
        response_format=check_response_format(None),
    )
