"""The canonical request as an OpenAI ``/chat/completions`` body.

Reading a body is ``ChatRequest.from_openai`` (``core/models.py``): OpenAI's shape is
the desk's own, so parsing it is validation, not conversion.
"""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.models import ChatRequest


def chat_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The OpenAI wire body for a request (model already mapped). A stream always asks
    for usage (the desk accounts cost); tools, tool choice and response format pass on
    as the client sent them."""
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [m.to_dict() for m in request.messages],
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.top_p is not None:
        body["top_p"] = request.top_p
    if request.stop:
        body["stop"] = request.stop
    if request.tools:
        body["tools"] = request.tools
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    elif request.tool_choice == "none":
        body["tool_choice"] = "none"
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.extra:
        for key, value in request.extra.items():
            body.setdefault(key, value)
    return body
