"""The sim's reply text: which text a request gets, its token count and its chunks.

- :func:`reply_text`: the ``reply`` knob, else a scripted or canned reply, else
  ``Echo: <last user message>``.
- :func:`count_tokens`, :func:`limit`: the deterministic token count and the
  ``max_tokens`` cut.
- :func:`split_chunks`: the content chunks of a streamed reply.
- :func:`text_of` (the wire's), :func:`openai_message`: message text from OpenAI-style
  content.
"""

from __future__ import annotations

from typing import Any

from endpoint_desk.sim.knobs import Knobs
from endpoint_desk.sim.state import SimState
from endpoint_desk.wire.common import text_of

__all__ = ["count_tokens", "limit", "openai_message", "reply_text", "split_chunks", "text_of"]


def count_tokens(text: str) -> int:
    """The sim's deterministic token count: ``ceil(len(text) / 4)``."""
    return (len(text) + 3) // 4


def split_chunks(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` near-equal pieces (``n == 0``: one piece per word).

    The pieces always join back to ``text``; an empty text gives no pieces.
    """
    if not text:
        return []
    if n <= 0:
        parts = text.split(" ")
        pieces = [p + " " for p in parts[:-1]]
        if parts[-1]:
            pieces.append(parts[-1])
        return pieces
    n = min(n, len(text))
    size, extra = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def limit(text: str, max_tokens: Any) -> tuple[str, bool]:
    """``text`` cut to ``max_tokens`` (when that is a positive int below its count),
    and whether it was cut (the protocols' ``length`` finish)."""
    if (
        isinstance(max_tokens, int)
        and not isinstance(max_tokens, bool)
        and 0 < max_tokens < count_tokens(text)
    ):
        return text[: max_tokens * 4], True
    return text, False


def openai_message(m: Any) -> dict[str, str]:
    """One wire message as ``{"role", "content"}`` with text content."""
    if not isinstance(m, dict):
        return {"role": "user", "content": str(m)}
    return {"role": str(m.get("role", "user")), "content": text_of(m.get("content"))}


def reply_text(state: SimState, model: str, messages: list[dict[str, str]], knobs: Knobs) -> str:
    """The reply for ``messages`` (see :mod:`endpoint_desk.sim`, "Replies").

    Models whose name starts with ``scripted`` take the next script entry (advancing
    ``state.script_index``) or call the script function.
    """
    if knobs.reply is not None:
        return knobs.reply
    config = state.config
    if model.startswith("scripted") and config.script is not None:
        if callable(config.script):
            return str(config.script(messages))
        if config.script:
            text = config.script[state.script_index % len(config.script)]
            state.script_index += 1
            return text
    canned = config.replies.get(model)
    if canned is not None:
        return canned
    last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return "Echo: " + last
