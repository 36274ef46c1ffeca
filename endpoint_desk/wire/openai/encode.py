"""Writing OpenAI replies: completion bodies, server-sent event chunks, errors, model
lists. The ``/v1`` front door and the simulated upstream's OpenAI side both use it.

Everything returns ``bytes`` ready for the socket. Stream chunks are assembled from a
per-stream prefix computed once, so a content chunk costs one ``orjson.dumps`` of the
text and a few byte concatenations.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import ChatResult, Usage

JSON_TYPE = "application/json"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
DONE = b"data: [DONE]\n\n"

_FINISH = {
    "stop": "stop",
    "length": "length",
    "max_tokens": "length",
    "MAX_TOKENS": "length",
    "tool_calls": "tool_calls",
    "function_call": "function_call",
    "content_filter": "content_filter",
    "SAFETY": "content_filter",
    "blocked": "content_filter",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "STOP": "stop",
}


def finish_reason(reason: str | None) -> str:
    """Map an adapter's finish reason onto one of OpenAI's."""
    if not reason:
        return "stop"
    return _FINISH.get(reason, "stop")


def usage_dict(usage: Usage) -> dict[str, int]:
    """OpenAI's ``usage`` object."""
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def desk_extension(result: ChatResult) -> dict[str, Any]:
    """What the desk adds to an OpenAI body under ``"desk"``: which endpoint served the
    request and what it cost (a compact form of the standardized result)."""
    return {
        "endpoint": result.endpoint,
        "provider": result.provider,
        "latency_ms": round(result.latency_ms, 2),
        "ttft_ms": None if result.ttft_ms is None else round(result.ttft_ms, 2),
        "cost": round(result.usage.cost, 8),
        "estimated": result.usage.estimated,
        "attempts": len(result.attempts) or 1,
        "session": result.session_id,
    }


def completion(
    cid: str,
    model: str,
    created: int,
    text: str,
    *,
    finish: str | None,
    usage: Usage,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
        if not text:
            message["content"] = None
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(finish),
            }
        ],
        "usage": usage_dict(usage),
        "system_fingerprint": None,
    }


def completion_body(result: ChatResult, created: int) -> bytes:
    """The ``chat.completion`` body for a finished request (with the desk extension)."""
    body = completion(
        result.id,
        result.model,
        created,
        result.content,
        finish=result.finish_reason,
        usage=result.usage,
        tool_calls=result.tool_calls,
    )
    body["desk"] = desk_extension(result)
    return orjson.dumps(body)


class ChunkEncoder:
    """Encodes one stream's ``chat.completion.chunk`` events.

    Args:
        cid: the completion id, the same on every chunk.
        model: the model name reported on every chunk.
        created: Unix time of the request.
        usage_null: add ``"usage": null`` to every chunk, as OpenAI does when the
            request asked for ``stream_options.include_usage``.
    """

    __slots__ = ("_end", "_head", "_usage_head")

    def __init__(self, cid: str, model: str, created: int, *, usage_null: bool = False) -> None:
        common = (
            b'data: {"id":'
            + orjson.dumps(cid)
            + b',"object":"chat.completion.chunk","created":'
            + str(created).encode()
            + b',"model":'
            + orjson.dumps(model)
            + b',"system_fingerprint":null,"choices":'
        )
        self._head = common + b'[{"index":0,"delta":'
        self._end = b'],"usage":null}\n\n' if usage_null else b"]}\n\n"
        self._usage_head = common + b'[],"usage":'

    def role(self) -> bytes:
        """The first event: the assistant role with empty content."""
        return (
            self._head + b'{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}'
        ) + self._end

    def delta(self, text: str) -> bytes:
        """A content event."""
        return (
            self._head
            + b'{"content":'
            + orjson.dumps(text)
            + b'},"logprobs":null,"finish_reason":null}'
            + self._end
        )

    def tool_calls(self, fragments: list[dict[str, Any]]) -> bytes:
        """A tool-call event: fragments with index, and id/type/name when a call starts."""
        return (
            self._head
            + b'{"tool_calls":'
            + orjson.dumps(fragments)
            + b'},"logprobs":null,"finish_reason":null}'
            + self._end
        )

    def finish(self, reason: str | None) -> bytes:
        """The event with an empty delta and the finish reason."""
        return (
            self._head
            + b'{},"logprobs":null,"finish_reason":"'
            + finish_reason(reason).encode()
            + b'"}'
            + self._end
        )

    def usage(self, usage: Usage, extension: dict[str, Any] | None = None) -> bytes:
        """The last event of a stream with ``include_usage``: no choices, the usage."""
        tail = b"}\n\n"
        if extension is not None:
            tail = b',"desk":' + orjson.dumps(extension) + tail
        return self._usage_head + orjson.dumps(usage_dict(usage)) + tail


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def error_of(exc: DeskError) -> bytes:
    """The error body for a desk error (``code`` is the error kind)."""
    return error_body(exc.one_line(), exc.openai_type, exc.param, exc.kind)


def stream_error_event(exc: DeskError) -> bytes:
    """An ``error`` event for a stream that already started (OpenAI clients raise it)."""
    return b"data: " + error_of(exc) + b"\n\n"


def retry_after_header(seconds: float | None, default: float = 1.0) -> str:
    """``Retry-After`` in whole seconds (at least 1)."""
    value = default if seconds is None else seconds
    return str(max(1, math.ceil(value)))


def models_body(models: list[tuple[str, str]], created: int = 0) -> bytes:
    """``GET /v1/models``: ``[(model id, owner)]`` as OpenAI's list."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": mid, "object": "model", "created": created, "owned_by": owner}
                for mid, owner in models
            ],
        }
    )
