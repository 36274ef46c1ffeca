"""Admission: one request's way through its candidates, shared by chat and embeddings.

:meth:`Admission.turns` hands the caller one admitted candidate at a time (its guard
entered, an :class:`Attempt` recorded); the caller tries it and either stops (served,
or a failure that must not fail over) or goes on to the next. A candidate whose guard
refuses is skipped, its refusal noted; when every candidate left is at a limit its
user set, the request queues for a slot (``engine/queueing.py``) and tries again.
:meth:`Admission.refusal` is the error for a request no candidate served.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Sequence

from endpoint_desk.core.errors import (
    BadRequest,
    BudgetExceeded,
    DeskError,
    NoEndpointAvailable,
    Overloaded,
    RateLimited,
)
from endpoint_desk.core.models import Attempt
from endpoint_desk.engine.guards import Guard
from endpoint_desk.engine.metrics import EndpointMetrics
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import Position
from endpoint_desk.engine.queueing import RequestQueue, queued_refusal
from endpoint_desk.engine.verdicts import Verdicts


class Admission:
    """The candidates of one request, admitted in turn.

    Args:
        candidates: the positions to try, in order.
        model: the model asked for (named in a refusal).
        portfolio: the guards.
        verdicts: budget alerts for a candidate over its daily budget.
        queue_seconds: the desk's queue time (``[routing] queue_seconds``).
        totals: the desk-wide metrics (count the request while it queues).
    """

    __slots__ = (
        "_candidates",
        "_max_tries",
        "_model",
        "_portfolio",
        "_queue",
        "_queue_seconds",
        "_refusals",
        "_totals",
        "_verdicts",
        "attempts",
        "last_error",
    )

    def __init__(
        self,
        candidates: Sequence[Position],
        model: str,
        portfolio: Portfolio,
        verdicts: Verdicts,
        queue_seconds: float,
        totals: EndpointMetrics,
    ) -> None:
        self._candidates = candidates
        self._max_tries = 1 + max(0, candidates[0].spec.limits.retry_attempts)
        self._model = model
        self._portfolio = portfolio
        self._verdicts = verdicts
        self._queue_seconds = queue_seconds
        self._totals = totals
        self._refusals: list[DeskError] = []
        self._queue: RequestQueue | None = None  # made only when the request must queue
        self.attempts: list[Attempt] = []
        self.last_error: DeskError | None = None

    async def turns(self) -> AsyncGenerator[tuple[Position, Attempt], None]:
        """Each admitted candidate with its attempt, its guard entered while the caller
        tries it (left when the caller asks for the next, or closes this generator)."""
        tried: set[str] = set()
        held: list[Guard] = []  # slots handed to this request while it queued
        try:
            while True:
                self._refusals.clear()
                for pos in self._candidates:
                    if len(self.attempts) >= self._max_tries:
                        break
                    if pos.name in tried:
                        continue
                    guard = self._portfolio.guard(pos)
                    claim = bool(held) and guard in held
                    if claim:
                        held.remove(guard)
                    refused = guard.admit(
                        pos.name, pos.spec.limits, pos.metrics.spend_today(), claim=claim
                    )
                    if refused is not None:
                        self._note(pos, guard, refused)
                        continue
                    tried.add(pos.name)
                    attempt = Attempt(endpoint=pos.name, started=time.time())
                    self.attempts.append(attempt)
                    guard.enter()
                    try:
                        yield pos, attempt
                    finally:
                        guard.leave()
                queue = self._queue
                if len(self.attempts) >= self._max_tries or queue is None or not queue.waiting:
                    return
                # Every candidate left is at a limit its user set: queue for a slot
                # (or for the rate window), up to the queue time.
                for guard in held:  # slots handed over but not taken in this pass
                    guard.release()
                held = []
                handed = await queue.wait()
                if handed is None:
                    return
                held = handed
        finally:
            for guard in held:
                guard.release()

    def _note(self, pos: Position, guard: Guard, refused: DeskError) -> None:
        self._refusals.append(refused)
        if isinstance(refused, Overloaded | RateLimited):
            if self._queue is None:
                self._queue = RequestQueue(self._queue_seconds, self._totals)
            self._queue.note(pos, guard, refused)
        elif isinstance(refused, BudgetExceeded):
            self._verdicts.budget_alert(pos.name, refused)

    def failed(self, attempt: Attempt, exc: DeskError, started: float) -> None:
        """The caller's try at ``attempt`` failed with ``exc`` (``started``: its
        ``perf_counter``)."""
        attempt.elapsed_ms = (time.perf_counter() - started) * 1000
        attempt.error_kind, attempt.error = exc.kind, exc.one_line()
        self.last_error = exc

    def refusal(self) -> DeskError:
        """The error for a request no candidate served: the last failure, else why no
        candidate would take it (saying how long it queued, if it did)."""
        if self.last_error is not None:
            return self.last_error
        refused = refusal_of(self._refusals, self._model)
        queue = self._queue
        return refused if queue is None else queued_refusal(refused, queue.waited)


def fails_over(exc: DeskError) -> bool:
    """Whether another endpoint may take a request that failed with ``exc``."""
    return not isinstance(exc, BadRequest) or exc.status is not None


def refusal_of(refusals: list[DeskError], model: str) -> DeskError:
    """The error for a request no candidate would take: the refusal itself when all
    agree (one kind), else a summary naming each endpoint's reason."""
    if not refusals:
        return NoEndpointAvailable(f"no endpoint available for {model!r}")
    kinds = {type(r) for r in refusals}
    if len(kinds) == 1:
        return refusals[0]
    reasons = "; ".join(r.one_line() for r in refusals[:5])
    retry = min((r.retry_after for r in refusals if r.retry_after), default=None)
    return NoEndpointAvailable(
        f"no endpoint could take a request for {model!r}: {reasons}", retry_after=retry
    )
