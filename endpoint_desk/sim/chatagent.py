"""The fixture chat pages' ``agent`` bot: a chat model that follows the desk's tool
emulation prompt (``?bot=agent`` in a page URL), and the note a page's bot adds about
files attached through its file input.

A web chat knows nothing of ``tools``; with ``tool_emulation`` the desk types one prompt
holding the conversation, the tools (``- NAME: description. Arguments (JSON schema):
{...}``) and the instruction to answer with ``{"tool_calls": [...]}``. This bot reads
that prompt as a model would and answers, like the REST sim (``script.py``):

- the conversation ends in tool results (``Tool result of NAME (call ID): RESULT``
  after the last ``User:`` line): ``NAME returned: RESULT.``;
- tools offered: a tool call (the forced one, else the first) with arguments made from
  its schema, as JSON in a code fence with a line of chatter before it (what chat
  models do; the desk must cut the JSON out);
- a JSON reply asked for: an instance of the schema (``{"echo": question}`` without
  one), fenced the same way;
- otherwise ``None``: the page's scripted bot answers.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.sim.script import tool_call_for
from endpoint_desk.wire.common import example_of

__all__ = ["agent_reply", "files_note"]

_TOOL = re.compile(r"^- ([\w.-]+)(?::.*?)?\. Arguments \(JSON schema\): (\{.*\})$", re.M)
_RESULT = re.compile(r"^Tool result of ([\w.-]+) \(call [^)]*\): (.*)$", re.M)
_USER = re.compile(r"^User: (.*)$", re.M)
_FORCED = re.compile(r"^You must call the tool ([\w.-]+) now\.$", re.M)
_SCHEMA = re.compile(r"Reply with only a JSON value that matches this JSON schema[^:]*: (\{.*\})$")


def _fenced(lead: str, data: Any) -> str:
    return f"{lead}\n```json\n{orjson.dumps(data).decode()}\n```"


def agent_reply(prompt: str) -> str | None:
    """The bot's answer to ``prompt`` (see the module docstring); ``None`` when the
    prompt asks for no tool and no JSON."""
    users = list(_USER.finditer(prompt))
    question = users[-1].group(1) if users else ""
    last_user_at = users[-1].start() if users else -1
    results = [m for m in _RESULT.finditer(prompt) if m.start() > last_user_at]
    if results:
        return " ".join(f"{m.group(1)} returned: {m.group(2)}." for m in results)
    tools = [
        {"type": "function", "function": {"name": m.group(1), "parameters": orjson.loads(m[2])}}
        for m in _TOOL.finditer(prompt)
    ]
    if tools:
        forced = _FORCED.search(prompt)
        choice = {"type": "function", "function": {"name": forced[1]}} if forced else "auto"
        request = ChatRequest(
            messages=[ChatMessage("user", question)], tools=tools, tool_choice=choice
        )
        fn = tool_call_for(request)["function"]
        call = {"name": fn["name"], "arguments": orjson.loads(fn["arguments"])}
        return _fenced("I will use a tool for that.", {"tool_calls": [call]})
    if "Reply with only a JSON" in prompt:
        schema = _SCHEMA.search(prompt.rstrip())
        data = example_of(orjson.loads(schema[1])) if schema else {"echo": question}
        return _fenced("Here is the JSON:", data)
    return None


def files_note(files: Any) -> str:
    """``I received NAME (TYPE, N bytes, sha256 PREFIX). `` for each file the page sent
    with the message (``[{"name", "type", "size", "sha256"}]``); ``""`` for none."""
    if not isinstance(files, list):
        return ""
    notes = [
        f"I received {f.get('name')} ({f.get('type')}, {f.get('size')} bytes, "
        f"sha256 {str(f.get('sha256', ''))[:12]}). "
        for f in files
        if isinstance(f, dict)
    ]
    return "".join(notes)
