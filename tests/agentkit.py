"""What the agent tests share: a weather tool in OpenAI's shape and a 1x1 PNG (base64
and as a ``data:`` URL)."""

from __future__ import annotations

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG_URL = "data:image/png;base64," + PNG_B64


def called(call: dict[str, str]) -> dict[str, object]:
    """The assistant message that made ``call`` (``{"id", "name", "arguments"}``, as a
    client puts streamed fragments together), to send back before the tool result."""
    function = {"name": call["name"], "arguments": call["arguments"]}
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": call["id"], "type": "function", "function": function}],
    }
