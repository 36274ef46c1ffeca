"""The desk's in-memory log: recent requests, alerts, health checks and state changes,
turned into uniform entries for the alerts/log pane and the detail screen."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from endpoint_desk.engine.events import (
    Alert,
    EndpointChanged,
    Event,
    HealthChecked,
    RequestDone,
    ServerChanged,
)
from endpoint_desk.tui.format import fmt_money, fmt_ms

KINDS = ("request", "alert", "health", "state")


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One line of the log."""

    seq: int
    ts: float
    kind: str  # request | alert | health | state
    level: str  # info | ok | warning | error
    endpoint: str
    message: str
    latency_ms: float | None = None
    ok: bool | None = None

    def matches(self, needle: str) -> bool:
        """Case-insensitive filter over endpoint, kind, level and message."""
        if not needle:
            return True
        needle = needle.lower()
        hay = f"{self.endpoint} {self.kind} {self.level} {self.message}".lower()
        return all(part in hay for part in needle.split())


class Logbook:
    """A bounded ring of :class:`LogEntry`; newest last."""

    def __init__(self, maxlen: int = 2000) -> None:
        self._entries: deque[LogEntry] = deque(maxlen=maxlen)
        self._seq = 0
        self.alert_count = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._entries)

    def add(
        self,
        ts: float,
        kind: str,
        level: str,
        endpoint: str,
        message: str,
        *,
        latency_ms: float | None = None,
        ok: bool | None = None,
    ) -> LogEntry:
        """Append one entry and return it."""
        self._seq += 1
        entry = LogEntry(self._seq, ts, kind, level, endpoint, message, latency_ms, ok)
        self._entries.append(entry)
        if kind == "alert" and level in ("warning", "error"):
            self.alert_count += 1
        return entry

    def add_event(self, event: Event) -> LogEntry | None:
        """Turn an engine event into an entry (``None`` for events not logged)."""
        if isinstance(event, RequestDone):
            what = event.model or "-"
            if event.kind != "chat":
                what += f" ({event.kind})"
            if event.ok:
                msg = f"{what} ok in {fmt_ms(event.latency_ms)}"
                if event.ttft_ms is not None:
                    msg += f", first token {fmt_ms(event.ttft_ms)}"
                if event.cost:
                    msg += f", {fmt_money(event.cost)}"
                if event.cached:
                    msg += " (cached)"
            else:
                msg = f"{what} failed: {event.error or event.error_kind or '?'}"
            return self.add(
                event.ts,
                "request",
                "ok" if event.ok else "error",
                event.endpoint,
                msg,
                latency_ms=event.latency_ms,
                ok=event.ok,
            )
        if isinstance(event, Alert):
            text = f"{event.title}: {event.message}" if event.message else event.title
            return self.add(event.ts, "alert", event.level, event.name or "desk", text)
        if isinstance(event, HealthChecked):
            word = "healthy" if event.ok else "unhealthy"
            detail = f" ({event.detail})" if event.detail else ""
            return self.add(
                event.ts,
                "health",
                "ok" if event.ok else "warning",
                event.name,
                f"{word} in {fmt_ms(event.latency_ms)}{detail}",
                latency_ms=event.latency_ms,
                ok=event.ok,
            )
        if isinstance(event, EndpointChanged):
            if event.removed:
                return self.add(event.ts, "state", "info", event.name, "removed")
            level = {"error": "error", "tripped": "error", "degraded": "warning"}.get(
                event.state, "info"
            )
            reason = f": {event.reason}" if event.reason else ""
            return self.add(event.ts, "state", level, event.name, f"now {event.state}{reason}")
        if isinstance(event, ServerChanged):
            text = f"/v1 server at {event.url}" if event.url else "/v1 server stopped"
            return self.add(event.ts, "state", "info", "desk", text)
        return None

    def since(self, seq: int) -> list[LogEntry]:
        """Entries newer than ``seq``."""
        return [e for e in self._entries if e.seq > seq]

    def of(self, endpoint: str, kinds: Iterable[str] = KINDS) -> list[LogEntry]:
        """Entries of one endpoint, of the given kinds, oldest first."""
        wanted = set(kinds)
        return [e for e in self._entries if e.endpoint == endpoint and e.kind in wanted]
