"""Textual messages the desk's event pump posts; bursts merge (``can_replace``)."""

from __future__ import annotations

from textual.message import Message


class PortfolioDirty(Message):
    """Some endpoints changed; the app holds the set of names. Replaces a pending one,
    so a burst of engine events costs one repaint."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PortfolioDirty)


class LogDirty(Message):
    """New log entries wait in the app's buffer; replaces a pending one."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, LogDirty)


class DeskOpened(Message):
    """The engine is open (or failed to open: ``error`` says why)."""

    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error


class ServerStatus(Message):
    """The in-process ``/v1`` server started (``url``) or stopped (``None``)."""

    def __init__(self, url: str | None) -> None:
        super().__init__()
        self.url = url
