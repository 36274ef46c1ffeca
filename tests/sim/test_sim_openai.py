"""The sim against the official ``openai`` client (sync, async, plain, streaming)."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from endpoint_desk.sim import SimConfig, SimServer, start_sim_in_thread

pytestmark = pytest.mark.timeout(30)

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello sim world"}]


@pytest.fixture
def thread_sim() -> Iterator[str]:
    url, stop = start_sim_in_thread(SimConfig(api_key="sk-test"))
    try:
        yield url
    finally:
        stop()


def test_sync_client_plain_and_stream(thread_sim: str) -> None:
    client = openai.OpenAI(base_url=thread_sim + "/v1", api_key="sk-test", max_retries=0)
    with client:
        ids = [m.id for m in client.models.list().data]
        assert ids == ["sim-model", "sim-large", "scripted"]
        done = client.chat.completions.create(model="sim-model", messages=USER)
        assert done.object == "chat.completion"
        assert done.id.startswith("chatcmpl-")
        assert done.model == "sim-model"
        assert done.choices[0].message.content == "Echo: hello sim world"
        assert done.choices[0].message.role == "assistant"
        assert done.choices[0].finish_reason == "stop"
        assert done.usage is not None
        assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (4, 6)
        assert done.usage.total_tokens == 10
        chunks = list(client.chat.completions.create(model="sim-model", messages=USER, stream=True))
        assert all(c.object == "chat.completion.chunk" for c in chunks)
        assert len({c.id for c in chunks}) == 1
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        assert text == "Echo: hello sim world"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert all(c.usage is None for c in chunks)


def test_sync_client_errors(thread_sim: str) -> None:
    bad = openai.OpenAI(base_url=thread_sim + "/v1", api_key="wrong", max_retries=0)
    with bad, pytest.raises(openai.AuthenticationError) as auth:
        bad.models.list()
    assert auth.value.status_code == 401
    good = openai.OpenAI(base_url=thread_sim + "/v1", api_key="sk-test", max_retries=0)
    with good, pytest.raises(openai.NotFoundError) as nf:
        good.chat.completions.create(model="nope", messages=USER)
    assert nf.value.code == "model_not_found"
    assert nf.value.body == {
        "message": "The model `nope` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


async def test_async_client_include_usage(sim: SimServer) -> None:
    client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0)
    async with client:
        stream = await client.chat.completions.create(
            model="sim-model",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        final = chunks[-1]
        assert final.choices == []
        assert final.usage is not None
        assert final.usage.completion_tokens == 6
        assert all(c.usage is None for c in chunks[:-1])
        assert chunks[-2].choices[0].finish_reason == "stop"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Echo: hello sim world"
        done = await client.chat.completions.create(model="sim-large", messages=USER)
        assert done.choices[0].message.content == "Echo: hello sim world"
        model = await client.models.retrieve("sim-model")
        assert model.id == "sim-model"


async def test_async_client_sees_simulated_failures(sim: SimServer) -> None:
    client = openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0)
    async with client:
        with pytest.raises(openai.RateLimitError) as rl:
            await client.chat.completions.create(
                model="sim-model@rate_limit=7",
                messages=USER,
            )
        assert rl.value.response.headers["Retry-After"] == "7"
        with pytest.raises(openai.InternalServerError) as ise:
            await client.chat.completions.create(
                model="sim-model",
                messages=USER,
                extra_headers={"x-sim-fail-rate": "1", "x-sim-fail-status": "503"},
            )
        assert ise.value.status_code == 503
        assert ise.value.body["type"] == "server_error"  # type: ignore[index]


async def test_max_tokens_cuts_with_length(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "sim-model", "messages": USER, "max_tokens": 2}
    async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
        data = await r.json()
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["choices"][0]["message"]["content"] == "Echo: he"
    assert data["usage"]["completion_tokens"] == 2
    assert data["system_fingerprint"] is None


async def test_scripted_model_answers_in_order(http: aiohttp.ClientSession) -> None:
    config = SimConfig(script=["first", "second"], replies={"sim-large": "canned"})
    async with SimServer(config) as sim:
        texts = []
        for model in ("scripted", "scripted", "scripted", "sim-large"):
            body = {"model": model, "messages": USER}
            async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
                texts.append((await r.json())["choices"][0]["message"]["content"])
        assert texts == ["first", "second", "first", "canned"]
        config.script = lambda messages: f"{len(messages)} msgs, last {messages[-1]['content']}"
        body = {"model": "scripted", "messages": [{"role": "system", "content": "s"}, *USER]}
        async with http.post(sim.url + "/v1/chat/completions", json=body) as r:
            assert (await r.json())["choices"][0]["message"]["content"] == (
                "2 msgs, last hello sim world"
            )
