"""Writing Anthropic replies (the ``/v1/messages`` front door and the sim):
``ChatChunk``s into Anthropic's named stream events (:class:`StreamEncoder`), a finished
reply into a ``message`` body, and errors in Anthropic's shape. Reading them is
``response.py``.
"""

from __future__ import annotations

from typing import Any

import orjson

from endpoint_desk.core.models import ChatChunk, Usage
from endpoint_desk.core.tools import parse_arguments
from endpoint_desk.wire.anthropic.response import stop_reason
from endpoint_desk.wire.common import new_call_id


def message_body(
    mid: str,
    model: str,
    text: str,
    *,
    finish: str | None,
    usage: Usage,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A whole ``message`` object."""
    content: list[dict[str, Any]] = []
    if text or not tool_calls:
        content.append({"type": "text", "text": text})
    for call in tool_calls or ():
        fn = call["function"]
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or new_call_id("toolu_"),
                "name": fn["name"],
                "input": parse_arguments(fn.get("arguments", "")),
            }
        )
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": None,
        "usage": {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
    }


def event(name: str, data: dict[str, Any]) -> bytes:
    """One named server-sent event."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class StreamEncoder:
    """Writes one reply as Anthropic's named events.

    ``start()`` (``message_start``), ``feed(chunk)`` for each chunk (opening
    and closing text and ``tool_use`` blocks as the content changes kind), ``end()``
    (the last block's stop, ``message_delta``, ``message_stop``).
    """

    __slots__ = ("_block", "_calls", "_index", "mid", "model")

    def __init__(self, mid: str, model: str) -> None:
        self.mid = mid
        self.model = model
        self._index = -1
        self._block: str | None = None
        self._calls: dict[int, int] = {}
        """tool call index -> content block index."""

    def start(self, input_tokens: int = 0) -> bytes:
        message: dict[str, Any] = {
            "id": self.mid,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1},
        }
        return event("message_start", {"type": "message_start", "message": message})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close()
        self._index += 1
        self._block = kind
        out += event(
            "content_block_start",
            {"type": "content_block_start", "index": self._index, "content_block": block},
        )
        if self._index == 0:  # as upstream: a ping after the first block starts
            out += event("ping", {"type": "ping"})
        return out

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def text(self, text: str) -> bytes:
        out = b""
        if self._block != "text":
            out = self._open("text", {"type": "text", "text": ""})
        return out + event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": self._index,
                "delta": {"type": "text_delta", "text": text},
            },
        )

    def tool_calls(self, fragments: list[dict[str, Any]]) -> bytes:
        out = b""
        for frag in fragments:
            call = int(frag.get("index", 0))
            fn = frag.get("function") or {}
            if call not in self._calls:
                out += self._open(
                    "tool_use",
                    {
                        "type": "tool_use",
                        "id": frag.get("id") or new_call_id("toolu_"),
                        "name": fn.get("name") or "",
                        "input": {},
                    },
                )
                self._calls[call] = self._index
            args = fn.get("arguments")
            if args:
                out += event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": self._calls[call],
                        "delta": {"type": "input_json_delta", "partial_json": args},
                    },
                )
        return out

    def feed(self, chunk: ChatChunk) -> bytes:
        out = b""
        if chunk.delta:
            out += self.text(chunk.delta)
        if chunk.tool_calls:
            out += self.tool_calls(chunk.tool_calls)
        return out

    def end(self, finish: str | None, usage: Usage | None, *, with_input: bool = False) -> bytes:
        """The closing events. ``with_input`` also reports the input tokens in
        ``message_delta`` (as Anthropic's API does today; clients take the final count
        from there when ``message_start`` could only estimate it)."""
        counts: dict[str, int] = {"output_tokens": usage.output_tokens if usage else 0}
        if with_input and usage is not None:
            counts = {"input_tokens": usage.input_tokens, **counts}
        out = self._close()
        if self._index < 0:  # an empty reply still has one (empty) text block
            out += self._open("text", {"type": "text", "text": ""}) + self._close()
        return (
            out
            + event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop_reason(finish), "stop_sequence": None},
                    "usage": counts,
                },
            )
            + event("message_stop", {"type": "message_stop"})
        )


ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "api_error",
    529: "overloaded_error",
}


def error_object(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape for a status: ``{"type": "error", "error": {...}}``."""
    etype = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": message}}


def error_body(status: int, message: str) -> bytes:
    """:func:`error_object` as bytes."""
    return orjson.dumps(error_object(status, message))


def error_event(status: int, message: str) -> bytes:
    """An ``error`` event for a stream that already started."""
    return b"event: error\ndata: " + error_body(status, message) + b"\n\n"
