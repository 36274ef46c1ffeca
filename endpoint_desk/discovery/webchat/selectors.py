"""Step 6, selectors: how stable a selector is.

The in-page script proposes selectors for an element (``selectorsFor`` in
``js/selectors.js``: ids, roles, ``data-*`` attributes and test ids before classes;
hashed class names never). Here they are ranked for the assistant message: roles,
data attributes and test ids beat classes, words like "assistant" or "bot" help, an id
(one element, not every message) and long descendant chains cost.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["squash", "stability", "stable"]


def stability(c: dict[str, Any]) -> float:
    """How good an assistant-message candidate (from ``describeReply``) is: higher is
    better."""
    sel = str(c["sel"])
    q = 10.0 if c["is_message"] else 0.0
    if re.search(r"\[(data-[\w-]+|role)=", sel):
        q += 30
    elif re.search(r"\[aria-label=", sel):
        q += 15
    if re.search(r"assistant|bot|ai\b|model|response|answer|agent", sel, re.I):
        q += 20
    if ":has(" in sel:
        q -= 10
        if ":has(>" in sel:
            q -= 2  # a tag path: structure, no name
    if ":nth-child(" in sel:
        q -= 20  # the position among the rows: the last resort
    if "#" in sel:
        q -= 25  # an id picks one element, not every message
    if c["count"] == 1:
        q -= 3
    q -= sel.count(" ") * 2
    return q


def stable(selector: str) -> bool:
    """The selector rests on a role, a data or aria attribute, or an id."""
    return bool(re.search(r"\[(role|data-[\w-]+|aria-[\w-]+)=", selector)) or "#" in selector


def squash(text: str) -> str:
    """``text`` with every run of whitespace as one space."""
    return " ".join(str(text).split())
