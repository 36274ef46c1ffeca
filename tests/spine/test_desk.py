"""The engine's spine: portfolio lifecycle, states, events, request log, over a real sim."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import AuthFailed, ModelNotFound, NoEndpointAvailable, NotFound
from endpoint_desk.core.models import ChatRequest, EndpointSpec, EndpointState
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import EndpointChanged, RequestDone
from endpoint_desk.sim import SimConfig, SimServer


def spec(name: str, url: str, **kw: object) -> EndpointSpec:
    return EndpointSpec(name=name, kind="openai", base_url=url, **kw)  # type: ignore[arg-type]


async def wait_for(cond: object, timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_add_chat_events_and_persistence(desk_home: Path) -> None:
    async with SimServer(SimConfig()) as sim:
        desk = Desk(load_settings())
        await desk.open()
        seen: list[object] = []

        async def listen() -> None:
            async for ev in desk.events():
                seen.append(ev)

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0)
        view = await desk.add(spec("sim", sim.url, model_mapping={"gpt-4": "sim-large"}))
        assert view.state is EndpointState.ON
        assert "sim-model" in view.spec.models  # learned from the live model list

        result = await desk.chat(ChatRequest.from_text("hello", model="gpt-4"))
        assert result.content == "Echo: hello"
        assert result.endpoint == "sim" and result.model == "sim-large"
        assert result.usage.input_tokens > 0 and not result.usage.estimated
        pinned = await desk.chat(ChatRequest.from_text("pin", model="sim/sim-model"))
        assert pinned.content == "Echo: pin"

        await wait_for(lambda: any(isinstance(e, RequestDone) for e in seen))
        assert any(isinstance(e, EndpointChanged) and e.state == "on" for e in seen)
        await desk.close()
        await asyncio.wait_for(listener, 2)

        again = Desk(load_settings())
        async with again:
            [v] = again.endpoints()
            assert v.name == "sim" and v.state is EndpointState.ON
            assert v.spec.model_mapping == {"gpt-4": "sim-large"}
            # 1 proof + 2 chats, flushed by the write-behind recorder at close
            assert await again.store.count_requests("sim") == 3
            assert (await again.chat(ChatRequest.from_text("back"))).content == "Echo: back"


async def test_off_endpoints_are_not_routed_and_stay_off(desk_home: Path) -> None:
    async with SimServer(SimConfig()) as sim, Desk(load_settings()) as desk:
        await desk.add(spec("sim", sim.url))
        await desk.stop("sim")
        with pytest.raises(NoEndpointAvailable, match="off"):
            await desk.chat(ChatRequest.from_text("x", model="sim-model"))
        with pytest.raises(ModelNotFound):
            await desk.chat(ChatRequest.from_text("x", model="no-such-model"))
        with pytest.raises(NotFound):
            await desk.start("nope")
    async with Desk(load_settings()) as desk:
        assert desk.endpoint("sim").state is EndpointState.OFF
        assert desk.endpoint("sim").spec.enabled is False


async def test_bad_key_puts_the_endpoint_in_error(desk_home: Path) -> None:
    async with (
        SimServer(SimConfig(api_key="right-key-123456")) as sim,
        Desk(load_settings()) as desk,
    ):
        with pytest.raises(AuthFailed):
            await desk.add(spec("k", sim.url))
        assert desk.endpoints() == []  # a failed proof saves nothing
        ref = desk.store_secret("k", "api_key", "right-key-123456")
        await desk.add(spec("k", sim.url, api_key=ref))
        sim.config.update({"api_key": "rotated-key-654321"})
        with pytest.raises(AuthFailed):
            await desk.chat(ChatRequest.from_text("x"))
        view = desk.endpoint("k")
        assert view.state is EndpointState.ERROR
        assert "credentials" in view.reason
        assert "right-key" not in view.reason


async def test_failover_before_first_chunk(desk_home: Path) -> None:
    async with (
        SimServer(SimConfig(fail_rate=1.0, fail_status=503)) as bad,
        SimServer(SimConfig()) as good,
        Desk(load_settings()) as desk,
    ):
        await desk.add(spec("bad", bad.url, tier=0), prove=False)
        await desk.add(spec("good", good.url, tier=1))
        result = await desk.chat(ChatRequest.from_text("hi", model="sim-model"))
        assert result.endpoint == "good"
        assert [a.endpoint for a in result.attempts] == ["bad", "good"]
        assert result.attempts[0].error_kind == "upstream"


async def test_abandoned_stream_releases_the_slot(desk_home: Path) -> None:
    async with (
        SimServer(SimConfig(chunks=50, chunk_delay=0.02)) as sim,
        Desk(load_settings()) as desk,
    ):
        await desk.add(spec("sim", sim.url))
        stream = desk.stream(ChatRequest.from_text("one two three", stream=True))
        async for chunk in stream:
            if chunk.delta:
                break
        await stream.aclose()
        assert desk.endpoint("sim").metrics.in_flight == 0
        assert stream.endpoint == "sim"
