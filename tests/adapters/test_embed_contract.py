"""The embedding half of the adapter contract, over real HTTP against the sim: the
OpenAI, Gemini and Ollama adapters return the same vectors for the same texts (the
sim's vectors are the same on every protocol), in input order, with usage when the
protocol reports it; every upstream failure comes out as the same ``DeskError``; the
adapters that cannot embed say so."""

from __future__ import annotations

import pytest

from endpoint_desk.adapters import gemini
from endpoint_desk.core.embeddings import EmbeddingRequest
from endpoint_desk.core.errors import (
    AuthFailed,
    ConfigError,
    ModelNotFound,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.sim import SimServer
from endpoint_desk.sim.embeddings import vector
from endpoint_desk.sim.text import count_tokens
from tests.adapters.simkit import adapter_for

pytestmark = pytest.mark.timeout(30)

EMBEDDERS = ["openai", "gemini", "ollama"]
TEXTS = ["the quick brown fox", "jumps over", "the lazy dog"]


def ask(model: str = "sim-model", texts: list[str] | None = None, **kw: object) -> EmbeddingRequest:
    return EmbeddingRequest(inputs=list(texts or TEXTS), model=model, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_vectors_in_order_with_usage(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    assert adapter.capabilities.embeddings
    result = await adapter.embed(ask())
    assert result.vectors == [vector(t) for t in TEXTS]
    assert result.model == "sim-model"
    if kind == "gemini":  # Gemini reports no token count: the engine estimates it
        assert result.usage.estimated and result.usage.input_tokens == 0
    else:
        assert not result.usage.estimated
        assert result.usage.input_tokens == sum(count_tokens(t) for t in TEXTS)


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_dimensions(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    result = await adapter.embed(ask(dimensions=5))
    assert [len(v) for v in result.vectors] == [5, 5, 5]
    assert result.vectors[0] == vector(TEXTS[0], 5)


async def test_gemini_sends_at_most_one_batch_of_texts_per_call(sim: SimServer) -> None:
    adapter = adapter_for("gemini", sim.url)
    texts = [f"text number {i}" for i in range(2 * gemini.EMBED_BATCH + 5)]
    sim.reset()
    result = await adapter.embed(ask(texts=texts))
    assert result.vectors == [vector(t) for t in texts]
    assert sim.stats.count("POST /v1beta/models/{name}") == 3


@pytest.mark.parametrize("kind", ["anthropic", "template"])
async def test_kinds_that_cannot_embed_say_so(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    assert not adapter.capabilities.embeddings
    with pytest.raises(ConfigError) as info:
        await adapter.embed(ask())
    assert "cannot serve embeddings" in str(info.value)
    assert info.value.endpoint == adapter.spec.name


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_bad_key(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url, key="wrong-key")
    with pytest.raises(AuthFailed) as info:
        await adapter.embed(ask())
    assert "wrong-key" not in str(info.value)


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_unknown_model(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(ModelNotFound) as info:
        await adapter.embed(ask(model="no-such-model"))
    assert "no-such-model" in str(info.value)


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_server_error(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(UpstreamError) as info:
        await adapter.embed(ask(model="sim-model@fail_rate=1,fail_status=503"))
    assert type(info.value) is UpstreamError
    assert info.value.status == 503


@pytest.mark.parametrize("kind", EMBEDDERS)
@pytest.mark.parametrize("knob", ["garbage", "truncate"])
async def test_broken_reply(sim: SimServer, kind: str, knob: str) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(ProtocolError):
        await adapter.embed(ask(model=f"sim-model@{knob}"))


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_timeout(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url, timeout=0.4)
    with pytest.raises(UpstreamTimeout):
        await adapter.embed(ask(model="sim-model@hang"))
