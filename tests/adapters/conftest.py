"""Fixtures for the adapter contract suite: a real sim on 127.0.0.1 (with a key)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from endpoint_desk.adapters.http import close_shared_session
from endpoint_desk.sim import SimConfig, SimServer
from tests.adapters.simkit import SIM_KEY


@pytest.fixture(autouse=True)
def _desk_home(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path))


@pytest.fixture(autouse=True)
async def _close_pool() -> AsyncIterator[None]:
    """Close the shared HTTP pool of the test's loop."""
    yield
    await close_shared_session()


@pytest.fixture
def sim_config() -> SimConfig:
    """What the ``sim`` fixture serves: a key, and two models from the price table."""
    return SimConfig(
        api_key=SIM_KEY,
        models=["sim-model", "sim-large", "claude-3-5-haiku-latest", "gemini-1.5-flash"],
    )


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimServer]:
    """A running sim on a free port of 127.0.0.1."""
    async with SimServer(sim_config) as server:
        yield server
