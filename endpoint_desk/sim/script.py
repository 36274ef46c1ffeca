"""What the sim answers, whatever the protocol: a :class:`SimReply` for a canonical
request (the protocol modules read their body into a ``ChatRequest`` and write the
reply back through ``endpoint_desk.wire``).

- Tools offered (and not switched off): when the conversation does not end in tool
  results, the sim calls one tool (the forced one, else the first) with arguments made
  from its JSON schema (the first string argument gets the last word of the user's
  message); when it ends in tool results, it answers with text that uses them
  (``<tool> returned: <result>``). A scripted tool call, then an answer.
- A JSON response format: the reply is JSON (an instance of the schema, or
  ``{"echo": <last user message>}``).
- Otherwise the text of :func:`endpoint_desk.sim.text.reply_text` (knob, script, canned
  reply or ``Echo: ...``), cut to ``max_tokens``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from endpoint_desk.core.models import ChatRequest, Usage
from endpoint_desk.core.tools import dump_arguments, forced_tool, json_schema_of
from endpoint_desk.sim.knobs import Knobs
from endpoint_desk.sim.state import SimState
from endpoint_desk.sim.text import count_tokens, limit, reply_text
from endpoint_desk.wire.common import example_of, new_call_id

__all__ = ["SimReply", "decide", "plain_messages", "tool_call_for"]

_WORD = re.compile(r"[\w-]+")


@dataclass(slots=True)
class SimReply:
    """The sim's answer: text and/or tool calls (OpenAI message shape), the finish
    reason (OpenAI's vocabulary) and the token counts."""

    text: str
    finish: str = "stop"
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


def plain_messages(request: ChatRequest) -> list[dict[str, str]]:
    """The conversation as ``{"role", "content"}`` text dicts (what scripts receive)."""
    return [{"role": m.role, "content": m.text} for m in request.messages]


def _last_user(request: ChatRequest) -> str:
    return next((m.text for m in reversed(request.messages) if m.role == "user"), "")


def tool_call_for(request: ChatRequest) -> dict[str, Any]:
    """The sim's call of one offered tool (the forced one, else the first), OpenAI's
    shape, arguments an instance of its schema (also the chat pages' ``agent`` bot)."""
    tools = request.tools or []
    name = forced_tool(request.tool_choice) or tools[0]["function"]["name"]
    fn = next(t["function"] for t in tools if t["function"]["name"] == name)
    schema = fn.get("parameters") or {"type": "object", "properties": {}}
    words = _WORD.findall(_last_user(request))
    args = example_of(schema)
    if isinstance(args, dict) and words:
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if isinstance(sub, dict) and sub.get("type") == "string" and "enum" not in sub:
                args[key] = words[-1]
                break
    return {
        "id": new_call_id(),
        "type": "function",
        "function": {"name": name, "arguments": dump_arguments(args)},
    }


def _tool_answer(request: ChatRequest) -> str | None:
    """Text that uses the tool results the conversation ends with (``None`` if it does
    not end with any)."""
    results = []
    for m in reversed(request.messages):
        if m.role != "tool":
            break
        results.append(m)
    if not results:
        return None
    names = {c["id"]: c["function"]["name"] for m in request.messages for c in m.tool_calls or ()}
    return " ".join(
        f"{names.get(m.tool_call_id or '', 'the tool')} returned: {m.text}."
        for m in reversed(results)
    )


def decide(state: SimState, model: str, request: ChatRequest, knobs: Knobs) -> SimReply:
    """The sim's reply to ``request`` (see the module docstring)."""
    input_tokens = sum(count_tokens(m.text) for m in request.messages)
    answer = _tool_answer(request)
    if request.tools and request.tool_choice != "none" and answer is None and not knobs.reply:
        call = tool_call_for(request)
        usage = Usage(input_tokens, count_tokens(call["function"]["arguments"]))
        return SimReply("", "tool_calls", [call], usage)
    if answer is not None and not knobs.reply:
        text = answer
    elif request.response_format is not None and not knobs.reply:
        schema = json_schema_of(request.response_format)
        data = example_of(schema) if schema is not None else {"echo": _last_user(request)}
        text = orjson.dumps(data).decode()
    else:
        text = reply_text(state, model, plain_messages(request), knobs)
    text, cut = limit(text, request.max_tokens)
    return SimReply(text, "length" if cut else "stop", [], Usage(input_tokens, count_tokens(text)))
