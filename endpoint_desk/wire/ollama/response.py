"""Ollama replies, both ways: NDJSON lines (``message.content`` pieces, whole
``message.tool_calls``, then ``done: true`` with ``done_reason``,
``prompt_eval_count`` and ``eval_count``) to chunks, and back (the sim)."""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.errors import ProtocolError, UpstreamError
from endpoint_desk.core.models import ChatChunk, Usage
from endpoint_desk.core.tools import dump_arguments, parse_arguments
from endpoint_desk.wire.common import new_call_id
from endpoint_desk.wire.ollama.request import DONE_REASONS


def final_chunk(obj: dict[str, Any], had_calls: bool) -> ChatChunk:
    """The closing chunk from Ollama's ``done: true`` object."""
    usage: Usage | None = None
    if "eval_count" in obj or "prompt_eval_count" in obj:
        usage = Usage(
            input_tokens=int(obj.get("prompt_eval_count") or 0),
            output_tokens=int(obj.get("eval_count") or 0),
        )
    reason = DONE_REASONS.get(str(obj.get("done_reason") or "stop"), "stop")
    if had_calls and reason == "stop":
        reason = "tool_calls"
    return ChatChunk(finish_reason=reason, usage=usage, model=obj.get("model"))


class LineDecoder:
    """Reads one reply's lines (a whole reply is one line with ``done: true``)."""

    __slots__ = ("calls", "endpoint")

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.calls = 0

    def feed(self, obj: Any) -> tuple[ChatChunk | None, bool]:
        """``(chunk with text/tool calls or None, done)``."""
        endpoint = self.endpoint
        if not isinstance(obj, dict):
            raise ProtocolError(f"{endpoint} sent a line that is not an object", endpoint=endpoint)
        if "error" in obj:
            raise UpstreamError(f"{endpoint} reported an error: {obj['error']}", endpoint=endpoint)
        message = obj.get("message")
        if not isinstance(message, dict):
            if obj.get("done"):
                return None, True
            raise ProtocolError(f"{endpoint} sent a chat line without 'message'", endpoint=endpoint)
        text = str(message.get("content") or "")
        frags = None
        calls = message.get("tool_calls")
        if isinstance(calls, list) and calls:
            frags = []
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict):
                    continue
                frags.append(
                    {
                        "index": self.calls,
                        "id": str(call.get("id") or new_call_id()),
                        "type": "function",
                        "function": {
                            "name": str(fn.get("name") or ""),
                            "arguments": dump_arguments(fn.get("arguments")),
                        },
                    }
                )
                self.calls += 1
        chunk = ChatChunk(delta=text, tool_calls=frags or None) if text or frags else None
        return chunk, bool(obj.get("done"))


# ---------------------------------------------------------------------------
# Writing Ollama replies (the sim)
# ---------------------------------------------------------------------------


def message_line(
    model: str, created_at: str, text: str, tool_calls: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One streamed line (``done: false``)."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {
                "function": {
                    "name": c["function"]["name"],
                    "arguments": parse_arguments(c["function"].get("arguments", "")),
                }
            }
            for c in tool_calls
        ]
    return {"model": model, "created_at": created_at, "message": message, "done": False}


def done_line(
    model: str,
    created_at: str,
    text: str,
    *,
    finish: str | None,
    usage: Usage,
    elapsed_ns: int,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The closing line (the whole reply when not streamed)."""
    line = message_line(model, created_at, text, tool_calls)
    total = max(1, elapsed_ns)
    line.update(
        {
            "done_reason": "length" if finish == "length" else "stop",
            "done": True,
            "total_duration": total,
            "load_duration": 0,
            "prompt_eval_count": usage.input_tokens,
            "prompt_eval_duration": total // 4,
            "eval_count": usage.output_tokens,
            "eval_duration": total - total // 4,
        }
    )
    return line
