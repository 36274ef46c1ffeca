"""Fixtures for the sim tests: a real sim on 127.0.0.1 and an aiohttp client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from endpoint_desk.sim import SimConfig, SimServer


@pytest.fixture(autouse=True)
def _desk_home(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path))


@pytest.fixture
def sim_config() -> SimConfig:
    """The config the ``sim`` fixture starts with (override in a test module)."""
    return SimConfig()


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimServer]:
    """A running sim on a free port."""
    async with SimServer(sim_config) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session with a 10 s overall timeout."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
