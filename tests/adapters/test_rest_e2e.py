"""End to end through the engine: every kind of REST endpoint added to a real ``Desk``
(its own DESK_HOME) against the sim, asked by a mapped model name, answers with the
same standardized result: content, finish reason, usage (estimated and marked so when
the upstream gives none) and cost from the price table."""

from __future__ import annotations

from typing import Any

import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import ChatRequest, EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim import SimConfig, SimServer
from endpoint_desk.sim.text import count_tokens
from tests.adapters.simkit import KEY_REF, SIM_KEY, custom_template, jobs_template

pytestmark = pytest.mark.timeout(60)

PRICED = ["claude-3-5-haiku-latest", "gemini-1.5-flash", "gpt-4o-mini"]

# name, kind, options, asked name -> upstream name, upstream gives usage, priced
ROWS: list[tuple[str, str, dict[str, Any], tuple[str, str], bool, bool]] = [
    ("oa", "openai", {}, ("fast-gpt", "gpt-4o-mini"), True, True),
    ("claude", "anthropic", {}, ("fast-claude", "claude-3-5-haiku-latest"), True, True),
    ("gem", "gemini", {}, ("fast-gemini", "gemini-1.5-flash"), True, True),
    ("llama", "ollama", {}, ("local", "sim-model"), True, False),
    (
        "custom",
        "template",
        {"template": {k: v for k, v in custom_template().items() if k != "usage"}},
        ("custom-model", "sim-large"),
        False,
        False,
    ),
    ("jobs", "template", {"template": jobs_template()}, ("job-model", "sim-model"), True, False),
]


@pytest.fixture
async def sim() -> Any:
    async with SimServer(
        SimConfig(api_key=SIM_KEY, models=["sim-model", "sim-large", *PRICED])
    ) as s:
        yield s


@pytest.fixture
async def desk(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv(KEY_REF.removeprefix("env:"), SIM_KEY)
    async with Desk(load_settings()) as d:
        for name, kind, options, (asked, upstream), _, _ in ROWS:
            spec = EndpointSpec(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                base_url=sim.url,
                api_key=KEY_REF,
                options=options,
                model_mapping={asked: upstream},
                models=["sim-model"] if kind == "template" else [],
            )
            view = await d.add(spec)
            assert view.state.value == "on", (name, view.reason)
        yield d


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_every_kind_gives_the_standard_result(desk: Desk, stream: bool) -> None:
    prompt = "hello desk, how are you"
    for name, kind, _, (asked, upstream), gives_usage, priced in ROWS:
        request = ChatRequest.from_text(prompt, model=asked, stream=stream)
        result = await desk.chat(request)
        assert result.endpoint == name, kind  # routed by the mapped name
        assert result.provider == kind
        assert result.model == upstream  # model_mapping applied on the way up
        assert result.content == "Echo: " + prompt
        assert result.finish_reason == "stop"
        usage = result.usage
        assert usage.estimated is (not gives_usage), name
        if gives_usage:
            assert usage.input_tokens == count_tokens(prompt)
            assert usage.output_tokens == count_tokens(result.content)
        else:
            assert usage.input_tokens > 0 and usage.output_tokens > 0
        if priced:
            assert usage.cost > 0, name
        else:
            assert usage.cost == 0.0
        data = result.to_dict()
        assert data["response"]["content"] == result.content
        assert data["response"]["metadata"]["finish_reason"] == "stop"
        assert set(data["usage"]) >= {"input_tokens", "output_tokens", "cost", "estimated"}


async def test_streaming_through_the_engine_yields_chunks(desk: Desk) -> None:
    for name, kind, _, (asked, _upstream), _, _ in ROWS:
        stream = desk.stream(ChatRequest.from_text("one two three four", model=asked, stream=True))
        deltas = [c.delta async for c in stream if c.delta]
        assert stream.result is not None and stream.endpoint == name
        assert "".join(deltas) == "Echo: one two three four"
        if kind == "template":
            assert len(deltas) == 1
        else:
            assert len(deltas) >= 2, name  # the sim sends one chunk per word


async def test_answers_to_lists_mapped_names(desk: Desk) -> None:
    for name, _kind, _, (asked, upstream), _, _ in ROWS:
        names = desk.endpoint(name).spec.answers_to()
        assert asked in names
        assert desk.endpoint(name).spec.upstream_model(asked) == upstream
