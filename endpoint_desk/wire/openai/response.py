"""Reading OpenAI replies: a whole ``chat.completion`` or a stream of
``chat.completion.chunk`` events, into ``ChatChunk``s (text and tool-call fragments)."""

from __future__ import annotations

from typing import Any

import orjson

from endpoint_desk.core.errors import ProtocolError
from endpoint_desk.core.models import ChatChunk, Usage
from endpoint_desk.core.tools import whole_call_fragments


def usage_of(data: Any) -> Usage | None:
    """OpenAI's ``usage`` object as the desk's ``Usage``."""
    if not isinstance(data, dict):
        return None
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
    )


def parse_completion(data: Any, endpoint: str) -> ChatChunk:
    """A whole ``chat.completion`` as one chunk (text, tool calls, finish, usage)."""
    try:
        choice = data["choices"][0]
        message = choice.get("message") or {}
        content = message.get("content") or ""
        finish = choice.get("finish_reason") or "stop"
        calls = message.get("tool_calls")
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ProtocolError(
            f"{endpoint} sent a completion without choices[0].message", endpoint=endpoint
        ) from exc
    fragments = None
    if isinstance(calls, list) and calls:
        fragments = whole_call_fragments([_call(c, endpoint) for c in calls])
    return ChatChunk(
        delta=str(content),
        finish_reason=str(finish),
        usage=usage_of(data.get("usage")),
        model=data.get("model"),
        tool_calls=fragments,
    )


def _call(call: Any, endpoint: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise ProtocolError(f"{endpoint} sent a tool call without a function name")
    args = fn.get("arguments")
    return {
        "id": str(call.get("id") or ""),
        "type": "function",
        "function": {"name": fn["name"], "arguments": args if isinstance(args, str) else ""},
    }


def error_message(obj: dict[str, Any]) -> str:
    """The message of an ``{"error": ...}`` event or body."""
    err = obj.get("error")
    return str(err.get("message") if isinstance(err, dict) else err)


class StreamState:
    """What a stream told so far: finish reason, usage, model, whether ``[DONE]`` came.

    ``feed`` takes one parsed event and returns its text and tool-call fragments.
    """

    __slots__ = ("done", "endpoint", "finish", "model", "usage")

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.done = False
        self.finish: str | None = None
        self.usage: Usage | None = None
        self.model: str | None = None

    def feed(self, obj: Any) -> tuple[str, list[dict[str, Any]] | None]:
        """One event's ``(text, tool-call fragments or None)``.

        Raises:
            ProtocolError: the event is not an object, or it is an error event.
        """
        if not isinstance(obj, dict):
            raise ProtocolError(f"{self.endpoint} sent a stream event that is not an object")
        if "error" in obj:
            raise ProtocolError(
                f"{self.endpoint} reported an error mid-stream: {error_message(obj)}",
                endpoint=self.endpoint,
            )
        if obj.get("usage"):
            self.usage = usage_of(obj["usage"])
        self.model = obj.get("model") or self.model
        text = ""
        fragments: list[dict[str, Any]] | None = None
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if piece:
                text += piece
            calls = delta.get("tool_calls")
            if calls:
                fragments = (fragments or []) + [c for c in calls if isinstance(c, dict)]
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return text, fragments

    def final(self) -> ChatChunk:
        """The closing chunk (finish reason, usage, model).

        Raises:
            ProtocolError: the stream ended with neither ``[DONE]`` nor a finish reason.
        """
        if not self.done and self.finish is None:
            raise ProtocolError(
                f"{self.endpoint} cut the stream short (no [DONE])", endpoint=self.endpoint
            )
        return ChatChunk(finish_reason=self.finish or "stop", usage=self.usage, model=self.model)


def event_data(event: bytes) -> bytes | None:
    """The data of one SSE event (``None`` for a comment or an event without data)."""
    if event.startswith(b"data: ") and b"\n" not in event:
        return event[6:]
    data: list[bytes] = []
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    return b"\n".join(data) if data else None


class RawEvents:
    """Reads complete SSE events as received, for a front end that forwards them: their
    text and tool-call fragments (so the engine sees the reply), and the bytes to
    forward (the usage-only event left out unless the client asked for usage)."""

    __slots__ = ("include_usage", "state")

    def __init__(self, state: StreamState, include_usage: bool) -> None:
        self.state = state
        self.include_usage = include_usage

    def feed(self, complete: bytes) -> tuple[str, list[dict[str, Any]] | None, bytes]:
        """``(text, fragments or None, bytes to forward)`` of complete events (each
        ending in a blank line, ``\\n`` line ends)."""
        state = self.state
        texts: list[str] = []
        fragments: list[dict[str, Any]] | None = None
        dropped = False
        keep: list[bytes] = []
        for event in complete.split(b"\n\n"):
            if not event:
                continue
            data = event_data(event)
            if data is None:
                keep.append(event)
                continue
            if data == b"[DONE]":
                state.done = True
                keep.append(event)
                continue
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise ProtocolError(
                    f"{state.endpoint} sent an event that is not JSON ({exc})",
                    endpoint=state.endpoint,
                ) from None
            text, frags = state.feed(obj)
            if text:
                texts.append(text)
            if frags:
                fragments = frags if fragments is None else fragments + frags
            if not obj.get("choices") and not self.include_usage:
                dropped = True
                continue
            keep.append(event)
        raw = b"".join(e + b"\n\n" for e in keep) if dropped else complete
        return "".join(texts), fragments, raw
