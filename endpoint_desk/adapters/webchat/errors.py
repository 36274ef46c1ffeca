"""Playwright's errors as the desk's own: which messages mean the site is unreachable,
and the first line of an error (Playwright's messages run over many lines, with call
logs that are no use to a person)."""

from __future__ import annotations

__all__ = ["UNREACHABLE_MARKERS", "first_line", "is_unreachable"]

UNREACHABLE_MARKERS = (
    "ERR_CONNECTION_REFUSED",
    "ERR_NAME_NOT_RESOLVED",
    "ERR_CONNECTION_RESET",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_PROXY_CONNECTION_FAILED",
)
"""Chromium's network errors that mean nothing answers at the address."""


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def is_unreachable(message: str) -> bool:
    """``message`` names a network error that means nothing answers at the address."""
    return any(m in message for m in UNREACHABLE_MARKERS)
