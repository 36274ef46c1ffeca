"""``Desk.embed`` from Python against real sims: routing to endpoints that can embed,
failover, timeouts, guards, breaker, cost, metrics, the request log and events."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from endpoint_desk.core.embeddings import EmbeddingRequest
from endpoint_desk.core.errors import (
    BadRequest,
    BudgetExceeded,
    ModelNotFound,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import EndpointState, Prices
from endpoint_desk.engine.cost import estimate_tokens
from endpoint_desk.engine.events import RequestDone
from endpoint_desk.sim.embeddings import vector
from endpoint_desk.sim.text import count_tokens

from .conftest import Rig, settings, spec, until

pytestmark = pytest.mark.timeout(60)

Factory = Callable[..., Any]
EMBED = "POST /v1/embeddings"
TEXTS = ["a first text to embed", "and a second one"]


def ask(model: str = "sim-model", texts: list[str] | None = None, **kw: Any) -> EmbeddingRequest:
    return EmbeddingRequest(inputs=list(texts or TEXTS), model=model, **kw)


def embeds(rig: Rig, i: int) -> int:
    return rig.sims[i].stats.count(EMBED)


def done(rig: Rig) -> list[RequestDone]:
    return [e for e in rig.events if isinstance(e, RequestDone)]


async def test_embed_counts_like_chat(rig_factory: Factory) -> None:
    rig = await rig_factory(1)
    price = Prices(input_per_mtok=2.0, output_per_mtok=8.0)
    await rig.desk.add(spec("s0", rig.sims[0].url, prices=price), prove=False)
    result = await rig.desk.embed(ask(dimensions=8))
    assert result.vectors == [vector(t, 8) for t in TEXTS]
    assert (result.endpoint, result.provider, result.model) == ("s0", "openai", "sim-model")
    tokens = sum(count_tokens(t) for t in TEXTS)
    assert result.usage.input_tokens == tokens and not result.usage.estimated
    # the table does not know the sim's model: the endpoint's input price applies
    assert result.usage.cost == pytest.approx(tokens * 2.0 / 1e6)
    assert result.id.startswith("embd-") and len(result.attempts) == 1
    assert result.latency_ms > 0
    metrics = rig.desk.endpoint("s0").metrics
    assert (metrics.requests, metrics.errors, metrics.input_tokens) == (1, 0, tokens)
    assert metrics.output_tokens == 0 and metrics.cost_total == pytest.approx(result.usage.cost)
    assert rig.desk.totals.requests == 1
    await until(lambda: len(done(rig)) == 1, what="the RequestDone event")
    event = done(rig)[0]
    assert (event.kind, event.request_id, event.ok, event.ttft_ms) == (
        "embeddings",
        result.id,
        True,
        None,
    )
    await rig.desk.ledger.recorder.flush()  # type: ignore[union-attr]
    (row,) = await rig.desk.recent_requests("s0")
    assert (row.id, row.kind, row.status, row.stream) == (result.id, "embeddings", "ok", False)
    assert (row.input_tokens, row.output_tokens, row.estimated) == (tokens, 0, False)
    assert row.cost == pytest.approx(result.usage.cost)


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
async def test_embed_through_gemini_and_ollama(rig_factory: Factory, kind: str) -> None:
    rig = await rig_factory(1)
    await rig.desk.add(spec("s0", rig.sims[0].url, kind=kind), prove=False)
    result = await rig.desk.embed(ask())
    assert result.vectors == [vector(t) for t in TEXTS]
    assert result.provider == kind
    if kind == "gemini":  # no token count from Gemini: estimated, and marked so
        assert result.usage.estimated
        assert result.usage.input_tokens == sum(estimate_tokens(t) for t in TEXTS)
    else:
        assert not result.usage.estimated
        assert result.usage.input_tokens == sum(count_tokens(t) for t in TEXTS)


async def test_table_price_of_a_known_embedding_model_beats_the_endpoint_prices(
    rig_factory: Factory,
) -> None:
    model = "text-embedding-3-small"  # the table knows it only under provider "openai"
    rig = await rig_factory(1, models=["sim-model", model])
    chat_price = Prices(input_per_mtok=2.5, output_per_mtok=10.0)  # set for a chat model
    await rig.desk.add(
        spec("s0", rig.sims[0].url, prices=chat_price, models=["sim-model", model]),
        prove=False,
    )
    result = await rig.desk.embed(ask(model))
    assert result.model == model
    assert result.usage.input_tokens > 0
    assert result.usage.cost == pytest.approx(result.usage.input_tokens * 0.02 / 1e6)


async def test_only_endpoints_that_embed_are_candidates(rig_factory: Factory) -> None:
    rig = await rig_factory(2)
    await rig.desk.add(spec("chat-only", rig.sims[0].url, kind="anthropic"), prove=False)
    await rig.desk.add(spec("embedder", rig.sims[1].url), prove=False)
    for _ in range(4):
        assert (await rig.desk.embed(ask())).endpoint == "embedder"
    assert embeds(rig, 1) == 4
    await rig.desk.update("chat-only", models=["claude-x"])
    with pytest.raises(BadRequest) as info:
        await rig.desk.embed(ask("claude-x"))
    assert info.value.param == "embeddings" and "embeddings" in str(info.value)
    assert "chat-only (anthropic) lacks embeddings" in str(info.value)
    with pytest.raises(BadRequest, match="embeddings"):  # pinned: the same check
        await rig.desk.embed(ask(), endpoint="chat-only")


async def test_model_is_required_and_must_be_served(rig_factory: Factory) -> None:
    rig = await rig_factory(1)
    await rig.desk.add(spec("s0", rig.sims[0].url), prove=False)
    with pytest.raises(BadRequest) as info:
        await rig.desk.embed(ask(""))
    assert info.value.param == "model"
    with pytest.raises(ModelNotFound):
        await rig.desk.embed(ask("no-such-model"))
    # pinned to an endpoint, an empty model is the endpoint's default
    assert (await rig.desk.embed(ask(""), endpoint="s0")).endpoint == "s0"
    assert (await rig.desk.embed(ask("s0/sim-model"))).endpoint == "s0"


async def test_failover_to_the_next_embedding_endpoint(rig_factory: Factory) -> None:
    rig = await rig_factory(2)
    await rig.desk.add(spec("s0", rig.sims[0].url), prove=False)
    await rig.desk.add(spec("s1", rig.sims[1].url, kind="ollama", tier=1), prove=False)
    rig.sims[0].config.update({"fail_rate": 1.0})
    result = await rig.desk.embed(ask())
    assert result.endpoint == "s1" and result.vectors == [vector(t) for t in TEXTS]
    assert [(a.endpoint, a.error_kind) for a in result.attempts] == [
        ("s0", "upstream"),
        ("s1", None),
    ]
    assert embeds(rig, 0) == 1
    assert rig.desk.endpoint("s0").metrics.errors == 1
    await rig.desk.ledger.recorder.flush()  # type: ignore[union-attr]
    rows = {r.endpoint: r for r in await rig.desk.recent_requests()}
    assert (rows["s0"].kind, rows["s0"].status, rows["s0"].error_kind) == (
        "embeddings",
        "error",
        "upstream",
    )
    assert (rows["s1"].kind, rows["s1"].status, rows["s1"].attempts) == ("embeddings", "ok", 2)
    # pinned: no failover
    with pytest.raises(UpstreamError):
        await rig.desk.embed(ask(), endpoint="s0")


async def test_breaker_trips_an_endpoint_whose_embeddings_fail(rig_factory: Factory) -> None:
    rig = await rig_factory(2)
    await rig.desk.add(spec("s0", rig.sims[0].url), prove=False)
    await rig.desk.add(spec("s1", rig.sims[1].url, tier=1), prove=False)
    rig.sims[0].config.update({"fail_rate": 1.0})
    for _ in range(8):
        assert (await rig.desk.embed(ask())).endpoint == "s1"
    await until(lambda: rig.desk.endpoint("s0").state == EndpointState.TRIPPED, what="a trip")
    before = embeds(rig, 0)
    await rig.desk.embed(ask())
    assert embeds(rig, 0) == before  # tripped: no more traffic


async def test_timeout_bounds_the_whole_call_and_fails_over(rig_factory: Factory) -> None:
    rig = await rig_factory(2)
    await rig.desk.add(spec("s0", rig.sims[0].url, limits={"timeout_seconds": 0.3}), prove=False)
    await rig.desk.add(spec("s1", rig.sims[1].url, tier=1), prove=False)
    rig.sims[0].config.update({"drip": 0.05})  # bytes keep coming, too slowly
    result = await rig.desk.embed(ask())
    assert result.endpoint == "s1"
    assert result.attempts[0].error_kind == "timeout"
    with pytest.raises(UpstreamTimeout):
        await rig.desk.embed(ask(), endpoint="s0")
    assert rig.desk.endpoint("s0").metrics.in_flight == 0


async def test_concurrency_limit_holds_and_requests_wait(rig_factory: Factory) -> None:
    rig = await rig_factory(1)
    await rig.desk.add(
        spec("s0", rig.sims[0].url, limits={"max_concurrent_requests": 2}), prove=False
    )
    rig.sims[0].config.update({"latency": 0.05})
    results = await asyncio.gather(*(rig.desk.embed(ask()) for _ in range(6)))
    assert len(results) == 6
    assert rig.sims[0].stats.max_in_flight == 2
    assert rig.desk.guards["s0"].peak_in_flight == 2


async def test_budgets_stop_embeddings(rig_factory: Factory) -> None:
    rig = await rig_factory(1, settings(budget={"daily_desk_budget": 0.5}))
    dear = Prices(input_per_mtok=100_000, output_per_mtok=0)  # ~0.9 USD a request
    await rig.desk.add(spec("s0", rig.sims[0].url, prices=dear), prove=False)
    await rig.desk.embed(ask())
    with pytest.raises(BudgetExceeded, match="desk reached its daily budget"):
        await rig.desk.embed(ask())
    assert embeds(rig, 0) == 1
