"""Which part of a streaming reply's text the page will not render differently any more.

Chat pages render a model's markdown anew as it streams: ``you wrote *3`` becomes
``you wrote 3 words`` once the closing ``*`` arrives, a lone ``-`` becomes a list item
(and loses its dash), an open code fence swallows what follows (or shows as text until
it closes). Text the desk has streamed to a client cannot be taken back, so the
exchange streams only the ``settled`` part: everything before an unclosed fence and
before the last line, and of the last line the part before anything markdown may still
turn into markup. The rest follows once the page
has finished (or once later text settles it).
"""

from __future__ import annotations

import re

__all__ = ["settled"]

_PENDING = re.compile(r"[*_`~\[|$\\<]")
"""Characters a later render may turn into markup (emphasis, code, links, tables,
math, HTML) and drop from the text."""

_MARKER = re.compile(r"^\s*(?:[-+*>#=]+|\d+[.)]?)(?:\s|$)")
"""A line that is so far only a block marker (a list item, quote, heading, rule, or
numbered item to come)."""


_FENCE = re.compile(r"^[ \t]*(```|~~~)", re.MULTILINE)
"""A code fence line; an unclosed one is still shown as text by some pages and turns
into a code block (losing the fence line) once it closes."""


def settled(text: str) -> str:
    """The prefix of ``text`` (a page's rendered reply so far) that later renders keep.

    >>> settled("The answer is **4")
    'The answer is'
    >>> settled("First paragraph.\\n-")
    'First paragraph.'
    >>> settled("Steps:\\n```\\nprint(1)")
    'Steps:'
    >>> settled("Plain prose streams word by")
    'Plain prose streams word by'
    """
    fences = list(_FENCE.finditer(text))
    if len(fences) % 2:
        text = text[: fences[-1].start()]
    cut = text.rfind("\n")
    head, last = (text[: cut + 1], text[cut + 1 :]) if cut >= 0 else ("", text)
    if _MARKER.match(last):
        return head.rstrip()
    pending = _PENDING.search(last)
    if pending is not None:
        last = last[: pending.start()]
    # trailing spaces may become a line break (a new block) in a later render
    return (head + last).rstrip()
