"""Step 4, read the reply: watch the page answer the canary, locate the reply (by the
canary's answer; from an echo bot, as the *later* of the two elements holding the
prompt) and choose the selector of assistant messages."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from endpoint_desk.discovery.webchat.analysis import Analysis, Timer
from endpoint_desk.discovery.webchat.canary import Canary, has_number
from endpoint_desk.discovery.webchat.completion import (
    BusyWatch,
    answer_complete,
    reply_finished,
)
from endpoint_desk.discovery.webchat.failure import discovery_failed
from endpoint_desk.discovery.webchat.selectors import squash, stability, stable
from endpoint_desk.discovery.webchat.send import Sent

__all__ = [
    "Reply",
    "choose_assistant",
    "chrome_ignore",
    "locate",
    "pick_assistant",
    "read_reply",
    "user_selectors",
    "watch_reply",
]


@dataclass(slots=True)
class Reply:
    """Where the canary's reply appeared and what signalled its end."""

    desc: dict[str, Any]
    """``describeReply()`` of the in-page script: the message element and candidates."""
    echo: bool
    """An echo bot's reply (the prompt repeated)."""
    busy: list[str]
    """Busy-signal selectors, best first."""
    busy_input: bool
    """The input was locked while the page answered."""


async def read_reply(an: Analysis, url: str, canary: Canary, sent: Sent, timeout: float) -> Reply:
    """Watch for the canary's reply; the ``reply`` step.

    Raises:
        DeskError: no reply holding the answer (or the echoed prompt) appeared.
    """
    t = Timer()
    reply = await watch_reply(an, canary, sent.input, timeout)
    an.timings["reply"] = t.ms
    if reply is None:
        raise discovery_failed(
            url,
            "the message was sent but no reply holding the canary's answer "
            f"({canary.answer}) or its text appeared within {timeout:g} s",
            sent.found(),
        )
    desc, echo, busy_seen, busy_input = reply
    first_reply_ms = (time.perf_counter() - sent.at) * 1000
    await an.step(
        "reply",
        True,
        ("an echo reply (the prompt repeated)" if echo else f"the answer {canary.answer}")
        + f" arrived; complete after {first_reply_ms:.0f} ms",
        t.ms,
    )
    return Reply(desc, echo, busy_seen, busy_input)


async def watch_reply(
    an: Analysis, canary: Canary, best: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], bool, list[str], bool] | None:
    """Wait for the canary's reply; return (description, echo, busy selectors, busy_input)."""
    busy = BusyWatch(an, f'[data-desk-cand="{best["id"]}"]')
    await busy.start()
    deadline = time.monotonic() + timeout
    last_text = ""
    stable_since = time.monotonic()
    located: tuple[dict[str, Any], bool] | None = None
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        await busy.sample(located[0]["message"] if located else None)
        located = await locate(an, canary)
        if located is None:
            continue
        desc, echo = located
        text = desc["text_text"]
        now = time.monotonic()
        if text != last_text:
            last_text, stable_since = text, now
            continue
        still_busy = await busy.still_busy(desc["message"])
        complete = answer_complete(text, echo, canary)
        if reply_finished(still_busy, complete, now - stable_since):
            break
    else:
        if located is None:
            return None
    assert located is not None
    desc, echo = located
    busy_sels = await busy.signals(desc["message"])
    return desc, echo, busy_sels, busy.input_disabled


async def locate(an: Analysis, canary: Canary) -> tuple[dict[str, Any], bool] | None:
    """Find the reply element: by the answer (a model) or as the later echo (an echo bot)."""
    by_nonce = [f for f in await an.js("find(arg)", canary.nonce) if f["visible"]]
    user = by_nonce[0] if by_nonce else None
    answers = [
        f
        for f in await an.js("find(arg)", canary.answer)
        if f["visible"] and canary.nonce not in f["text"] and has_number(f["text"], canary.answer)
    ]
    if answers:
        a = answers[-1]
        desc = await an.js("describeReply(arg[0], arg[1])", [a["id"], user["id"] if user else None])
        return (desc, False) if desc else None
    if len(by_nonce) >= 2:
        ordered = sorted(by_nonce, key=lambda f: (f["added_at"] is None, f["added_at"] or 0))
        u, a = ordered[0], ordered[-1]
        if u["id"] == a["id"]:
            return None
        desc = await an.js("describeReply(arg[0], arg[1])", [a["id"], u["id"]])
        return (desc, True) if desc else None
    return None


def choose_assistant(desc: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """The assistant selector, its text part and alternates.

    Candidates pick the newest message (the reply) and never the user's message, at a
    level that holds the whole reply (the message element, or its part that holds the
    reply beside only chrome; never a pre/code/p inside it: the in-page script
    climbs out of those). Among them roles, data attributes and test ids beat classes,
    words like "assistant" or "bot" help, and structural locators (``:has()``, the
    position among the rows) come last. The text part (``assistant_text``) is the
    reply's part inside the chosen element, when it holds less than all of it.
    """

    def eligible(c: dict[str, Any]) -> bool:
        if not c["newest"]:
            return False
        if "whole" in c:
            return bool(c["whole"])
        return bool(c["is_message"]) or squash(c["text"]) == squash(desc["message_text"])

    pool = sorted((c for c in desc["candidates"] if eligible(c)), key=lambda c: -stability(c))
    if not pool:
        return None, None, []
    best = pool[0]
    text_sel: str | None = None
    if "text_sels" in best:
        text_sel = best["text_sels"][0] if best["text_sels"] else None
    elif desc["text_selectors_in_message"] and squash(desc["text_text"]) != squash(
        desc["message_text"]
    ):
        text_sel = desc["text_selectors_in_message"][0]
    alts = list(dict.fromkeys(c["sel"] for c in pool[1:5] if c["sel"] != best["sel"]))[:3]
    return str(best["sel"]), text_sel, alts


def chrome_ignore(desc: dict[str, Any], assistant: str, text_sel: str | None) -> str | None:
    """Selectors of the page chrome beside the reply (author label, time stamp) for the
    adapter to skip, when the chosen element holds more than the reply and no text part
    could be named (a shadow root between them): ``None`` when not needed or unknown."""
    if text_sel or not desc.get("chrome"):
        return None
    best = next((c for c in desc["candidates"] if c["sel"] == assistant), None)
    if best is None or squash(best["text"]) == squash(desc["text_text"]):
        return None
    return ",".join(desc["chrome"])


def pick_assistant(
    an: Analysis, url: str, reply: Reply, sent: Sent
) -> tuple[str, str | None, list[str]]:
    """``choose_assistant`` for the canary's reply, with its evidence and score.

    Raises:
        DeskError: no selector (stable or structural) picks the reply; the message says
            what was found and how to give the assistant selector by hand.
    """
    assistant, assistant_text, alts = choose_assistant(reply.desc)
    if assistant is None:
        text = squash(reply.desc["text_text"])[:50]
        raise discovery_failed(
            url,
            "the reply was found but no selector picks it and not the user's message "
            f"(tried {len(reply.desc['candidates'])} candidates)",
            sent.found(),
            [f"the reply {text!r}"],
        )
    echo = reply.echo
    an.score["assistant"] = (0.22 if not echo else 0.18) + (0.08 if stable(assistant) else 0.0)
    an.evidence.append(
        f"assistant messages: {assistant}"
        + (f" (text in {assistant_text})" if assistant_text else "")
        + (" — located by the echoed prompt" if echo else " — located by the canary's answer")
    )
    return assistant, assistant_text, alts


async def user_selectors(an: Analysis, desc: dict[str, Any]) -> list[str]:
    """Selectors of the user's own message (never matching the reply)."""
    if not desc.get("user_message"):
        return []
    sels: list[str] = await an.js(
        "selectorsDetail(arg[0], arg[1])", [desc["user_message"], [desc["message"]]]
    )
    return sels
