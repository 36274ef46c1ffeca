"""Fixtures for the engine scenarios: a private DESK_HOME, desks over real sims."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from endpoint_desk.core.config import Settings
from endpoint_desk.core.models import EndpointKind, EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.events import Event
from endpoint_desk.sim import SimConfig, SimServer

CHAT = "POST /v1/chat/completions"


@pytest.fixture
def desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every desk file under a fresh folder; no developer config leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESK_HOME", str(home))
    monkeypatch.delenv("DESK_CONFIG", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


async def until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait for ``cond`` to hold, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or 'a condition'}")
        await asyncio.sleep(0.01)


def spec(name: str, url: str, **kw: Any) -> EndpointSpec:
    """An OpenAI-style endpoint on a sim serving ``sim-model``; long health interval
    unless asked (so probes do not disturb request counts)."""
    limits = {
        "health_check_interval": 300.0,
        "timeout_seconds": 5.0,
        "max_requests_per_minute": 100_000,
        **kw.pop("limits", {}),
    }
    data: dict[str, Any] = {
        "name": name,
        "kind": EndpointKind.OPENAI,
        "base_url": url + "/v1",
        "models": ["sim-model"],
        "limits": limits,
    }
    data.update(kw)
    return EndpointSpec.model_validate(data)


def settings(**sections: Any) -> Settings:
    """Settings with a fast store flush and the given sections."""
    sections.setdefault("store", {"flush_interval": 0.05})
    return Settings.model_validate(sections)


class Rig:
    """Sims plus one open desk; ``events`` collects everything the desk publishes."""

    def __init__(self, desk: Desk, sims: list[SimServer]) -> None:
        self.desk = desk
        self.sims = sims
        self.events: list[Event] = []

    def chats(self, i: int) -> int:
        return self.sims[i].stats.count(CHAT)


@pytest.fixture
async def rig_factory(desk_home: Path) -> AsyncIterator[Callable[..., Any]]:
    async with AsyncExitStack() as stack:

        async def make(n: int, cfg: Settings | None = None, **sim_kw: Any) -> Rig:
            sims = [
                await stack.enter_async_context(SimServer(SimConfig(seed=i, **sim_kw)))
                for i in range(n)
            ]
            desk = await stack.enter_async_context(Desk(cfg or settings()))
            rig = Rig(desk, sims)

            async def listen() -> None:
                async for event in desk.events():
                    rig.events.append(event)

            task = asyncio.create_task(listen())
            stack.callback(task.cancel)
            await until(lambda: desk.bus.subscriber_count >= 1)
            return rig

        yield make
