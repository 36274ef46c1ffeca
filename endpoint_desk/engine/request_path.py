"""The request path: route, admit, attempt, fail over, or answer from the cache.

``Desk.stream(request)`` returns the :class:`ChatStream` of :meth:`RequestPath.serve`;
iterating it runs the path: the desk's daily budget, the candidates (a pinned endpoint,
or the router's plan), the reply cache, then one attempt after another
(``engine/attempt.py``) while each candidate's guard admits it, until one succeeds
(``engine/admission.py``, shared with embeddings). Failover happens only before the
first content chunk reached the caller; when every candidate is at a limit its user
set, the request queues for a slot (``engine/queueing.py``) before it is refused. What
the path learns on the way (the serving endpoint, the result) goes into the request's
:class:`Outcome`, which the stream shows its caller.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator

from endpoint_desk.core.config import Settings
from endpoint_desk.core.errors import (
    DeskError,
)
from endpoint_desk.core.models import ChatChunk, ChatRequest, ChatResult
from endpoint_desk.engine.admission import Admission, fails_over
from endpoint_desk.engine.attempt import AttemptRunner
from endpoint_desk.engine.cache import ReplyCache, cache_key, wants_cache
from endpoint_desk.engine.guards import DeskBudget
from endpoint_desk.engine.ledger import Ledger
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.router import Router, able
from endpoint_desk.engine.verdicts import Verdicts


class Outcome:
    """What the request path learned serving one request; only the path writes it.

    ``endpoint`` names the serving endpoint once the first content chunk came (failover
    happens only before that); ``result`` is the standardized result once the reply
    ended (``None`` after a failure).
    """

    __slots__ = ("endpoint", "result")

    def __init__(self) -> None:
        self.endpoint: str | None = None
        self.result: ChatResult | None = None


class ChatStream:
    """A request being served, the public handle ``Desk.stream`` returns: iterate it
    for chunks; afterwards ``result`` holds the standardized result. ``endpoint`` names
    the serving endpoint once the first chunk arrived (failover happens only before
    that).

    Args:
        chunks: the request path's chunks (``RequestPath.serve``), run when iterated.
        outcome: what the request path learns serving them.
    """

    __slots__ = ("_chunks", "_outcome")

    def __init__(self, chunks: AsyncGenerator[ChatChunk, None], outcome: Outcome) -> None:
        self._chunks = chunks
        self._outcome = outcome

    @property
    def endpoint(self) -> str | None:
        """The serving endpoint, once the first content chunk came."""
        return self._outcome.endpoint

    @property
    def result(self) -> ChatResult | None:
        """The standardized result, once the stream ended."""
        return self._outcome.result

    def __aiter__(self) -> AsyncGenerator[ChatChunk, None]:
        return self._chunks

    async def aclose(self) -> None:
        """Stop serving (an upstream call in flight is cancelled and counted)."""
        await self._chunks.aclose()

    async def collect(self) -> ChatResult:
        """Read the stream to its end; the standardized result."""
        async for _ in self._chunks:
            pass
        result = self._outcome.result
        assert result is not None
        return result


class RequestPath:
    """Serves requests over one portfolio.

    Args:
        settings: routing, budget and cache settings.
        portfolio: the positions and their guards.
        attempts: runs one try at one position.
        verdicts: raises budget alerts.
        ledger: counts cache hits; its totals hold the desk's spend today.
    """

    def __init__(
        self,
        settings: Settings,
        portfolio: Portfolio,
        attempts: AttemptRunner,
        verdicts: Verdicts,
        ledger: Ledger,
    ) -> None:
        self.portfolio = portfolio
        self.attempts = attempts
        self.verdicts = verdicts
        self.ledger = ledger
        self.totals = ledger.totals
        self.router = Router(settings.routing)
        self.desk_budget = DeskBudget(settings.budget.daily_desk_budget)
        self.queue_seconds = settings.routing.queue_seconds
        self.cache = ReplyCache(settings.cache.ttl_seconds, settings.cache.max_entries)

    def serve(
        self, request: ChatRequest, pinned: str | None = None, *, raw: bool = False
    ) -> ChatStream:
        """Serve ``request`` (only at the endpoint named ``pinned`` when given) once the
        returned stream is iterated. With ``raw`` the caller forwards the upstream's own
        SSE bytes where an adapter gives them (it marks ``request.raw_sse``)."""
        if raw:
            request.raw_sse = True
        outcome = Outcome()
        return ChatStream(self._serve(request, pinned, outcome), outcome)

    async def _serve(
        self, request: ChatRequest, pinned: str | None, outcome: Outcome
    ) -> AsyncGenerator[ChatChunk, None]:
        """Route, guard, fail over, cache: the request path."""
        t0 = time.perf_counter()
        refusal = self.desk_budget.check(self.totals.spend_today())
        if refusal is not None:
            self.verdicts.budget_alert("desk", refusal)
            raise refusal
        needs = request.needs()
        if pinned is not None:
            candidates = [self.portfolio.position(pinned)]
            asked = request.model
            if needs:
                able(candidates, needs, asked)
        else:
            candidates, asked = self.router.plan(request.model, self.portfolio.positions, needs)
        first = candidates[0]
        key: bytes | None = None
        if wants_cache(request, first.spec.cache):
            key = cache_key(request, pinned or "")
            hit = self.cache.get(key)
            if hit is not None:
                async for chunk in self._replay(hit, request, outcome):
                    yield chunk
                return
        admission = Admission(
            candidates,
            request.model,
            self.portfolio,
            self.verdicts,
            self.queue_seconds,
            self.totals,
        )
        async with contextlib.aclosing(admission.turns()) as turns:
            async for pos, attempt in turns:
                upstream_model = pos.spec.upstream_model(asked) or ""
                started = time.perf_counter()
                sent_any = False
                try:
                    async with contextlib.aclosing(
                        self.attempts.run(
                            pos, request, upstream_model, outcome, t0, len(admission.attempts)
                        )
                    ) as chunks:
                        async for chunk in chunks:
                            if chunk.delta or chunk.tool_calls:
                                sent_any = True
                            yield chunk
                    attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                    result = outcome.result
                    if result is not None:
                        result.attempts = admission.attempts
                        if key is not None and wants_cache(request, pos.spec.cache):
                            self.cache.put(key, result)
                    return
                except DeskError as exc:
                    admission.failed(attempt, exc, started)
                    if sent_any or pinned is not None or not fails_over(exc):
                        raise
        raise admission.refusal()

    async def _replay(
        self, hit: ChatResult, request: ChatRequest, outcome: Outcome
    ) -> AsyncGenerator[ChatChunk, None]:
        """Serve a cache hit: the whole reply as one chunk, then the final chunk."""
        outcome.endpoint = hit.endpoint
        outcome.result = hit
        self.ledger.record_cache_hit(hit, request, self.portfolio.positions.get(hit.endpoint))
        if hit.content:
            yield ChatChunk(delta=hit.content, model=hit.model)
        yield ChatChunk(
            finish_reason=hit.finish_reason,
            usage=hit.usage,
            model=hit.model,
            session_id=hit.session_id,
        )
