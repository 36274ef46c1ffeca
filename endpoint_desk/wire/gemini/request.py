"""The canonical request as a Gemini ``generateContent`` body, and back.

To Gemini (``generate_body``): roles map (``assistant`` -> ``model``; system and
developer messages -> ``systemInstruction``); assistant tool calls become
``functionCall`` parts and ``tool`` messages ``functionResponse`` parts (named by the
call they answer); ``tools`` become ``functionDeclarations`` with their schemas reduced
to the OpenAPI subset Gemini accepts; ``tool_choice`` becomes
``toolConfig.functionCallingConfig``; a JSON ``response_format`` becomes
``responseMimeType``/``responseSchema``; images become ``inlineData``.

From Gemini (``parse_generate_request``): the inverse, for the simulated upstream.
Gemini's calls may carry no ids; ids are made up and responses paired with calls by
name, in order.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping
from typing import Any

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.core.tools import (
    check_tool_links,
    check_tools,
    dump_arguments,
    forced_tool,
    image_url_of,
    json_schema_of,
    parse_arguments,
)
from endpoint_desk.wire.common import data_url, new_call_id, openapi_schema, text_of, to_data_url


def _parts(message: ChatMessage) -> list[dict[str, Any]]:
    if isinstance(message.content, str):
        return [{"text": message.content}] if message.content else []
    parts: list[dict[str, Any]] = []
    for part in message.content:
        url = image_url_of(part)
        if url is not None:
            inline = data_url(url)
            if inline is not None:
                parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
            else:
                parts.append({"fileData": {"fileUri": url}})
        elif part.get("type") == "text":
            parts.append({"text": str(part.get("text", ""))})
    return parts


def _response_object(content: str | list[dict[str, Any]]) -> dict[str, Any]:
    """A tool's result as the object ``functionResponse.response`` must be."""
    text = content if isinstance(content, str) else text_of(content)
    data = parse_arguments(text)
    if isinstance(data, dict) and "_raw" not in data:
        return data
    return {"content": text}


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool["function"]
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    params = fn.get("parameters")
    if isinstance(params, dict) and params.get("properties"):
        out["parameters"] = openapi_schema(params)
    return out


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    forced = forced_tool(request.tool_choice)
    if forced is not None:
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [forced]}}
    mode = {"required": "ANY", "none": "NONE", "auto": "AUTO"}.get(str(request.tool_choice))
    return {"functionCallingConfig": {"mode": mode}} if mode else None


def generate_body(
    request: ChatRequest,
    *,
    safety_settings: list[Any] | None = None,
    generation_config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``generateContent`` body for a request."""
    system = [m.text for m in request.messages if m.role in ("system", "developer") and m.text]
    names: dict[str, str] = {}
    contents: list[dict[str, Any]] = []
    for m in request.messages:
        if m.role in ("system", "developer"):
            continue
        parts: list[dict[str, Any]]
        if m.role == "tool":
            role = "user"
            parts = [
                {
                    "functionResponse": {
                        "name": names.get(m.tool_call_id or "", "tool"),
                        "response": _response_object(m.content),
                    }
                }
            ]
        else:
            role = "model" if m.role == "assistant" else "user"
            parts = _parts(m)
            for call in m.tool_calls or ():
                fn = call["function"]
                names[call["id"]] = fn["name"]
                parts.append(
                    {
                        "functionCall": {
                            "name": fn["name"],
                            "args": parse_arguments(fn.get("arguments", "")),
                        }
                    }
                )
        if not parts:
            parts = [{"text": ""}]
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        config = _tool_config(request)
        if config is not None:
            body["toolConfig"] = config
    gen: dict[str, Any] = dict(generation_config or {})
    if request.temperature is not None:
        gen["temperature"] = request.temperature
    if request.top_p is not None:
        gen["topP"] = request.top_p
    if request.max_tokens is not None:
        gen["maxOutputTokens"] = request.max_tokens
    if request.stop:
        gen["stopSequences"] = list(request.stop)
    if request.response_format is not None:
        gen["responseMimeType"] = "application/json"
        schema = json_schema_of(request.response_format)
        if schema:
            gen["responseSchema"] = openapi_schema(schema)
    if gen:
        body["generationConfig"] = gen
    if safety_settings:
        body["safetySettings"] = safety_settings
    return body


# ---------------------------------------------------------------------------
# Reading a Gemini body (the sim)
# ---------------------------------------------------------------------------


def _read_parts(
    role: str, parts: list[Any], where: str, pending: dict[str, deque[str]]
) -> list[ChatMessage]:
    out: list[ChatMessage] = []
    content: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        if not isinstance(part, dict):
            raise BadRequest(f"{where}.parts[{j}] must be an object", param=f"{where}.parts")
        if "text" in part and not part.get("thought"):
            content.append({"type": "text", "text": str(part["text"])})
        elif isinstance(part.get("inlineData"), dict):
            inline = part["inlineData"]
            url = to_data_url(str(inline.get("mimeType") or "image/png"), str(inline.get("data")))
            content.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(part.get("fileData"), dict):
            url = str(part["fileData"].get("fileUri", ""))
            content.append({"type": "image_url", "image_url": {"url": url}})
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            name = str(call.get("name", ""))
            cid = str(call.get("id") or new_call_id())
            pending[name].append(cid)
            calls.append(
                {
                    "id": cid,
                    "type": "function",
                    "function": {"name": name, "arguments": dump_arguments(call.get("args", {}))},
                }
            )
        elif isinstance(part.get("functionResponse"), dict):
            resp = part["functionResponse"]
            name = str(resp.get("name", ""))
            queue = pending.get(name)
            cid = str(resp.get("id") or (queue.popleft() if queue else f"unmatched-{name}"))
            out.append(ChatMessage("tool", _result_text(resp.get("response")), tool_call_id=cid))
    if content or calls:
        text_only = all(p["type"] == "text" for p in content)
        value: str | list[dict[str, Any]] = (
            "".join(p["text"] for p in content) if text_only else content
        )
        out.append(ChatMessage(role, value, tool_calls=calls or None))
    return out


_SNAKE = {
    "system_instruction": "systemInstruction",
    "generation_config": "generationConfig",
    "tool_config": "toolConfig",
}


def _result_text(response: Any) -> str:
    """A ``functionResponse.response`` as a tool message's text (the inverse of
    ``_response_object``)."""
    if isinstance(response, dict) and set(response) == {"content"}:
        return str(response["content"])
    return dump_arguments(response if response is not None else {})


def parse_generate_request(body: Any) -> ChatRequest:
    """A ``generateContent`` body as the canonical request (model left empty: it is in
    the URL).

    Raises:
        BadRequest: naming the offending field.
    """
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    for snake, camel in _SNAKE.items():  # Google's JSON accepts both spellings
        if snake in body and camel not in body:
            body = {**body, camel: body[snake]}
    raw = body.get("contents")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("contents is not specified", param="contents")
    messages: list[ChatMessage] = []
    system = body.get("systemInstruction")
    if isinstance(system, dict):
        text = "".join(
            str(p.get("text", "")) for p in system.get("parts") or () if isinstance(p, dict)
        )
        if text:
            messages.append(ChatMessage("system", text))
    pending: dict[str, deque[str]] = defaultdict(deque)
    for i, content in enumerate(raw):
        where = f"contents[{i}]"
        if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
            raise BadRequest(f"{where} must be an object with 'parts'", param=where)
        role = "assistant" if content.get("role") == "model" else "user"
        messages.extend(_read_parts(role, content["parts"], where, pending))
    check_tool_links(messages)
    tools: list[dict[str, Any]] = []
    for group in body.get("tools") or ():
        for decl in group.get("functionDeclarations") or () if isinstance(group, dict) else ():
            fn: dict[str, Any] = {
                "name": decl.get("name"),
                "description": decl.get("description") or "",
            }
            if isinstance(decl.get("parameters"), dict):
                fn["parameters"] = _lower_types(decl["parameters"])
            tools.append({"type": "function", "function": fn})
    gen = body.get("generationConfig") or {}
    if not isinstance(gen, dict):
        raise BadRequest("generationConfig must be an object", param="generationConfig")
    response_format: dict[str, Any] | None = None
    if gen.get("responseMimeType") == "application/json":
        schema = gen.get("responseSchema")
        response_format = (
            {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": _lower_types(schema)},
            }
            if isinstance(schema, dict)
            else {"type": "json_object"}
        )
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    allowed = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get(
        "allowedFunctionNames"
    )
    choice: Any = {"ANY": "required", "NONE": "none", "AUTO": "auto"}.get(str(mode))
    if choice == "required" and isinstance(allowed, list) and len(allowed) == 1:
        choice = {"type": "function", "function": {"name": allowed[0]}}
    max_tokens = gen.get("maxOutputTokens")
    return ChatRequest(
        messages=messages,
        temperature=gen.get("temperature"),
        top_p=gen.get("topP"),
        max_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None,
        stop=gen.get("stopSequences") or None,
        tools=check_tools(tools),
        tool_choice=choice if tools else None,
        response_format=response_format,
    )


def _lower_types(schema: Any) -> Any:
    """Gemini writes types upper-case (``OBJECT``); JSON schema wants them lower-case."""
    if isinstance(schema, dict):
        out = {k: _lower_types(v) for k, v in schema.items()}
        if isinstance(out.get("type"), str):
            out["type"] = out["type"].lower()
        return out
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema
