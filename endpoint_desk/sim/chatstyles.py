"""The fixture chat pages' styles and bots (served by ``chatpages.py``).

``STYLES`` names every page under ``pages/``; ``options_for(style)`` is the web chat
adapter's hand-written configuration for it (what discovery should find, or something as
good: it reads only the answer); ``STYLE_KNOBS`` holds a style's own default knobs; and
``scripted_reply`` is the deterministic bot every page talks to.
"""

from __future__ import annotations

import re
from typing import Any

from endpoint_desk.sim.chatagent import agent_reply, files_note

__all__ = ["STYLES", "STYLE_KNOBS", "options_for", "scripted_reply"]

STYLES = (
    "textarea",
    "editable",
    "shadow",
    "mui",
    "quasar",
    "stopgen",
    "chrome",
    "pause",
    "widgets",
    "angular",
    "upload",
)

OPTIONS: dict[str, dict[str, Any]] = {
    "textarea": {
        "input": "#prompt",
        "send": "#send",
        "assistant": ".msg.assistant",
        "assistant_text": ".content",
        "user_message": ".msg.user",
        "busy": "#stop",
        "new_chat": "#new-chat",
    },
    "editable": {
        "input": "#composer",
        "send_key": "Enter",
        "assistant": "article[data-role=assistant]",
        "user_message": "article[data-role=user]",
        "busy_input": True,
    },
    "shadow": {
        "input": "textarea[aria-label=Message]",
        "send": "button[aria-label=Send]",
        "assistant": ".bubble.bot",
        "user_message": ".bubble.user",
        "busy": ".typing",
        "new_chat": "button.new",
        "login_wall": "input[type=password]",
        "login_username": "input[name=username]",
        "login_password": "input[name=password]",
        "login_submit": "button[type=submit]",
    },
    # the framework styles and hard cases: a hand-written configuration that reads only
    # the answer (what discovery should find, or something as good)
    "mui": {
        "input": "textarea.MuiInputBase-input:not([aria-hidden])",
        "send": "button[aria-label=send]",
        "assistant": ".MuiListItem-root:not(.css-9x8m2p) .MuiTypography-body1",
        "user_message": ".MuiListItem-root.css-9x8m2p .MuiTypography-body1",
        "busy": ".MuiCircularProgress-root",
        "new_chat": ".MuiAppBar-root .MuiButton-root",
    },
    "quasar": {
        "input": "textarea.q-field__native",
        "send": ".q-field__append .q-btn",
        "assistant": ".q-message-received",
        "assistant_text": ".markdown-body",
        "user_message": ".q-message-sent",
        "busy": ".q-spinner",
        "new_chat": ".q-toolbar .q-btn",
    },
    "stopgen": {
        "input": "textarea[name=prompt]",
        "send": ".composer-btn",
        "assistant": "[data-author=assistant]",
        "user_message": "[data-author=user]",
        "busy": "button[aria-label='Stop generating']",
        "busy_input": True,
        "new_chat": "button.new",
    },
    "chrome": {
        "input": ".composer textarea",
        "send": "button.send",
        "assistant": ".chat-row--assistant .chat-bubble",
        "ignore": ".chat-author, .chat-time, .chat-actions",
        "user_message": ".chat-row--user",
        "new_chat": ".new-chat",
    },
    "pause": {
        "input": ".bar input",
        "send": ".bar button",
        "assistant": ".bubble.bot",
        "user_message": ".bubble.me",
        "idle_quiet_ms": 2000,
    },
    "widgets": {
        "input": "input.bk-input",
        "send_key": "Enter",
        "assistant": "bk-chat-message[user=Assistant]",
        "user_message": "bk-chat-message[user=User]",
        "new_chat": "button.bk-btn",
    },
    "angular": {
        "input": "input[matinput]",
        "send": "button[mat-flat-button]",
        "assistant": "app-chat-turn:has(span)",
        "assistant_text": "div > div > div",
        "user_message": "app-chat-turn:not(:has(span))",
        "busy": "button[mat-flat-button]:disabled",
        "new_chat": "button[mat-stroked-button]",
    },
}
OPTIONS["upload"] = {**OPTIONS["textarea"], "file_input": "#file"}

STYLE_KNOBS: dict[str, dict[str, Any]] = {
    # markdown at a model's pace (20 words/s): every word a render of its own
    "mui": {"bot": "markdown", "delay": 0.05},
    "quasar": {"bot": "markdown", "delay": 0.05},
    "angular": {"bot": "markdown", "delay": 0.05},
    "pause": {"pause": 1.6, "pauses": 1},
    # a model that thinks before it answers: "Stop generating" shows for a while
    "stopgen": {"latency": 0.8, "delay": 0.05},
}
"""Knobs a style has unless its URL says otherwise."""

_FILLER_TEXT = (
    "Markets opened steady while the desk watched every position closely and the "
    "quotes kept moving in small careful steps across the board today"
)


def scripted_reply(messages: list[dict[str, Any]], bot: str = "scripted", words: int = 12) -> str:
    """The fixture bot's reply to a conversation (deterministic), after a note on the
    files the last message carried (``chatagent.files_note``)."""
    user_turns = [m for m in messages if m.get("role") == "user"]
    note = files_note(user_turns[-1].get("files")) if user_turns else ""
    return note + _bot_reply(user_turns, bot, words)


def _bot_reply(user_turns: list[dict[str, Any]], bot: str, words: int) -> str:
    last = str(user_turns[-1].get("content", "")) if user_turns else ""
    if bot == "agent":
        answer = agent_reply(last)
        if answer is not None:
            return answer
    if bot == "echo":
        return last
    if bot == "markdown":
        return _markdown_reply(last, len(user_turns))
    m = re.search(r"(-?\d+)\s*\+\s*(-?\d+)", last)
    if m:
        return f"The answer is {int(m.group(1)) + int(m.group(2))}."
    m = re.search(r"reply with (?:the word |just )?[\"']?([\w-]+)", last, re.IGNORECASE)
    if m:
        return m.group(1)
    pool = _FILLER_TEXT.split(" ")
    filler = " ".join((pool * (words // len(pool) + 1))[: max(1, words)])
    n_words = len(last.split())
    return (
        f"Reply {len(user_turns)}: I read {n_words} words. {filler.capitalize()}. "
        f"That is my answer. [turn {len(user_turns)}]"
    )


def _markdown_reply(last: str, turn: int) -> str:
    """The scripted answer as a model would format it: paragraphs, a list, a code block."""
    m = re.search(r"(-?\d+)\s*\+\s*(-?\d+)", last)
    if m:
        a, b = int(m.group(1)), int(m.group(2))
        return (
            f"The answer is **{a + b}**.\n\nWorked out for turn {turn}:\n\n"
            f"- took {a} and {b}\n- added them\n\n```\n{a} + {b} = {a + b}\n```"
        )
    return (
        f"Reply {turn}: you wrote *{len(last.split())} words*.\n\nNotes for turn {turn}:\n\n"
        f"- the desk reads lists\n- and code blocks\n\n```\nturn = {turn}\n```\n\n"
        "That is my answer."
    )


def options_for(style: str) -> dict[str, Any]:
    """The web chat adapter's selector configuration for ``style`` (a fresh copy)."""
    if style not in OPTIONS:
        raise ValueError(f"unknown fixture style {style!r}; styles: {', '.join(STYLES)}")
    return dict(OPTIONS[style])
