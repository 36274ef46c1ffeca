"""Reading Anthropic replies (the adapter): a whole ``message`` or the named stream events
(``message_start`` input usage, ``content_block_start`` a text or ``tool_use`` block,
``content_block_delta`` ``text_delta`` / ``input_json_delta``, ``message_delta`` stop
reason and output usage, ``message_stop``, ``ping``, ``error``) into ``ChatChunk``s:
text, and tool calls as OpenAI fragments (index, id, name, argument pieces). The forced
tool of a JSON response format comes out as the reply's text.

Writing them (the ``/v1/messages`` front door and the sim) is ``encode.py``.
"""

from __future__ import annotations

from typing import Any

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
