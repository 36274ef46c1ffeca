"""``POST /v1/embeddings`` judged by the official ``openai`` client, through a real
server in front of real sims as OpenAI-, Gemini- and Ollama-style positions: one text
and many, ``dimensions``, float and base64 (the client's default, decoded by it);
failover; a model only a chat-only position serves; bad input; metrics and the
request log."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer
from endpoint_desk.sim.embeddings import vector
from endpoint_desk.sim.text import count_tokens

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
EMBEDDERS = ["openai", "gemini", "ollama"]
TEXTS = ["the quick brown fox", "jumps over the lazy dog", "again"]


def client(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def close(got: list[float], want: list[float]) -> bool:
    """Equal as float32 (base64 carries float32)."""
    return len(got) == len(want) and all(abs(a - b) < 1e-6 for a, b in zip(got, want, strict=True))


@pytest.mark.parametrize("kind", EMBEDDERS)
async def test_official_client_over_each_protocol(
    kind: str, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    async with client(server) as c:
        # the client's default: it asks for base64 and decodes it
        many = await c.embeddings.create(model="sim-model", input=TEXTS)
        one = await c.embeddings.create(model="sim-model", input=TEXTS[0], encoding_format="float")
        small = await c.embeddings.with_raw_response.create(
            model="sim-model", input=TEXTS, dimensions=6, encoding_format="float"
        )
        packed = await c.embeddings.create(
            model="sim-model", input=TEXTS[1], dimensions=3, encoding_format="base64"
        )
    assert many.object == "list" and many.model == "sim-model"
    assert [d.index for d in many.data] == [0, 1, 2]
    assert all(close(d.embedding, vector(t)) for d, t in zip(many.data, TEXTS, strict=True))
    assert one.data[0].embedding == vector(TEXTS[0])
    assert small.headers["x-desk-endpoint"] == kind
    assert float(small.headers["x-desk-overhead-ms"]) >= 0
    assert [d.embedding for d in small.parse().data] == [vector(t, 6) for t in TEXTS]
    raw = base64.b64decode(packed.data[0].embedding)  # type: ignore[arg-type]
    assert close(list(struct.unpack("<3f", raw)), vector(TEXTS[1], 3))
    desk = many.model_extra["desk"]  # type: ignore[index]
    assert desk["endpoint"] == kind and desk["id"].startswith("embd-")
    tokens = sum(count_tokens(t) for t in TEXTS)
    if kind == "gemini":  # no count from Gemini: an estimate, marked as one
        assert desk["estimated"] is True and many.usage.prompt_tokens > 0
    else:
        assert desk["estimated"] is False and many.usage.prompt_tokens == tokens
    assert many.usage.total_tokens == many.usage.prompt_tokens


async def test_failover_to_a_second_embedding_position(
    sim: SimServer, add_sim: AddSim, desk: Desk, server: RunningServer
) -> None:
    await add_sim(
        sim, name="broken", models=["sim-model"], model_mapping={"emb": "sim-model@fail_rate=1"}
    )
    await add_sim(
        sim,
        name="backup",
        kind="ollama",
        tier=1,
        models=["sim-model"],
        model_mapping={"emb": "sim-model"},
    )
    async with client(server) as c:
        got = await c.embeddings.with_raw_response.create(
            model="emb", input=TEXTS, encoding_format="float"
        )
    assert got.headers["x-desk-endpoint"] == "backup"
    body = got.parse()
    assert [d.embedding for d in body.data] == [vector(t) for t in TEXTS]
    assert body.model_extra["desk"]["attempts"] == 2  # type: ignore[index]
    assert desk.endpoint("broken").metrics.errors == 1


async def test_a_model_only_a_chat_position_serves_is_a_400_naming_embeddings(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name="claude", kind="anthropic", models=["sim-model"])
    async with client(server) as c:
        with pytest.raises(openai.BadRequestError) as info:
            await c.embeddings.create(model="sim-model", input="hello")
    body = info.value.body
    assert isinstance(body, dict)
    assert body["param"] == "embeddings"
    assert "embeddings" in body["message"] and "claude (anthropic)" in body["message"]
    # and no upstream was asked
    assert sim.stats.count("POST /v1/messages") == 1  # the proof of the endpoint only


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        ({"model": "sim-model", "input": []}, "input"),
        ({"model": "sim-model", "input": [1, 2, 3]}, "input"),
        ({"model": "sim-model", "input": ["ok", ""]}, "input"),
        ({"model": "sim-model", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "sim-model", "input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"model": 7, "input": "x"}, "model"),
        ({"input": "x"}, "model"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    payload: dict[str, object],
    param: str,
    sim: SimServer,
    add_sim: AddSim,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim, models=["sim-model"])
    async with http.post(server.url + "/v1/embeddings", json=payload) as resp:
        assert resp.status == 400
        error = (await resp.json())["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert sim.stats.count("POST /v1/embeddings") == 0


@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
async def test_a_body_that_is_not_a_json_object_is_a_400(
    raw: bytes, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(server.url + "/v1/embeddings", data=raw) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["message"]


async def test_metrics_and_request_log_count_embeddings(
    sim: SimServer,
    add_sim: AddSim,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    await add_sim(sim, models=["sim-model"])
    before = desk.endpoint("sim").metrics.requests  # the proof's chat
    async with client(server) as c:
        for _ in range(3):
            await c.embeddings.create(model="sim-model", input=TEXTS)

    async def scraped() -> str:
        while True:
            async with http.get(server.url + "/metrics") as resp:
                text = await resp.text()
            if 'desk_requests_by_kind_total{endpoint="sim",kind="embeddings"} 3.0' in text:
                return text
            await asyncio.sleep(0.02)

    text = await asyncio.wait_for(scraped(), timeout=5)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("desk_requests_total", (("endpoint", "sim"),))] == before + 3
    tokens = 3 * sum(count_tokens(t) for t in TEXTS)
    inputs = samples[("desk_tokens_total", (("direction", "input"), ("endpoint", "sim")))]
    assert inputs >= tokens
    await desk.ledger.recorder.flush()  # type: ignore[union-attr]
    rows = [r for r in await desk.recent_requests("sim") if r.kind == "embeddings"]
    assert len(rows) == 3 and all(r.status == "ok" and r.model == "sim-model" for r in rows)
    assert all(r.input_tokens == tokens // 3 and r.output_tokens == 0 for r in rows)
