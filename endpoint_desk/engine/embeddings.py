"""Embeddings through the desk: ``Desk.embed(request)``.

The same portfolio, router, guards, breaker, ledger and budgets as chat, over the
positions that can embed (``capabilities.embeddings``): the desk's daily budget, the
candidates (a pinned endpoint, or the router's plan for the model with
``needs={"embeddings"}``), then one attempt after another while each candidate's
guard admits it, until one succeeds. An embedding reply is whole, so every failure
may fail over (unless the caller pinned the endpoint or sent a request no endpoint
could take); admission and queueing are chat's (``engine/admission.py``).

An attempt (:meth:`EmbeddingPath.attempt`) bounds the whole call by the endpoint's
``timeout_seconds``, counts it in the position's metrics and the request log
(``kind="embeddings"``, with a ``RequestDone`` event), prices its input tokens
(``engine/cost.py``: :func:`embedding_cost`; estimated and marked so when the upstream
reports none) and feeds the breaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace

from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import (
    BadRequest,
    ConfigError,
    DeskError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import Usage, new_id
from endpoint_desk.engine.admission import Admission, fails_over
from endpoint_desk.engine.attempt import adapter_bug
from endpoint_desk.engine.cost import embedding_cost, estimate_tokens
from endpoint_desk.engine.position import Position
from endpoint_desk.engine.request_path import RequestPath
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
        admission = Admission(
            candidates,
            request.model,
            self.portfolio,
            self.verdicts,
            self.requests.queue_seconds,
            self.requests.totals,
        )
        async with contextlib.aclosing(admission.turns()) as turns:
            async for pos, attempt in turns:
                started = time.perf_counter()
                try:
                    model = pos.spec.upstream_model(asked) or ""
                    result = await self.attempt(pos, request, model, len(admission.attempts))
                except DeskError as exc:
                    admission.failed(attempt, exc, started)
                    if pinned is not None or not fails_over(exc):
                        raise
                    continue
                attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                result.attempts = admission.attempts
                result.latency_ms = (time.perf_counter() - t0) * 1000
                return result
        raise admission.refusal()

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
            error = adapter_bug(pos.name, exc)
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
