"""Queueing: a request that finds every candidate at a limit its user set waits for a
slot before it is refused.

The request path (``engine/request_path.py``) tries its candidates in order; each one
whose concurrency limit is full, or whose rate limit is used up, is *noted* here. When
no candidate took the request, :meth:`RequestQueue.wait` waits for a slot at any of the
full ones (a slot a leaving request hands over, see ``Guard.leave``), or for the rate
window to free one, up to the queue time, and the path tries again. Only when the queue
time is up (or a rate slot frees too late to wait for) is the request refused, with
``Retry-After``.

The queue time is the endpoint's ``limits.queue_seconds``, else the desk's ``[routing]
queue_seconds``; with several candidates the longest applies. While a request waits it
counts in ``queued`` of each endpoint it waits for and once in the desk's totals (the
TUI, ``/api`` and ``/metrics`` show it). Nothing here runs for a request that does not
queue.
"""

from __future__ import annotations

import time

from endpoint_desk.core.errors import DeskError, Overloaded
from endpoint_desk.engine.guards import Guard, wait_for_slot
from endpoint_desk.engine.metrics import EndpointMetrics
from endpoint_desk.engine.position import Position


class RequestQueue:
    """One request's place in the queues of its candidates.

    Args:
        default_seconds: the desk's queue time (``[routing] queue_seconds``).
        totals: the desk-wide metrics (counts the request once while it waits).
    """

    __slots__ = (
        "_deadline",
        "_default",
        "_guards",
        "_positions",
        "_rate_wait",
        "_since",
        "_totals",
        "waited",
    )

    def __init__(self, default_seconds: float, totals: EndpointMetrics) -> None:
        self._default = default_seconds
        self._totals = totals
        self._positions: list[Position] = []
        self._guards: list[Guard] = []
        self._rate_wait: float | None = None
        self._deadline: float | None = None
        self._since = 0.0
        self.waited: float | None = None
        """Seconds this request spent queued, once it queued."""

    @property
    def waiting(self) -> bool:
        """Whether a candidate of this pass was at a limit worth waiting for."""
        return bool(self._positions)

    def note(self, pos: Position, guard: Guard, refusal: DeskError) -> None:
        """A candidate refused the request for its concurrency limit (``Overloaded``)
        or its rate limit (``RateLimited``, whose ``retry_after`` says when a slot
        frees)."""
        self._positions.append(pos)
        if isinstance(refusal, Overloaded):
            self._guards.append(guard)
        else:
            wait = refusal.retry_after or 0.0
            if self._rate_wait is None or wait < self._rate_wait:
                self._rate_wait = wait

    def seconds(self, pos: Position) -> float:
        """The queue time of one endpoint."""
        own = pos.spec.limits.queue_seconds
        return self._default if own is None else own

    async def wait(self) -> list[Guard] | None:
        """Wait for a slot at the candidates noted in this pass (then forgets them).

        Returns:
            The guards that handed a slot over (the caller must take or release each),
            an empty list when a rate slot freed or time passed, or ``None`` when the
            queue time is up (or the rate limit frees too late): time to refuse.
        """
        positions, guards, rate_wait = self._positions, self._guards, self._rate_wait
        self._positions, self._guards, self._rate_wait = [], [], None
        now = time.monotonic()
        if self._deadline is None:
            self._since = now
            self._deadline = now + max(self.seconds(p) for p in positions)
        remaining = self._deadline - now
        if remaining <= 0 or (not guards and (rate_wait is None or rate_wait > remaining)):
            return None
        timeout = remaining if rate_wait is None else min(remaining, rate_wait)
        for pos in positions:
            pos.metrics.queued += 1
        self._totals.queued += 1
        try:
            return await wait_for_slot(guards, timeout)
        finally:
            for pos in positions:
                pos.metrics.queued -= 1
            self._totals.queued -= 1
            self.waited = time.monotonic() - self._since


def queued_refusal(refusal: DeskError, waited: float | None) -> DeskError:
    """The refusal a request gets after queueing ``waited`` seconds in vain: the same
    error, saying how long it waited (``Retry-After`` at least one second)."""
    if waited is None or waited <= 0:
        return refusal
    cls = type(refusal)
    retry = refusal.retry_after if refusal.retry_after else 1.0
    return cls(
        f"{refusal.message}; queued {waited:.1f} s for a slot",
        endpoint=refusal.endpoint,
        retry_after=retry,
        status=refusal.status,
        param=refusal.param,
    )
