"""The page's file input, for images: ``file_input`` in the discovered options.

A chat page that takes attachments has an ``<input type=file>`` (often hidden behind a
paper-clip button). When discovery finds one that accepts images, it records a selector
for it as ``file_input``; the web chat adapter then attaches a request's images through
it and the endpoint has the ``vision`` capability. No file input (or one that takes no
images): nothing is recorded and the capability stays off.
"""

from __future__ import annotations

import re
from typing import Any

from endpoint_desk.discovery.webchat.analysis import Analysis

__all__ = ["accepts_images", "record_file_input"]

_ANY_FILE = "input[type=file]"
_PLAIN = re.compile(r"^[A-Za-z][\w-]*$")
_IMAGE_EXT = {".png", ".jpg", ".jpeg", ".gif", ".webp"}


def accepts_images(accept: str) -> bool:
    """Whether a file input's ``accept`` attribute lets an image through (empty: any
    file)."""
    kinds = [k.strip().lower() for k in accept.split(",") if k.strip()]
    return not kinds or any(
        k in ("image/*", "*/*", "*") or k.startswith("image/") or k in _IMAGE_EXT for k in kinds
    )


def _selector(attrs: dict[str, Any]) -> str:
    """A CSS selector for one file input: by id, else by name, else by type."""
    if attrs.get("id") and _PLAIN.match(attrs["id"]):
        return f"#{attrs['id']}"
    if attrs.get("name") and _PLAIN.match(attrs["name"]):
        return f'{_ANY_FILE}[name="{attrs["name"]}"]'
    return _ANY_FILE


async def record_file_input(an: Analysis, options: dict[str, Any]) -> None:
    """Set ``options["file_input"]`` when the page has a file input that takes images
    and a selector finds exactly that one (a step and evidence say so); a selector the
    options already hold is kept."""
    if options.get("file_input"):
        return
    found = an.loc(_ANY_FILE)
    try:
        count = await found.count()
        attrs = [
            await found.nth(i).evaluate("e => ({id: e.id, name: e.name, accept: e.accept})")
            for i in range(min(count, 5))
        ]
    except Exception:  # a page that went away: no file input found is the safe answer
        return
    for a in attrs:
        if not accepts_images(str(a.get("accept") or "")):
            continue
        selector = _selector(a)
        if await an.loc(selector).count() == 1:
            options["file_input"] = selector
            an.evidence.append(f"file input {selector} takes images: images go through it")
            await an.step("file_input", True, selector)
            return
