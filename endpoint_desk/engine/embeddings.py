"""Embeddings through the desk: ``Desk.embed(request)``.

The same portfolio, router, guards, breaker, ledger and budgets as chat, over the
positions that can embed (``capabilities.embeddings``): the desk's daily budget, the
candidates (a pinned endpoint, or the router's plan for the model with
``needs={"embeddings"}``), then one attempt after another while each candidate's
guard admits it, until one succeeds. An embedding reply is whole, so every failure
may fail over (unless the caller pinned the endpoint or sent a request no endpoint
could take); when every candidate is busy the path waits for a free slot, up to the
timeout, as chat does.

An attempt (:meth:`EmbeddingPath.attempt`) bounds the whole call by the endpoint's
``timeout_seconds``, counts it in the position's metrics and the request log
(``kind="embeddings"``, with a ``RequestDone`` event), prices its input tokens
(``engine/cost.py``: :func:`embedding_cost`; estimated and marked so when the upstream
reports none) and feeds the breaker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import (
    BadRequest,
    BudgetExceeded,
    ConfigError,
    DeskError,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import Attempt, Usage, new_id
from endpoint_desk.engine.cost import embedding_cost, estimate_tokens
from endpoint_desk.engine.guards import Guard, wait_any_free
from endpoint_desk.engine.position import Position
from endpoint_desk.engine.request_path import RequestPath, _fails_over, _refusal
from endpoint_desk.engine.router import able

KIND = "embeddings"
"""The request log's ``kind`` of an embedding request."""


class EmbeddingPath:
    """Serves embedding requests over the chat path's portfolio and parts.

    Args:
        requests: the chat request path; its portfolio, router, budget, verdicts and
            ledger serve embeddings too (one round-robin turn, one spend).
    """

    def __init__(self, requests: RequestPath) -> None:
        self.requests = requests
        self.portfolio = requests.portfolio
        self.verdicts = requests.verdicts
        self.ledger = requests.ledger

    async def embed(self, request: EmbeddingRequest, pinned: str | None = None) -> EmbeddingResult:
        """Serve ``request`` (only at the endpoint named ``pinned`` when given).

        Raises:
            BadRequest: no model named (and no endpoint pinned), or no endpoint that
                serves the model can embed (the message names ``embeddings``).
            ModelNotFound: no endpoint answers to the model.
            DeskError: the last candidate's failure, or why none would take it.
        """
        t0 = time.perf_counter()
        refusal = self.requests.desk_budget.check(self.requests.totals.spend_today())
        if refusal is not None:
            self.verdicts.budget_alert("desk", refusal)
            raise refusal
        candidates, asked = self._candidates(request, pinned)
        first = candidates[0]
        max_tries = 1 + max(0, first.spec.limits.retry_attempts)
        deadline = time.monotonic() + first.spec.limits.timeout_seconds
        attempts: list[Attempt] = []
        tried: set[str] = set()
        refusals: list[DeskError] = []
        last_error: DeskError | None = None
        while True:
            busy: list[Guard] = []
            refusals.clear()
            for pos in candidates:
                if len(attempts) >= max_tries:
                    break
                if pos.name in tried:
                    continue
                guard = self._admit(pos, refusals, busy)
                if guard is None:
                    continue
                tried.add(pos.name)
                attempt = Attempt(endpoint=pos.name, started=time.time())
                attempts.append(attempt)
                started = time.perf_counter()
                guard.enter()
                try:
                    model = pos.spec.upstream_model(asked) or ""
                    result = await self.attempt(pos, request, model, len(attempts))
                except DeskError as exc:
                    attempt.error_kind, attempt.error = exc.kind, exc.one_line()
                    last_error = exc
                    if pinned is not None or not _fails_over(exc):
                        raise
                    continue
                finally:
                    attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                    guard.leave()
                result.attempts = attempts
                result.latency_ms = (time.perf_counter() - t0) * 1000
                return result
            if len(attempts) >= max_tries or not busy:
                break
            # Every candidate left is busy: wait for a free slot, up to the timeout.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await wait_any_free(busy, remaining):
                break
        if last_error is not None:
            raise last_error
        raise _refusal(refusals, request.model)

    def _candidates(
        self, request: EmbeddingRequest, pinned: str | None
    ) -> tuple[list[Position], str]:
        """The positions to try in order, and the model name to ask them for."""
        needs = request.needs()
        if pinned is not None:
            candidates = [self.portfolio.position(pinned)]
            able(candidates, needs, request.model)
            return candidates, request.model
        if not request.model:
            raise BadRequest(
                "'model' is required: name an embedding model (or 'endpoint-name/model')",
                param="model",
            )
        return self.requests.router.plan(request.model, self.portfolio.positions, needs)

    def _admit(self, pos: Position, refusals: list[DeskError], busy: list[Guard]) -> Guard | None:
        """``pos``'s guard when it admits one more request; else ``None``, with the
        refusal noted (and the guard in ``busy`` when only its concurrency is full)."""
        guard = self.portfolio.guard(pos)
        refused = guard.admit(pos.name, pos.spec.limits, pos.metrics.spend_today())
        if refused is None:
            return guard
        refusals.append(refused)
        if isinstance(refused, Overloaded):
            busy.append(guard)
        elif isinstance(refused, BudgetExceeded):
            self.verdicts.budget_alert(pos.name, refused)
        return None

    async def attempt(
        self, pos: Position, request: EmbeddingRequest, model: str, attempt_no: int = 1
    ) -> EmbeddingResult:
        """One try at one position: its timeout, metrics, cost, request log, breaker.

        Args:
            model: the upstream model name (mapping applied).
        """
        if not model:
            raise ConfigError(
                f"{pos.name}: no model given and the endpoint has no default model",
                endpoint=pos.name,
            )
        t0 = time.perf_counter()
        adapter = pos.adapter
        if adapter is None or not pos.opened:
            adapter = await self.requests.attempts.open(pos)
        timeout = pos.spec.limits.timeout_seconds
        rid = new_id("embd")
        result: EmbeddingResult | None = None
        error: DeskError | None = None
        pos.metrics.in_flight += 1
        try:
            async with asyncio.timeout(timeout):
                result = await adapter.embed(replace(request, model=model))
        except TimeoutError as exc:
            error = UpstreamTimeout(
                f"{pos.name} did not answer in {timeout:g} s", endpoint=pos.name
            )
            raise error from exc
        except DeskError as exc:
            error = exc
            raise
        except Exception as exc:  # an adapter bug must not take the desk down
            error = UpstreamError(f"{pos.name}: {type(exc).__name__}: {exc}", endpoint=pos.name)
            raise error from exc
        finally:
            pos.metrics.in_flight -= 1
            latency = (time.perf_counter() - t0) * 1000
            usage = result.usage if result is not None else Usage()
            if result is not None and usage.estimated:
                usage.input_tokens = sum(estimate_tokens(text) for text in request.inputs)
            served = result.model if result is not None and result.model else model
            embedding_cost(usage, served, pos.spec.kind.value, pos.spec.prices)
            self.ledger.record_request(
                pos,
                rid,
                stream=False,
                model=served,
                ok=result is not None,
                error=error,
                latency=latency,
                ttft=None,
                usage=usage,
                attempt_no=attempt_no,
                kind=KIND,
            )
            if result is not None or error is not None:  # a caller who went away says nothing
                self.verdicts.judge(pos, error)
        result.id, result.endpoint, result.provider = rid, pos.name, pos.spec.kind.value
        result.latency_ms = latency
        return result
