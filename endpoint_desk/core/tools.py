"""Tool calls, structured output and image parts, in the desk's canonical shape.

The desk's canonical request is OpenAI's chat request, so tools, tool calls and
``response_format`` are kept as OpenAI-shaped dicts: the OpenAI-style hot path passes
them on untouched, and the wire modules (``endpoint_desk.wire``) convert them to and
from Anthropic, Gemini and Ollama. This module validates what a client sends (a bad
tool is a 400 naming it, before any upstream is asked) and assembles streamed tool-call
fragments into whole calls.

Shapes (OpenAI's):

- a tool: ``{"type": "function", "function": {"name", "description"?, "parameters"?,
  "strict"?}}``
- a tool call: ``{"id", "type": "function", "function": {"name", "arguments"}}`` where
  ``arguments`` is a JSON text
- a streamed fragment: ``{"index", "id"?, "type"?, "function": {"name"?,
  "arguments"?}}``
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from endpoint_desk.core.errors import BadRequest

CAPABILITIES = ("streaming", "tools", "vision", "json_schema", "embeddings")
"""What an endpoint can do; a request that needs one goes only where it is on."""

CAPABILITY_CODES = {
    "streaming": "S",
    "tools": "T",
    "vision": "V",
    "json_schema": "J",
    "embeddings": "E",
}
"""One letter per capability, for narrow tables (``desk ls``)."""


def capability_codes(names: Iterable[str]) -> str:
    """``STVJ-``: a letter per capability an endpoint has, ``-`` where it has not."""
    have = set(names)
    return "".join(code if name in have else "-" for name, code in CAPABILITY_CODES.items())


def capability_words(names: Iterable[str]) -> str:
    """The capabilities in words, in their canonical order."""
    have = set(names)
    words = [name.replace("_", " ") for name in CAPABILITIES if name in have]
    return ", ".join(words) or "plain chat only"


_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_CHOICES = frozenset({"auto", "none", "required"})


def check_schema(schema: Any, where: str) -> dict[str, Any]:
    """A JSON schema (an object), checked against its meta-schema.

    Raises:
        BadRequest: naming ``where`` and what is wrong with the schema.
    """
    if not isinstance(schema, dict):
        raise BadRequest(f"{where} must be a JSON schema object", param=where)
    try:
        key = orjson.dumps(schema, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        key = None
    if key is not None and key in _VALID_SCHEMAS:
        return schema
    from jsonschema import exceptions, validators  # only requests with tools pay for it

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as exc:
        path = "/".join(str(p) for p in exc.path)
        at = f" at {path}" if path else ""
        raise BadRequest(
            f"{where} is not a valid JSON schema{at}: {exc.message[:200]}", param=where
        ) from None
    if key is not None and len(key) <= _SCHEMA_KEY_MAX:
        if len(_VALID_SCHEMAS) >= _VALID_SCHEMAS_MAX:
            del _VALID_SCHEMAS[next(iter(_VALID_SCHEMAS))]
        _VALID_SCHEMAS[key] = None
    return schema


_VALID_SCHEMAS: dict[bytes, None] = {}
"""Schemas (canonical JSON) already checked and found valid, oldest first: an agent
sends the same tools with every request, and the meta-schema check costs ~0.4 ms."""
_VALID_SCHEMAS_MAX = 512
_SCHEMA_KEY_MAX = 16 * 1024


def check_tools(raw: Any) -> list[dict[str, Any]] | None:
    """Validate ``tools``; returns them (``None`` when absent or empty)."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest("'tools' must be an array", param="tools")
    seen: set[str] = set()
    for i, tool in enumerate(raw):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise BadRequest(f"{where} must be an object with type 'function'", param=where)
        fn = tool.get("function")
        if not isinstance(fn, dict):
            raise BadRequest(f"{where}.function must be an object", param=f"{where}.function")
        name = fn.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise BadRequest(
                f"{where}.function.name must be 1-64 letters, digits, '_' or '-', got {name!r}",
                param=f"{where}.function.name",
            )
        if name in seen:
            raise BadRequest(f"two tools are named {name!r}", param=f"{where}.function.name")
        seen.add(name)
        desc = fn.get("description")
        if desc is not None and not isinstance(desc, str):
            raise BadRequest(
                f"{where}.function.description must be a string",
                param=f"{where}.function.description",
            )
        if "parameters" in fn:
            check_schema(fn["parameters"], f"{where}.function.parameters")
    return raw or None


def tool_names(tools: Sequence[dict[str, Any]] | None) -> list[str]:
    """The names of validated tools, in order."""
    return [str(t["function"]["name"]) for t in tools or ()]


def check_tool_choice(raw: Any, tools: Sequence[dict[str, Any]] | None) -> Any:
    """Validate ``tool_choice``: ``auto``, ``none``, ``required`` or a named function."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if raw not in _CHOICES:
            raise BadRequest(
                f"'tool_choice' must be one of {sorted(_CHOICES)} or a function, got {raw!r}",
                param="tool_choice",
            )
        if raw == "required" and not tools:
            raise BadRequest("'tool_choice' is 'required' but no tools", param="tool_choice")
        return raw
    if isinstance(raw, dict):
        fn = raw.get("function")
        name = fn.get("name") if isinstance(fn, dict) else None
        if not isinstance(name, str):
            raise BadRequest(
                "'tool_choice' must name a function: {'type': 'function', "
                "'function': {'name': ...}}",
                param="tool_choice",
            )
        if name not in tool_names(tools):
            raise BadRequest(
                f"'tool_choice' names {name!r}, which is not a tool", param="tool_choice"
            )
        return raw
    raise BadRequest("'tool_choice' must be a string or an object", param="tool_choice")


def forced_tool(choice: Any) -> str | None:
    """The function name ``tool_choice`` forces, if it forces one."""
    if isinstance(choice, dict):
        fn = choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return str(fn["name"])
    return None


def check_response_format(raw: Any) -> dict[str, Any] | None:
    """Validate ``response_format`` (``text``, ``json_object`` or ``json_schema``)."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest("'response_format' must be an object", param="response_format")
    kind = raw.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return raw
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict):
            raise BadRequest(
                "'response_format.json_schema' must be an object with 'name' and 'schema'",
                param="response_format.json_schema",
            )
        name = spec.get("name")
        if not isinstance(name, str) or not _TOOL_NAME.match(name):
            raise BadRequest(
                "'response_format.json_schema.name' must be 1-64 letters, digits, '_' or '-'",
                param="response_format.json_schema.name",
            )
        check_schema(spec.get("schema", {}), "response_format.json_schema.schema")
        return raw
    raise BadRequest(
        f"'response_format.type' must be 'text', 'json_object' or 'json_schema', got {kind!r}",
        param="response_format.type",
    )


def json_schema_of(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schema a ``json_schema`` response format asks for (``None`` otherwise)."""
    if not response_format or response_format.get("type") != "json_schema":
        return None
    schema = response_format["json_schema"].get("schema")
    return schema if isinstance(schema, dict) else {}


def check_tool_calls(raw: Any, where: str) -> list[dict[str, Any]] | None:
    """Validate an assistant message's ``tool_calls``."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise BadRequest(f"{where} must be an array", param=where)
    for i, call in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(call, dict):
            raise BadRequest(f"{at} must be an object", param=at)
        if not isinstance(call.get("id"), str) or not call["id"]:
            raise BadRequest(f"{at}.id must be a non-empty string", param=f"{at}.id")
        fn = call.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"{at}.function.name must be a string", param=f"{at}.function")
        args = fn.get("arguments", "")
        if not isinstance(args, str):
            raise BadRequest(
                f"{at}.function.arguments must be a JSON text (a string)",
                param=f"{at}.function.arguments",
            )
    return raw or None


def check_tool_links(messages: Iterable[Any]) -> None:
    """Every ``tool`` message must answer a call an earlier assistant message made.

    Raises:
        BadRequest: naming the message whose ``tool_call_id`` matches no call.
    """
    calls: set[str] = set()
    for i, m in enumerate(messages):
        if m.role == "assistant" and m.tool_calls:
            calls.update(str(c["id"]) for c in m.tool_calls)
        elif m.role == "tool":
            if not m.tool_call_id:
                raise BadRequest(
                    f"messages[{i}] has role 'tool' but no 'tool_call_id'",
                    param=f"messages[{i}].tool_call_id",
                )
            if m.tool_call_id not in calls:
                raise BadRequest(
                    f"messages[{i}] answers tool call {m.tool_call_id!r}, but no earlier "
                    "assistant message made a call with that id",
                    param=f"messages[{i}].tool_call_id",
                )


def check_parts(content: list[dict[str, Any]], where: str) -> None:
    """Validate the parts of a multi-part message (text and images)."""
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type")
        if kind == "image_url":
            ref = part.get("image_url")
            url = ref.get("url") if isinstance(ref, dict) else ref
            if not isinstance(url, str) or not url.startswith(("data:", "http://", "https://")):
                raise BadRequest(
                    f"{at}.image_url.url must be a data: URL or an http(s) URL",
                    param=f"{at}.image_url",
                )


def image_url_of(part: dict[str, Any]) -> str | None:
    """The URL of an ``image_url`` part (``None`` for other parts)."""
    if part.get("type") != "image_url":
        return None
    ref = part.get("image_url")
    url = ref.get("url") if isinstance(ref, dict) else ref
    return url if isinstance(url, str) else None


def parse_arguments(text: str) -> Any:
    """A tool call's ``arguments`` JSON text as data (``{}`` when empty; the text itself
    wrapped as ``{"_raw": text}`` when it is not JSON, so nothing is lost)."""
    if not text or not text.strip():
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"_raw": text}


def dump_arguments(data: Any) -> str:
    """Tool arguments (data) as the JSON text OpenAI's ``arguments`` holds."""
    if isinstance(data, str):
        return data
    return orjson.dumps(data if data is not None else {}).decode()


class ToolCallAssembler:
    """Joins streamed tool-call fragments (OpenAI ``delta.tool_calls``) into whole calls."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, fragments: Iterable[dict[str, Any]]) -> None:
        for frag in fragments:
            index = int(frag.get("index", 0))
            call = self._calls.get(index)
            if call is None:
                call = self._calls[index] = {
                    "id": "",
                    "type": "function",
                    "function": {"name": "", "arguments": ""},
                }
            if frag.get("id"):
                call["id"] = str(frag["id"])
            fn = frag.get("function") or {}
            if fn.get("name"):
                call["function"]["name"] += str(fn["name"])
            if fn.get("arguments"):
                call["function"]["arguments"] += str(fn["arguments"])

    def calls(self) -> list[dict[str, Any]]:
        """The calls so far, by index."""
        return [self._calls[i] for i in sorted(self._calls)]

    def __bool__(self) -> bool:
        return bool(self._calls)


def whole_call_fragments(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Whole tool calls as stream fragments (one fragment per call, with its index)."""
    return [
        {
            "index": i,
            "id": call["id"],
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": call["function"].get("arguments", ""),
            },
        }
        for i, call in enumerate(calls)
    ]


def stream_fragments(
    calls: Sequence[dict[str, Any]], pieces: int = 3
) -> list[list[dict[str, Any]]]:
    """Whole tool calls as the events a streaming upstream sends: per call one event
    that starts it (index, id, name, empty arguments), then its arguments in ``pieces``
    parts."""
    events: list[list[dict[str, Any]]] = []
    for i, call in enumerate(calls):
        fn = call["function"]
        events.append(
            [
                {
                    "index": i,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": fn["name"], "arguments": ""},
                }
            ]
        )
        args = str(fn.get("arguments") or "")
        size = max(1, -(-len(args) // max(1, pieces)))
        for pos in range(0, len(args), size):
            events.append([{"index": i, "function": {"arguments": args[pos : pos + size]}}])
    return events
