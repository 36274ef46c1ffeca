"""Fixtures for the server tests: a private DESK_HOME, real sims on 127.0.0.1, an open
desk in front of them, and the gateway on a free port."""

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


@pytest.fixture(autouse=True)
def desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every desk file under a fresh folder; no developer config or key leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESK_HOME", str(home))
    for name in (
        "DESK_CONFIG",
        "DATABASE_URL",
        "DESK_API_KEY",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN",
        "ANTHROPIC_BASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """A simulated OpenAI-style upstream."""
    async with SimServer(SimConfig()) as server:
        yield server


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings the ``desk`` fixture is built with (override in a test module)."""
    return {}


@pytest.fixture
async def desk(settings_overrides: dict[str, Any]) -> AsyncIterator[Desk]:
    """An open desk (no endpoints yet)."""
    async with Desk(load_settings(**settings_overrides), autostart=True) as d:
        yield d


@pytest.fixture
async def add_sim(desk: Desk) -> Callable[..., Awaitable[str]]:
    """``await add_sim(sim, name="sim", **spec_fields)`` adds a sim as an endpoint."""

    async def add(server: SimServer, name: str = "sim", prove: bool = True, **kw: Any) -> str:
        spec = EndpointSpec.model_validate(
            {"name": name, "kind": "openai", "base_url": server.url, **kw}
        )
        view = await desk.add(spec, prove=prove)
        return view.name

    return add


@pytest.fixture
async def server(desk: Desk) -> AsyncIterator[RunningServer]:
    """The gateway on a free port, no key."""
    srv = await start_server(desk, port=0)
    try:
        yield srv
    finally:
        await srv.aclose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client with a 20 s overall timeout."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session
