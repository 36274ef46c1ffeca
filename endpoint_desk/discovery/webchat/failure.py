"""What a failed discovery says: what it found, what it did not, and the one
``desk add URL --options '{...}'`` line that finishes the job by hand.

``--options`` takes a JSON object (inline or ``@file.json``); when it names at least
``input`` and ``assistant``, ``desk add`` skips discovery and proves those selectors
with a live call (see ``docs/web-chat.md``). The line shows what discovery did find, so
the user adds only what is missing.
"""

from __future__ import annotations

import json
from typing import Any

from endpoint_desk.core.errors import DeskError

__all__ = ["PLACEHOLDERS", "discovery_failed", "options_hint"]

PLACEHOLDERS = {
    "input": "CSS of the message input",
    "assistant": "CSS of the assistant's messages",
}
"""What the hint puts where discovery found nothing."""


def options_hint(url: str, found: dict[str, Any]) -> str:
    """The ``desk add`` line that finishes the job: ``found`` plus placeholders for the
    required selectors it lacks."""
    opts: dict[str, Any] = {}
    for key in ("input", "send", "send_key", "assistant", "assistant_text"):
        if found.get(key):
            opts[key] = found[key]
        elif key in PLACEHOLDERS:
            opts[key] = f"<{PLACEHOLDERS[key]}>"
    text = json.dumps(opts, ensure_ascii=False).replace("'", "\\u0027")
    return f"desk add {url} --options '{text}'"


def discovery_failed(
    url: str, problem: str, found: dict[str, Any], seen: list[str] | None = None
) -> DeskError:
    """A ``DeskError`` naming the problem, what was found (``found``: option -> selector;
    ``seen``: other findings in words), what was not, and the ``--options`` line."""
    have = [f"{k} {v}" for k, v in found.items() if v and k in ("input", "send", "assistant")]
    if found.get("send_key") and not found.get("send"):
        have.append(f"send with the {found['send_key']} key")
    have += seen or []
    missing = [PLACEHOLDERS[k].removeprefix("CSS of ") for k in PLACEHOLDERS if not found.get(k)]
    parts = [f"{url}: {problem}."]
    parts.append(f"Found: {'; '.join(have)}." if have else "Found nothing usable.")
    if missing:
        parts.append(f"Not found: {' and '.join(missing)}.")
    parts.append(f"Give what is missing with `{options_hint(url, found)}` (see docs/web-chat.md).")
    return DeskError(" ".join(parts))
