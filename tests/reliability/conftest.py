"""Fixtures of the fault suites: a private DESK_HOME, a desk with short timeouts and a
quick breaker, real sims on 127.0.0.1, and the gateway on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.models import EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer, start_server
from endpoint_desk.sim import SimConfig, SimServer

from .kit import GENEROUS, AddEndpoint


@pytest.fixture(autouse=True)
def desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every desk file under a fresh folder; no developer config or key leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESK_HOME", str(home))
    for name in ("DESK_CONFIG", "DATABASE_URL", "DESK_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def breaker() -> dict[str, Any]:
    """Breaker settings (override in a module): by default it never trips, so every
    request meets the fault."""
    return {"min_requests": 100_000, "cooldown_seconds": 0.3, "max_cooldown_seconds": 1.0}


@pytest.fixture
def health() -> dict[str, Any]:
    """Health loop settings (override in a module): off by default, so that a probe
    does not take the faulty endpoint out before the requests meet the fault."""
    return {"enabled": False, "jitter": 0.0}


@pytest.fixture
async def desk(breaker: dict[str, Any], health: dict[str, Any]) -> AsyncIterator[Desk]:
    """An open desk with quick flushes, the given breaker and health loop."""
    settings = load_settings(breaker=breaker, store={"flush_interval": 0.05}, health=health)
    async with Desk(settings, autostart=True) as d:
        yield d


@pytest.fixture
async def sims() -> AsyncIterator[Callable[..., Awaitable[SimServer]]]:
    """``await sims(**knobs)`` starts one more sim; all stop at the end."""
    started: list[SimServer] = []

    async def make(**knobs: Any) -> SimServer:
        sim = SimServer(SimConfig(**knobs))
        await sim.start()
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for s in started:
            await s.stop()


@pytest.fixture
def add(desk: Desk) -> AddEndpoint:
    """``await add(url, name, tier=0, prove=False, **spec)``: an OpenAI-style endpoint
    with generous limits and the suite's short timeout."""

    async def go(url: str, name: str, tier: int = 0, prove: bool = False, **kw: Any) -> str:
        limits = {**GENEROUS, **kw.pop("limits", {})}
        spec = EndpointSpec.model_validate(
            {
                "name": name,
                "kind": "openai",
                "base_url": url,
                "models": ["sim-model"],
                "tier": tier,
                "limits": limits,
                **kw,
            }
        )
        view = await desk.add(spec, prove=prove)
        return view.name

    return go


@pytest.fixture
async def server(desk: Desk) -> AsyncIterator[RunningServer]:
    """The gateway on a free port, no key."""
    srv = await start_server(desk, port=0, grace=1.0)
    try:
        yield srv
    finally:
        await srv.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client with a 20 s overall timeout and no keep-alive (so that its
    connections do not count as held resources)."""
    async with aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=20),
        connector=aiohttp.TCPConnector(force_close=True),
    ) as session:
        yield session
