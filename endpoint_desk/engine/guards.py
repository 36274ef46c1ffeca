"""Guards: what may go to an endpoint right now.

One :class:`Guard` per endpoint holds its rate limit (a sliding window of admissions
per minute) and its concurrency limit (in-flight count with a queue of waiters), both
only when the endpoint sets them, and its circuit breaker ("stop-loss": a rolling
window of outcomes) and its backoff. :class:`DeskBudget` is the desk-wide daily spend
cap. Every check is a few attribute reads: guards run on the hot
path and never await the store.

The guard decides; the desk acts (changes states, publishes alerts).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass

from endpoint_desk.core.config import BreakerSettings
from endpoint_desk.core.errors import (
    AuthFailed,
    BudgetExceeded,
    DeskError,
    Overloaded,
    RateLimited,
)
from endpoint_desk.core.models import Limits

BREAKER_KINDS = frozenset({"unreachable", "timeout", "upstream", "protocol", "browser", "error"})
"""Error kinds that count as failures for the breaker (the upstream's fault, not the
caller's: a bad request or a blocked prompt never trips an endpoint)."""


class RateLimiter:
    """At most ``limit`` admissions in any ``window`` seconds (exact sliding window)."""

    __slots__ = ("_times", "limit", "window")

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()

    def try_acquire(self, now: float | None = None, take: bool = True) -> float:
        """Admit one request: returns 0.0, or the seconds until a slot frees (refused).
        With ``take=False`` only look."""
        now = time.monotonic() if now is None else now
        times = self._times
        edge = now - self.window
        while times and times[0] <= edge:
            times.popleft()
        if len(times) < self.limit:
            if take:
                times.append(now)
            return 0.0
        return max(0.001, times[len(times) - self.limit] + self.window - now)

    def used(self, now: float | None = None) -> int:
        """Admissions inside the current window."""
        now = time.monotonic() if now is None else now
        edge = now - self.window
        return sum(1 for t in self._times if t > edge)


@dataclass(slots=True)
class Verdict:
    """The breaker's decision after an outcome."""

    action: str  # "trip" | "error" | "cooldown" | "degrade"
    reason: str
    cooldown: float


class Breaker:
    """The stop-loss over a rolling window of outcomes.

    ``record()`` returns a :class:`Verdict` when the endpoint must leave the rotation:
    ``error`` for 401/403 (a person must act), ``cooldown`` for an upstream 429 (its
    Retry-After, else the base cooldown), ``trip`` when, with at least ``min_requests``
    outcomes in the window, the failure share reaches ``failure_threshold``. Half way
    there it says ``degrade``: the endpoint keeps serving, marked DEGRADED, until
    ``healthy()`` again.
    """

    __slots__ = ("_outcomes", "settings", "trips")

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._outcomes: deque[tuple[float, bool]] = deque(maxlen=4096)
        self.trips = 0
        """Consecutive trips without a passing probe (drives the backoff)."""

    def record(self, error: DeskError | None, now: float | None = None) -> Verdict | None:
        """Count one outcome (``None`` = success)."""
        now = time.monotonic() if now is None else now
        if error is None:
            self._outcomes.append((now, False))
            return None
        if isinstance(error, AuthFailed):
            return Verdict("error", error.one_line(), 0.0)
        if isinstance(error, RateLimited):
            wait = error.retry_after if error.retry_after else self.settings.cooldown_seconds
            wait = min(wait, self.settings.max_cooldown_seconds)
            return Verdict("cooldown", f"rate limited by the upstream; retry in {wait:g} s", wait)
        if error.kind not in BREAKER_KINDS:
            return None
        self._outcomes.append((now, True))
        n, failed = self.counts(now)
        s = self.settings
        if n >= s.min_requests and failed / n >= s.failure_threshold:
            cooldown = self.next_cooldown()
            return Verdict(
                "trip",
                f"stop-loss: {failed} of {n} requests failed in {s.window_seconds:g} s "
                f"(last: {error.one_line()})",
                cooldown,
            )
        if n >= s.min_requests and failed / n >= s.failure_threshold / 2:
            return Verdict(
                "degrade",
                f"{failed} of {n} requests failed in {s.window_seconds:g} s "
                f"(last: {error.one_line()})",
                0.0,
            )
        return None

    def healthy(self, now: float | None = None) -> bool:
        """Whether the window's failure share is below half the trip threshold (or too
        few outcomes to say)."""
        n, failed = self.counts(now)
        return n < self.settings.min_requests or failed / n < self.settings.failure_threshold / 2

    def counts(self, now: float | None = None) -> tuple[int, int]:
        """(outcomes, failures) inside the window."""
        now = time.monotonic() if now is None else now
        edge = now - self.settings.window_seconds
        out = self._outcomes
        while out and out[0][0] < edge:
            out.popleft()
        failed = sum(1 for _, bad in out if bad)
        return len(out), failed

    def next_cooldown(self) -> float:
        """The cooldown of the next trip (doubles per consecutive trip, capped), counting it."""
        s = self.settings
        wait = min(s.max_cooldown_seconds, s.cooldown_seconds * float(2 ** min(self.trips, 30)))
        self.trips += 1
        return wait

    def reset(self) -> None:
        """Forget the window and the backoff (a probe passed; a person restarted it)."""
        self._outcomes.clear()
        self.trips = 0


class Guard:
    """All per-endpoint guards of one position.

    The rate and concurrency limits apply only when the endpoint sets them; an endpoint
    without limits is admitted with a few attribute reads. When a set concurrency limit
    is full, a request may wait for a slot (:func:`wait_for_slot`): a request that
    leaves hands its slot to the longest waiter (a reservation), so requests arriving
    later never overtake the queue.

    Args:
        breaker: the desk's breaker settings.
        rate_window: seconds of the rate window (60: per minute; tests shorten it).
    """

    __slots__ = (
        "_rate",
        "_reserved",
        "_waiters",
        "breaker",
        "in_flight",
        "limit",
        "peak_in_flight",
        "rate_window",
    )

    def __init__(self, breaker: BreakerSettings, rate_window: float = 60.0) -> None:
        self.rate_window = rate_window
        self._rate: RateLimiter | None = None
        self.in_flight = 0
        self.peak_in_flight = 0
        self.limit: int | None = None
        """The concurrency limit as of the last admission (``None``: no limit)."""
        self._reserved = 0
        """Slots handed to waiters that have not taken them yet."""
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.breaker = Breaker(breaker)

    def admit(
        self, name: str, limits: Limits, spent_today: float, *, claim: bool = False
    ) -> DeskError | None:
        """Check budget, concurrency and rate for one new request; on success take a
        rate slot (the caller must then ``enter()``). Returns the refusal or ``None``.

        ``claim``: the request holds a slot handed to it while it waited
        (:func:`wait_for_slot`); it takes that slot, or hands it on when refused.
        """
        if claim:
            self._reserved -= 1
        conc = self.limit = limits.max_concurrent_requests
        rpm = limits.max_requests_per_minute
        if conc is None and rpm is None and limits.daily_budget is None:
            return None
        refusal = self._check(name, limits, spent_today)
        if refusal is not None and claim:
            self._hand_on()
        return refusal

    def _check(self, name: str, limits: Limits, spent_today: float) -> DeskError | None:
        if limits.daily_budget is not None and spent_today >= limits.daily_budget:
            return BudgetExceeded(
                f"{name} reached its daily budget ({spent_today:.4f} of "
                f"{limits.daily_budget:g} USD)",
                endpoint=name,
            )
        conc = limits.max_concurrent_requests
        busy = conc is not None and self.in_flight + self._reserved >= conc
        rpm = limits.max_requests_per_minute
        if rpm is not None:
            rate = self._rate
            if rate is None:
                rate = self._rate = RateLimiter(rpm, self.rate_window)
            rate.limit = rpm  # a changed limit keeps the window's admissions
            wait = rate.try_acquire(take=not busy)
            if wait:
                return RateLimited(
                    f"{name} is at its limit of {rpm} requests per "
                    f"{_window_text(self.rate_window)}; a slot frees in {wait:.1f} s",
                    endpoint=name,
                    retry_after=wait,
                )
        if busy:
            return Overloaded(
                f"{name} has {self.in_flight} requests in flight "
                f"(max_concurrent_requests = {conc})",
                endpoint=name,
            )
        return None

    def enter(self) -> None:
        """A request starts at the endpoint."""
        self.in_flight += 1
        if self.in_flight > self.peak_in_flight:
            self.peak_in_flight = self.in_flight

    def leave(self) -> None:
        """A request ended; its slot goes to the longest waiter, if any."""
        self.in_flight -= 1
        if self._waiters:
            self._hand_on()

    def release(self) -> None:
        """Give back a slot handed over while waiting but not taken (the request was
        served elsewhere, or went away)."""
        self._reserved -= 1
        self._hand_on()

    def _hand_on(self) -> None:
        """Hand a free slot to the longest waiter (``waiter()``), if there is one."""
        limit = self.limit
        waiters = self._waiters
        while waiters and (limit is None or self.in_flight + self._reserved < limit):
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                self._reserved += 1
                return

    def waiter(self) -> asyncio.Future[None]:
        """A future resolved when a slot is handed to it (registered at once, so a
        leave right after a refused admission is never missed). Whoever registers one
        must resolve it through :func:`wait_for_slot`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        return fut

    def forget(self, fut: asyncio.Future[None]) -> bool:
        """Stop waiting with ``fut``; whether a slot had been handed to it already
        (then the caller holds it: take it with ``admit(claim=True)`` or ``release()``)."""
        if fut.done() and not fut.cancelled():
            return True
        fut.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(fut)
        return False


class DeskBudget:
    """The desk-wide daily spend cap (``Settings.budget.daily_desk_budget``)."""

    __slots__ = ("limit",)

    def __init__(self, limit: float | None) -> None:
        self.limit = limit

    def check(self, spent_today: float) -> BudgetExceeded | None:
        """The refusal when today's spend reached the cap, else ``None``."""
        if self.limit is not None and spent_today >= self.limit:
            return BudgetExceeded(
                f"the desk reached its daily budget ({spent_today:.4f} of {self.limit:g} USD); "
                "raise budget.daily_desk_budget or wait for tomorrow"
            )
        return None


async def wait_for_slot(guards: list[Guard], timeout: float) -> list[Guard]:
    """Wait until any of ``guards`` hands this request a slot, at most ``timeout``
    seconds (with no guards: just sleep; a rate limit frees in time).

    Returns:
        The guards that handed over a slot; the caller holds each and must take it
        (``admit(claim=True)``) or give it back (``release()``). When the wait is
        cancelled, every slot handed over is given back.
    """
    if not guards:
        await asyncio.sleep(timeout)
        return []
    futures = [g.waiter() for g in guards]
    try:
        await asyncio.wait(futures, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        for g, fut in zip(guards, futures, strict=True):
            if g.forget(fut):
                g.release()
        raise
    return [g for g, fut in zip(guards, futures, strict=True) if g.forget(fut)]


def _window_text(window: float) -> str:
    return "minute" if window == 60.0 else f"{window:g} s"
