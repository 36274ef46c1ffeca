"""Anthropic replies, both ways.

Reading (the adapter): a whole ``message`` or the named stream events
(``message_start`` input usage, ``content_block_start`` a text or ``tool_use`` block,
``content_block_delta`` ``text_delta`` / ``input_json_delta``, ``message_delta`` stop
reason and output usage, ``message_stop``, ``ping``, ``error``) into ``ChatChunk``s:
text, and tool calls as OpenAI fragments (index, id, name, argument pieces). The forced
tool of a JSON response format comes out as the reply's text.

Writing (the ``/v1/messages`` front door and the sim): ``ChatChunk``s into the same
events, and a finished reply into a ``message`` body.
"""

from __future__ import annotations

from typing import Any

import orjson

from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    DeskError,
    ModelNotFound,
    ProtocolError,
    RateLimited,
    UpstreamError,
)
from endpoint_desk.core.models import ChatChunk, Usage
from endpoint_desk.core.tools import dump_arguments, parse_arguments
from endpoint_desk.wire.common import new_call_id

STOP_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
"""Anthropic ``stop_reason`` -> OpenAI ``finish_reason``."""

FINISH_TO_STOP: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
"""OpenAI ``finish_reason`` -> Anthropic ``stop_reason``."""


def finish_reason(stop_reason: Any) -> str:
    """OpenAI's finish reason for an Anthropic stop reason (unknown ones -> ``stop``)."""
    return STOP_REASONS.get(str(stop_reason), "stop") if stop_reason else "stop"


def stop_reason(finish: str | None) -> str:
    """Anthropic's stop reason for an OpenAI finish reason."""
    return FINISH_TO_STOP.get(finish or "stop", "end_turn")


def usage_of(data: Any, into: Usage | None = None) -> Usage | None:
    """Fold an Anthropic ``usage`` object into ``into`` (cache reads count as input)."""
    if not isinstance(data, dict):
        return into
    usage = into or Usage()
    inp = [
        data.get(k)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    if any(isinstance(v, int) for v in inp):
        usage.input_tokens = sum(v for v in inp if isinstance(v, int))
    if isinstance(data.get("output_tokens"), int):
        usage.output_tokens = data["output_tokens"]
    return usage


def error_for(endpoint: str, data: Any) -> DeskError:
    """The desk error for an ``error`` event (or error body) in Anthropic's shape."""
    err = data.get("error") if isinstance(data, dict) else None
    etype = str(err.get("type", "")) if isinstance(err, dict) else ""
    msg = str(err.get("message", "")) if isinstance(err, dict) else str(data)
    text = f"{endpoint} reported {etype or 'an error'} mid-stream: {msg}"
    if etype == "rate_limit_error":
        return RateLimited(text, endpoint=endpoint)
    if etype in ("authentication_error", "permission_error"):
        return AuthFailed(text, endpoint=endpoint)
    if etype == "not_found_error":
        return ModelNotFound(text, endpoint=endpoint)
    if etype in ("invalid_request_error", "request_too_large"):
        return BadRequest(text, endpoint=endpoint)
    return UpstreamError(text, endpoint=endpoint)


def parse_message(data: Any, endpoint: str, structured: str | None = None) -> ChatChunk:
    """A whole ``message`` as one chunk. ``structured`` names the forced tool of a JSON
    response format, whose input becomes the text of the reply."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{endpoint} sent a message that is not an object", endpoint=endpoint)
    if data.get("type") == "error":
        raise error_for(endpoint, data)
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise ProtocolError(
            f"{endpoint} sent a message without a 'content' list", endpoint=endpoint
        )
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    finish = finish_reason(data.get("stop_reason"))
    for block in blocks:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(str(block.get("text", "")))
        elif block.get("type") == "tool_use":
            if structured is not None and block.get("name") == structured:
                texts.append(dump_arguments(block.get("input", {})))
                finish = "stop"
                continue
            calls.append(
                {
                    "index": len(calls),
                    "id": str(block.get("id") or ""),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": dump_arguments(block.get("input", {})),
                    },
                }
            )
    return ChatChunk(
        delta="".join(texts),
        finish_reason=finish,
        usage=usage_of(data.get("usage")),
        model=data.get("model"),
        tool_calls=calls or None,
    )


def unwrap_structured(text: str, wrapped: bool) -> str:
    """The JSON reply of a forced tool whose schema was wrapped under ``value``."""
    if not wrapped:
        return text
    data = parse_arguments(text)
    return dump_arguments(data.get("value") if isinstance(data, dict) else data)


class StreamDecoder:
    """Turns one stream's events into chunks; ``final()`` after ``message_stop``."""

    __slots__ = ("_blocks", "_calls", "done", "endpoint", "model", "stop", "structured", "usage")

    def __init__(self, endpoint: str, structured: str | None = None) -> None:
        self.endpoint = endpoint
        self.structured = structured
        self.usage: Usage | None = None
        self.model: str | None = None
        self.stop: Any = None
        self.done = False
        self._blocks: dict[int, int | str] = {}
        """content block index -> tool call index (or "json" for the forced tool)."""
        self._calls = 0

    def feed(self, event: str | None, obj: Any) -> ChatChunk | None:
        """One event; returns a chunk when it carries text or a tool-call fragment."""
        if not isinstance(obj, dict):
            raise ProtocolError(
                f"{self.endpoint} sent a stream event that is not an object",
                endpoint=self.endpoint,
            )
        etype = obj.get("type") or event
        if etype == "content_block_delta":
            delta = obj.get("delta") or {}
            if not isinstance(delta, dict):
                return None
            kind = delta.get("type")
            if kind == "text_delta":
                text = delta.get("text")
                return ChatChunk(delta=str(text)) if text else None
            if kind == "input_json_delta":
                slot = self._blocks.get(int(obj.get("index", 0)))
                piece = str(delta.get("partial_json") or "")
                if slot == "json":
                    return ChatChunk(delta=piece) if piece else None
                if isinstance(slot, int) and piece:
                    return ChatChunk(tool_calls=[{"index": slot, "function": {"arguments": piece}}])
            return None
        if etype == "content_block_start":
            block = obj.get("content_block") or {}
            if isinstance(block, dict) and block.get("type") == "tool_use":
                index = int(obj.get("index", 0))
                if self.structured is not None and block.get("name") == self.structured:
                    self._blocks[index] = "json"
                    return None
                call = self._calls
                self._calls += 1
                self._blocks[index] = call
                return ChatChunk(
                    tool_calls=[
                        {
                            "index": call,
                            "id": str(block.get("id") or ""),
                            "type": "function",
                            "function": {"name": str(block.get("name") or ""), "arguments": ""},
                        }
                    ]
                )
            return None
        if etype == "message_start":
            message = obj.get("message") or {}
            if isinstance(message, dict):
                self.model = message.get("model") or self.model
                self.usage = usage_of(message.get("usage"), self.usage)
        elif etype == "message_delta":
            delta = obj.get("delta") or {}
            if isinstance(delta, dict) and delta.get("stop_reason"):
                self.stop = delta["stop_reason"]
            self.usage = usage_of(obj.get("usage"), self.usage)
        elif etype == "message_stop":
            self.done = True
        elif etype == "error":
            raise error_for(self.endpoint, obj)
        return None

    def final(self) -> ChatChunk:
        """The closing chunk.

        Raises:
            ProtocolError: the stream ended without ``message_stop``.
        """
        if not self.done:
            raise ProtocolError(
                f"{self.endpoint} cut the stream short (no message_stop)", endpoint=self.endpoint
            )
        finish = finish_reason(self.stop)
        if finish == "tool_calls" and self._calls == 0:
            finish = "stop"  # only the forced JSON tool was used
        return ChatChunk(finish_reason=finish, usage=self.usage, model=self.model)


# ---------------------------------------------------------------------------
# Writing Anthropic replies (the /v1/messages front door, the sim)
# ---------------------------------------------------------------------------


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
