"""Gemini replies, both ways.

Reading (the adapter): each ``GenerateContentResponse`` (a whole reply, or one event
of ``streamGenerateContent?alt=sse``) into text and whole tool calls (Gemini sends a
``functionCall`` in one piece; the desk gives it an id when Gemini did not). Safety: a
prompt blocked by Google (``promptFeedback.blockReason``) or a reply withheld for
safety before any text raises ``ContentBlocked``.

Writing (the sim): text and tool calls into ``candidates[0].content.parts``, usage into
``usageMetadata``.
"""

from __future__ import annotations

from typing import Any

import orjson

from endpoint_desk.core.errors import ContentBlocked, ProtocolError, UpstreamError
from endpoint_desk.core.models import ChatChunk, Usage
from endpoint_desk.core.tools import dump_arguments, parse_arguments
from endpoint_desk.wire.common import new_call_id

SAFETY_REASONS = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
"""Finish reasons that mean Google withheld the reply."""

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "MALFORMED_FUNCTION_CALL": "stop",
    "OTHER": "stop",
    "LANGUAGE": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    **{reason: "content_filter" for reason in SAFETY_REASONS},
}
"""Gemini ``finishReason`` -> OpenAI ``finish_reason``."""

TO_GEMINI: dict[str, str] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def finish_reason(reason: Any) -> str:
    """OpenAI's finish reason for a Gemini finish reason (unknown ones -> ``stop``)."""
    return FINISH_REASONS.get(str(reason), "stop") if reason else "stop"


def usage_of(data: Any) -> Usage | None:
    """``usageMetadata`` as usage (thinking tokens count as output)."""
    if not isinstance(data, dict):
        return None
    out = data.get("candidatesTokenCount")
    thoughts = data.get("thoughtsTokenCount")
    return Usage(
        input_tokens=int(data.get("promptTokenCount") or 0),
        output_tokens=int(out or 0) + int(thoughts or 0),
    )


def _ratings(items: Any) -> str:
    """The categories Google flagged, for the error message."""
    if not isinstance(items, list):
        return ""
    flagged = [
        str(r.get("category", "?")).removeprefix("HARM_CATEGORY_").lower()
        for r in items
        if isinstance(r, dict) and (r.get("blocked") or r.get("probability") in ("HIGH", "MEDIUM"))
    ]
    return f" (flagged: {', '.join(flagged)})" if flagged else ""


class Piece:
    """What one ``GenerateContentResponse`` holds: text, whole tool calls (without an
    index yet), finish reason, usage, model."""

    __slots__ = ("calls", "finish", "model", "ratings", "text", "usage")

    def __init__(self, endpoint: str, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise ProtocolError(
                f"{endpoint} sent a response that is not an object", endpoint=endpoint
            )
        if "error" in obj:
            err = obj["error"]
            msg = err.get("message") if isinstance(err, dict) else str(err)
            raise UpstreamError(f"{endpoint} reported an error: {msg}", endpoint=endpoint)
        feedback = obj.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            reason = feedback["blockReason"]
            raise ContentBlocked(
                f"{endpoint} refused the prompt: safety block (blockReason {reason})"
                + _ratings(feedback.get("safetyRatings")),
                endpoint=endpoint,
            )
        self.usage = usage_of(obj.get("usageMetadata"))
        self.model: str | None = obj.get("modelVersion")
        self.text = ""
        self.calls: list[dict[str, Any]] = []
        self.finish: str | None = None
        self.ratings: Any = None
        candidates = obj.get("candidates")
        if candidates is None:
            return
        if not isinstance(candidates, list):
            raise ProtocolError(
                f"{endpoint} sent 'candidates' that is not a list", endpoint=endpoint
            )
        if not candidates:
            return
        cand = candidates[0]
        if not isinstance(cand, dict):
            raise ProtocolError(
                f"{endpoint} sent a candidate that is not an object", endpoint=endpoint
            )
        content = cand.get("content") or {}
        parts = content.get("parts") if isinstance(content, dict) else None
        texts: list[str] = []
        for p in parts if isinstance(parts, list) else ():
            if not isinstance(p, dict):
                continue
            if "text" in p and not p.get("thought"):
                texts.append(str(p["text"]))
            elif isinstance(p.get("functionCall"), dict):
                call = p["functionCall"]
                self.calls.append(
                    {
                        "id": str(call.get("id") or new_call_id()),
                        "type": "function",
                        "function": {
                            "name": str(call.get("name") or ""),
                            "arguments": dump_arguments(call.get("args", {})),
                        },
                    }
                )
        self.text = "".join(texts)
        self.finish = cand.get("finishReason") or None
        self.ratings = cand.get("safetyRatings")

    def blocked(self, endpoint: str) -> ContentBlocked:
        return ContentBlocked(
            f"{endpoint} withheld the reply: safety block (finishReason {self.finish})"
            + _ratings(self.ratings),
            endpoint=endpoint,
        )


def fragments(calls: list[dict[str, Any]], first_index: int) -> list[dict[str, Any]] | None:
    """Whole calls as stream fragments numbered from ``first_index``."""
    if not calls:
        return None
    return [{"index": first_index + i, **call} for i, call in enumerate(calls)]


def parse_response(obj: Any, endpoint: str) -> ChatChunk:
    """A whole ``generateContent`` reply as one chunk."""
    piece = Piece(endpoint, obj)
    if piece.finish is None and not piece.text and not piece.calls:
        raise ProtocolError(f"{endpoint} sent a response without candidates", endpoint=endpoint)
    if piece.finish in SAFETY_REASONS and not piece.text:
        raise piece.blocked(endpoint)
    finish = "tool_calls" if piece.calls else finish_reason(piece.finish)
    return ChatChunk(
        delta=piece.text,
        finish_reason=finish,
        usage=piece.usage,
        model=piece.model,
        tool_calls=fragments(piece.calls, 0),
    )


class StreamDecoder:
    """Turns the events of ``streamGenerateContent?alt=sse`` into chunks."""

    __slots__ = ("calls", "endpoint", "finish", "model", "sent", "usage")

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.usage: Usage | None = None
        self.model: str | None = None
        self.finish: str | None = None
        self.sent = False
        self.calls = 0

    def feed(self, obj: Any) -> ChatChunk | None:
        piece = Piece(self.endpoint, obj)
        self.usage = piece.usage or self.usage
        self.model = piece.model or self.model
        chunk = None
        if piece.text or piece.calls:
            self.sent = True
            chunk = ChatChunk(delta=piece.text, tool_calls=fragments(piece.calls, self.calls))
            self.calls += len(piece.calls)
        if piece.finish:
            self.finish = piece.finish
            if piece.finish in SAFETY_REASONS and not self.sent:
                raise piece.blocked(self.endpoint)
        return chunk

    def final(self) -> ChatChunk:
        if self.finish is None:
            raise ProtocolError(
                f"{self.endpoint} cut the stream short (no finishReason)", endpoint=self.endpoint
            )
        finish = "tool_calls" if self.calls else finish_reason(self.finish)
        return ChatChunk(finish_reason=finish, usage=self.usage, model=self.model)


# ---------------------------------------------------------------------------
# Writing Gemini replies (the sim)
# ---------------------------------------------------------------------------


def _call_part(call: dict[str, Any]) -> dict[str, Any]:
    fn = call["function"]
    return {"functionCall": {"name": fn["name"], "args": parse_arguments(fn.get("arguments", ""))}}


def usage_metadata(usage: Usage) -> dict[str, int]:
    return {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }


def response_body(
    model: str,
    text: str,
    *,
    finish: str | None,
    usage: Usage | None,
    tool_calls: list[dict[str, Any]] | None = None,
    ratings: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One ``GenerateContentResponse`` (the whole reply, or one stream event when
    ``finish`` is ``None``)."""
    parts: list[dict[str, Any]] = [{"text": text}] if text or not tool_calls else []
    parts.extend(_call_part(c) for c in tool_calls or ())
    cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish is not None:
        cand["finishReason"] = TO_GEMINI.get(finish, "STOP")
        if ratings is not None:
            cand["safetyRatings"] = ratings
    out: dict[str, Any] = {"candidates": [cand], "modelVersion": model}
    if usage is not None:
        out["usageMetadata"] = usage_metadata(usage)
    return out


def sse(obj: dict[str, Any]) -> bytes:
    """One ``data:`` event of ``alt=sse``."""
    return b"data: " + orjson.dumps(obj) + b"\r\n\r\n"
