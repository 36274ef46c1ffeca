"""Playwright's errors as the desk's own, in one place for the adapter and discovery:
which messages mean the site is unreachable, the page is gone, or a navigation got in
the way; the first line of an error (Playwright's messages run over many lines, with
call logs that are no use to a person); and the expired-session error."""

from __future__ import annotations

from endpoint_desk.core.errors import LoginRequired

__all__ = [
    "UNREACHABLE_MARKERS",
    "first_line",
    "is_navigation",
    "is_page_gone",
    "is_unreachable",
    "session_expired",
]

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


def is_page_gone(message: str) -> bool:
    """``message`` says the page crashed or was closed (it must be replaced)."""
    return "crash" in message.lower() or "closed" in message


def is_navigation(exc: BaseException) -> bool:
    """``exc`` came from a navigation that replaced the document under a call (a
    login redirect): worth trying again on the new document."""
    text = str(exc)
    return "context was destroyed" in text or "navigat" in text.lower()


def session_expired(name: str, how: str) -> LoginRequired:
    """The session of endpoint ``name`` expired: ``how`` says what the page showed."""
    return LoginRequired(
        f"{name}: the session expired ({how}); run `desk login {name}` or store a "
        "username and password",
        endpoint=name,
    )
