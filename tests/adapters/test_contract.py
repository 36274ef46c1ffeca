"""The adapter contract, run over real HTTP against the sim for every REST adapter:
the same request must come back as the same standardized chunks, and every upstream
failure as the same ``DeskError`` subclass, whatever the wire protocol, and whichever
HTTP implementation (``[http] client``) carries it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from endpoint_desk.adapters.transport import IMPLEMENTATIONS, configure
from endpoint_desk.core.config import HttpSettings
from endpoint_desk.core.errors import (
    AuthFailed,
    ModelNotFound,
    ProtocolError,
    RateLimited,
    Unreachable,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.sim import SimServer
from endpoint_desk.sim.text import count_tokens
from tests.adapters.simkit import REST_KINDS, STREAMING_KINDS, adapter_for, ask, collect

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True, params=IMPLEMENTATIONS)
def http_client(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every contract case once per HTTP implementation."""
    configure(HttpSettings(client=request.param))
    yield str(request.param)
    configure(None)


PROMPT = "hello there friend"
REPLY = "Echo: " + PROMPT


def _check_final(chunks: list, kind: str) -> None:
    final = chunks[-1]
    assert final.finish_reason == "stop", kind
    assert final.usage is not None, f"{kind} reported no usage"
    assert final.usage.input_tokens == count_tokens(PROMPT)
    assert final.usage.output_tokens == count_tokens(REPLY)
    assert not final.usage.estimated
    assert all(c.finish_reason is None for c in chunks[:-1])


# ---------------------------------------------------------------------------- replies


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_plain_reply(sim: SimServer, kind: str, http_client: str) -> None:
    adapter = adapter_for(kind, sim.url)
    assert adapter.route.client == http_client
    chunks = await collect(adapter, ask(PROMPT, stream=False))
    assert "".join(c.delta for c in chunks) == REPLY
    _check_final(chunks, kind)


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_streamed_reply(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    chunks = await collect(adapter, ask(PROMPT, model="sim-model@chunks=4", stream=True))
    deltas = [c.delta for c in chunks if c.delta]
    assert "".join(deltas) == REPLY
    if kind in STREAMING_KINDS:
        assert adapter.capabilities.streaming
        assert len(deltas) == 4, deltas
    else:
        assert not adapter.capabilities.streaming
        assert deltas == [REPLY]  # one chunk: the whole reply
    _check_final(chunks, kind)


@pytest.mark.parametrize("kind", sorted(STREAMING_KINDS))
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_max_tokens_gives_length(sim: SimServer, kind: str, stream: bool) -> None:
    adapter = adapter_for(kind, sim.url)
    chunks = await collect(adapter, ask("a long question " * 8, max_tokens=2, stream=stream))
    assert chunks[-1].finish_reason == "length"
    assert len("".join(c.delta for c in chunks)) <= 8


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_model_list(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    models = await adapter.list_models()
    if kind.startswith("template"):
        assert not adapter.capabilities.list_models
        assert models == list(adapter.spec.models)
        return
    assert adapter.capabilities.list_models
    names = [m.removesuffix(":latest") for m in models]
    assert names == list(sim.config.models)


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("deep", [False, True], ids=["cheap", "deep"])
async def test_probe(sim: SimServer, kind: str, deep: bool) -> None:
    adapter = adapter_for(kind, sim.url, default_model="sim-model")
    sim.reset()
    result = await adapter.probe(deep=deep)
    assert result.ok
    assert result.latency_ms > 0
    if not deep and adapter.capabilities.list_models:
        assert "sim-model" in [m.removesuffix(":latest") for m in result.models]
    # a deep probe (or a template's probe) is a real chat call
    chats = sum(n for route, n in sim.stats.requests.items() if route.startswith("POST"))
    assert chats == (1 if deep or not adapter.capabilities.list_models else 0)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_bad_key(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url, key="wrong-key")
    with pytest.raises(AuthFailed) as info:
        await collect(adapter, ask())
    assert info.value.endpoint == adapter.spec.name
    assert "wrong-key" not in str(info.value)
    if adapter.capabilities.list_models:
        with pytest.raises(AuthFailed):
            await adapter.list_models()


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_unknown_model(sim: SimServer, kind: str, stream: bool) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(ModelNotFound) as info:
        await collect(adapter, ask(model="no-such-model", stream=stream))
    assert "no-such-model" in str(info.value)


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_rate_limited_with_retry_after(sim: SimServer, kind: str) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(RateLimited) as info:
        await collect(adapter, ask(model="sim-model@rate_limit=7", stream=True))
    assert info.value.retry_after == pytest.approx(7)
    assert info.value.status == 429


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("status", [500, 503])
async def test_server_error(sim: SimServer, kind: str, status: int) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(UpstreamError) as info:
        await collect(adapter, ask(model=f"sim-model@fail_rate=1,fail_status={status}"))
    assert type(info.value) is UpstreamError
    assert info.value.status == status
    assert info.value.retryable


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_timeout(sim: SimServer, kind: str, stream: bool) -> None:
    adapter = adapter_for(kind, sim.url, timeout=0.4)
    with pytest.raises(UpstreamTimeout):
        await collect(adapter, ask(model="sim-model@hang", stream=stream))


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_truncated_reply(sim: SimServer, kind: str, stream: bool) -> None:
    adapter = adapter_for(kind, sim.url)
    got: list[str] = []
    with pytest.raises(ProtocolError) as info:
        async for chunk in adapter.chat(
            ask(model="sim-model@truncate,chunks=6,chunk_delay=0.01", stream=stream)
        ):
            got.append(chunk.delta)
    assert "short" in str(info.value) or "cut" in str(info.value) or "invalid" in str(info.value)
    assert "".join(got) != REPLY
    if stream and kind in STREAMING_KINDS:
        assert got, "the first half of the stream should have arrived before the cut"


@pytest.mark.parametrize("kind", REST_KINDS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_invalid_json(sim: SimServer, kind: str, stream: bool) -> None:
    adapter = adapter_for(kind, sim.url)
    with pytest.raises(ProtocolError):
        await collect(adapter, ask(model="sim-model@garbage,chunks=3", stream=stream))


@pytest.mark.parametrize("kind", REST_KINDS)
async def test_unreachable(kind: str) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = adapter_for(kind, f"http://127.0.0.1:{port}")
    with pytest.raises(Unreachable) as info:
        await collect(adapter, ask())
    assert type(info.value) is Unreachable
