"""Engine events: typed dataclasses published to every subscriber.

Front ends (the TUI, the server's logs, webhooks) subscribe with
``async for event in desk.events(): ...``. Publishing never blocks: a slow subscriber
loses its oldest events, never the engine's time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    ts: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class EndpointChanged(Event):
    """An endpoint was added, changed state, or its configuration changed."""

    name: str
    state: str
    reason: str = ""
    removed: bool = False


@dataclass(frozen=True, slots=True)
class RequestDone(Event):
    """A request finished (successfully or not) on an endpoint."""

    request_id: str
    endpoint: str
    model: str
    ok: bool
    latency_ms: float
    ttft_ms: float | None = None
    error_kind: str | None = None
    error: str | None = None
    cost: float = 0.0
    cached: bool = False
    kind: str = "chat"
    """What was asked: ``chat`` or ``embeddings``."""


@dataclass(frozen=True, slots=True)
class HealthChecked(Event):
    name: str
    ok: bool
    latency_ms: float
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Alert(Event):
    """Something a person should know: tripped, recovered, error, budget reached."""

    level: str  # "info" | "warning" | "error"
    name: str | None
    title: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ServerChanged(Event):
    url: str | None


class EventBus:
    """Fan-out of events to subscribers, each with a bounded queue."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[Event | None]] = set()
        self._maxsize = maxsize
        self._listeners: dict[type[Event], list[Callable[[Event], None]]] = {}

    def listen(self, kind: type[Event], callback: Callable[[Event], None]) -> None:
        """Call ``callback(event)`` synchronously for every published event of exactly
        this type, from the moment of this call (a subscription starts only when
        iterated). The callback must be quick and must not raise."""
        self._listeners.setdefault(kind, []).append(callback)

    def publish(self, event: Event) -> None:
        listeners = self._listeners.get(type(event))
        if listeners is not None:
            for callback in listeners:
                try:
                    callback(event)
                except Exception:  # a listener's bug must not break the publisher
                    log.warning("event listener failed", exc_info=True)
        for queue in self._subscribers:
            if queue.full():
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(event)

    def close(self) -> None:
        """End every subscription."""
        for queue in self._subscribers:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def subscribe(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event | None] = asyncio.Queue(self._maxsize)
        self._subscribers.add(queue)
        try:
            while True:
                event = await queue.get()
                if event is None:
                    return
                yield event
        finally:
            self._subscribers.discard(queue)
