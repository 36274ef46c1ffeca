"""The canonical request as an Anthropic Messages body, and back.

To Anthropic (``messages_body``): system and developer messages become ``system``;
assistant tool calls become ``tool_use`` blocks and ``tool`` messages ``tool_result``
blocks in a user turn; consecutive turns of one role are joined (the API wants them
alternating); ``tools`` get ``input_schema``; ``tool_choice`` becomes ``auto`` /
``any`` / ``none`` / ``tool``; a JSON ``response_format`` becomes a forced tool whose
input is the reply (``structured_tool``); images become ``image`` blocks.

From Anthropic (``parse_messages_request``): the inverse, for the desk's ``/v1/messages``
front door and the simulated upstream. Errors are ``BadRequest`` naming the field.
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
    forced_tool,
    image_url_of,
    json_schema_of,
    parse_arguments,
)
from endpoint_desk.wire.common import data_url, text_of, to_data_url

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


# ---------------------------------------------------------------------------
# Reading an Anthropic body (the /v1/messages front door, the sim)
# ---------------------------------------------------------------------------


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
