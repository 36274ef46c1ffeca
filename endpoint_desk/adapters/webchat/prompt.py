"""The OpenAI message list as a chat page sees it: one prompt typed into the page, and
the normalized history that tells whether a request continues a page's conversation."""

from __future__ import annotations

__all__ = ["Message", "flatten_messages", "normalize"]

Message = tuple[str, str]
"""``(role, text)``."""

_ROLE_LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "function": "Tool",
}


def flatten_messages(messages: list[Message]) -> str:
    """The OpenAI message list as one prompt: a lone user message as is, anything
    longer as ``Role: text`` paragraphs."""
    if len(messages) == 1 and messages[0][0] == "user":
        return messages[0][1]
    return "\n\n".join(f"{_ROLE_LABELS.get(role, role.title())}: {text}" for role, text in messages)


def normalize(messages: list[Message] | tuple[Message, ...]) -> tuple[Message, ...]:
    """The messages with their whitespace squashed (a page shows text reflowed)."""
    return tuple((role, " ".join(text.split())) for role, text in messages)
