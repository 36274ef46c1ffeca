"""The official ``openai`` client against the gateway in front of real sims."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import openai
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
MESSAGES = [{"role": "user", "content": "hello there"}]


async def test_async_plain(sim: SimServer, add_sim: AddSim, server: RunningServer) -> None:
    await add_sim(sim)
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model="sim-model", messages=MESSAGES
        )
    finally:
        await client.close()
    completion = raw.parse()
    assert completion.choices[0].message.content == "Echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    assert raw.headers["x-desk-endpoint"] == "sim"
    assert float(raw.headers["x-desk-overhead-ms"]) >= 0
    extra = completion.model_extra or {}
    assert extra["desk"]["endpoint"] == "sim"


async def test_async_stream_with_usage(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
    try:
        stream = await client.chat.completions.create(
            model="sim-model",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: hello there"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.prompt_tokens > 0 and last.usage.completion_tokens > 0


async def test_stream_without_include_usage_has_no_usage_chunk(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)
    client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
    try:
        stream = await client.chat.completions.create(
            model="sim-model", messages=MESSAGES, stream=True
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)


async def test_sync_client_plain_and_stream(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim)

    def use_sync() -> tuple[str, str, list[str]]:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="unused") as client:
            done = client.chat.completions.create(model="sim-model", messages=MESSAGES)
            parts = [
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(
                    model="sim-model", messages=MESSAGES, stream=True
                )
                if c.choices
            ]
            models = [m.id for m in client.models.list()]
        return done.choices[0].message.content or "", "".join(parts), models

    plain, streamed, models = await asyncio.to_thread(use_sync)
    assert plain == streamed == "Echo: hello there"
    assert set(models) == set(sim.config.models)


async def test_models_lists_mapped_names_of_serving_endpoints_only(
    sim: SimServer, add_sim: AddSim, desk: Desk, server: RunningServer
) -> None:
    await add_sim(sim, model_mapping={"gpt-4o": "sim-model"})
    other = SimServer(SimConfig(models=["only-on-b"]))
    async with other:
        await add_sim(other, name="b")
        await desk.stop("b")
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused")
        try:
            ids = [m.id async for m in client.models.list()]
            owner = (await client.models.retrieve("gpt-4o")).owned_by
            reply = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
            with pytest.raises(openai.NotFoundError):
                await client.models.retrieve("only-on-b")
        finally:
            await client.close()
    assert "gpt-4o" in ids and "sim-model" in ids
    assert "only-on-b" not in ids
    assert owner == "sim"
    assert reply.choices[0].message.content == "Echo: hello there"


async def test_failover_is_one_clean_answer(add_sim: AddSim, server: RunningServer) -> None:
    broken = SimServer(SimConfig(fail_rate=1.0, fail_status=500))
    good = SimServer(SimConfig())
    async with broken, good:
        await add_sim(broken, name="broken", prove=False, models=["sim-model"], tier=0)
        await add_sim(good, name="good", tier=1)
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
        try:
            raw = await client.chat.completions.with_raw_response.create(
                model="sim-model", messages=MESSAGES
            )
            stream = await client.chat.completions.create(
                model="sim-model", messages=MESSAGES, stream=True
            )
            streamed = "".join(
                [c.choices[0].delta.content or "" async for c in stream if c.choices]
            )
        finally:
            await client.close()
        assert broken.stats.count("POST /v1/chat/completions") >= 2
    assert raw.parse().choices[0].message.content == "Echo: hello there"
    assert raw.headers["x-desk-endpoint"] == "good"
    extra = raw.parse().model_extra or {}
    assert extra["desk"]["attempts"] == 2
    assert streamed == "Echo: hello there"


async def test_langchain_chat_openai(
    sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    await add_sim(sim)
    llm = langchain_openai.ChatOpenAI(
        model="sim-model", base_url=server.url + "/v1", api_key="unused", max_retries=0
    )
    reply = await llm.ainvoke("hello there")
    assert reply.content == "Echo: hello there"
    parts = [chunk.content async for chunk in llm.astream("hello there")]
    assert "".join(str(p) for p in parts) == "Echo: hello there"
