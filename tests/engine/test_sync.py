"""A running desk picks up portfolio changes another desk process made: two desks
over one real SQLite file, as ``desk serve`` and ``desk add`` in two terminals are."""

from __future__ import annotations

import asyncio
from pathlib import Path

from endpoint_desk.core.models import ChatRequest, EndpointState
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import EndpointChanged, Event
from endpoint_desk.sim import SimServer

from .conftest import settings, spec, until


async def test_changes_from_another_desk_reach_a_running_one(desk_home: Path) -> None:
    async with SimServer() as sim:
        serving = Desk(settings(store={"flush_interval": 0.05, "sync_interval": 0}))
        cli = Desk(settings(), autostart=False)
        await serving.open()
        await cli.open()
        try:
            events: list[Event] = []

            async def collect() -> None:
                async for ev in serving.events():
                    events.append(ev)

            n = serving.bus.subscriber_count
            collector = asyncio.create_task(collect())
            await until(lambda: serving.bus.subscriber_count > n, what="the subscription")
            assert await serving.sync_portfolio() == []

            await cli.add(spec("alpha", sim.url))
            assert await serving.sync_portfolio() == ["alpha"]
            view = serving.endpoint("alpha")
            assert view.state == EndpointState.ON
            result = await serving.chat(ChatRequest.from_text("hi", model="sim-model"))
            assert result.endpoint == "alpha"
            assert await serving.sync_portfolio() == []  # nothing new: nothing redone

            await cli.stop("alpha")
            assert await serving.sync_portfolio() == ["alpha"]
            assert serving.endpoint("alpha").state == EndpointState.OFF
            await cli.start("alpha")
            assert await serving.sync_portfolio() == ["alpha"]
            assert serving.endpoint("alpha").state == EndpointState.ON

            await cli.update("alpha", model_mapping={"gpt-4": "sim-model"})
            assert await serving.sync_portfolio() == ["alpha"]
            assert serving.endpoint("alpha").spec.model_mapping == {"gpt-4": "sim-model"}
            result = await serving.chat(ChatRequest.from_text("hi", model="gpt-4"))
            assert result.endpoint == "alpha"

            # the serving desk's own changes are not mistaken for another's
            await serving.stop("alpha")
            await serving.start("alpha")
            assert await serving.sync_portfolio() == []

            await cli.remove("alpha")
            assert await serving.sync_portfolio() == ["alpha"]
            assert [e.name for e in serving.endpoints()] == []
            await until(
                lambda: any(isinstance(e, EndpointChanged) and e.removed for e in events),
                what="the removal to be published",
            )
            collector.cancel()
        finally:
            await cli.close()
            await serving.close()


async def test_the_sync_loop_runs_on_its_interval(desk_home: Path) -> None:
    async with SimServer() as sim:
        serving = Desk(settings(store={"flush_interval": 0.05, "sync_interval": 0.05}))
        cli = Desk(settings(), autostart=False)
        await serving.open()
        await cli.open()
        try:
            await cli.add(spec("beta", sim.url))
            await until(
                lambda: any(
                    e.name == "beta" and e.state == EndpointState.ON for e in serving.endpoints()
                ),
                what="the serving desk to pick up beta",
            )
            await cli.remove("beta")
            await until(lambda: not serving.endpoints(), what="beta to leave")
        finally:
            await cli.close()
            await serving.close()
