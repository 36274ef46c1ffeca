"""The bot every framework fixture of issue 12 answers with, and the reply log the
discovery benchmark and tests read (stdlib only: each app imports it from its own venv).

The reply is derived from the prompt, so a canary and a test can recognise it, and
names the conversation's turn, so a follow-up shows whether the page kept the
conversation and a new conversation shows whether it started afresh:

- ``a + b`` anywhere in the prompt: ``The answer is N. (turn T)`` (discovery's canary
  "What is 17 + 25? ..." gets ``The answer is 42. (turn 1)``);
- ``markdown`` in the prompt: a reply with two paragraphs, a list and a code block;
- anything else: ``echo: <prompt> (turn T)``.

It streams word by word, ``FIXTURE_WORD_DELAY`` seconds apart (default 0.1: about
0.5-1 s a reply, long enough for discovery to see a page's busy signal). With
``DESK_FIXTURE_LOG`` set, every prompt is appended to that file as a JSON line when it
arrives (``{"id", "app", "prompt", "turn", "received"}``) and again when its reply is
complete (``{"id", "reply", "finished"}``; wall clock, ``time.time()``), so a benchmark
can subtract the page's own reply time and see a reply left unfinished.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import uuid
from typing import Any

WORD_DELAY = float(os.environ.get("FIXTURE_WORD_DELAY", "0.1"))


def answer(prompt: str, turn: int) -> str:
    """The fixture bot's reply to ``prompt`` as turn ``turn`` of its conversation."""
    m = re.search(r"(-?\d+)\s*\+\s*(-?\d+)", prompt)
    if m:
        return f"The answer is {int(m.group(1)) + int(m.group(2))}. (turn {turn})"
    if "markdown" in prompt.lower():
        return (
            f"Here is the plan for turn {turn}.\n\n"
            "- read the question\n- write the answer\n\n"
            "```\nprint('ok')\n```\n\n"
            "That is all."
        )
    return f"echo: {prompt.strip()} (turn {turn})"


def tokens(text: str) -> list[str]:
    """Words with the whitespace after them, so they join back to ``text``."""
    return re.findall(r"\S+\s*", text) or [text]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def received(app: str, prompt: str, turn: int) -> dict[str, Any]:
    """Log that ``prompt`` arrived as turn ``turn`` (to ``$DESK_FIXTURE_LOG``, when set);
    pass the returned entry to ``finished`` when the reply is complete. A reply that
    never finishes (the browser went away mid-answer) stays logged as received."""
    entry = {"id": uuid.uuid4().hex, "app": app, "prompt": prompt, "turn": turn}
    _log({**entry, "received": time.time()})
    return entry


def finished(entry: dict[str, Any], reply: str) -> None:
    """Log that the reply to ``entry`` is complete."""
    _log({"id": entry["id"], "reply": reply, "finished": time.time()})


def _log(line: dict[str, Any]) -> None:
    path = os.environ.get("DESK_FIXTURE_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
