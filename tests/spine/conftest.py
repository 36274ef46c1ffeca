from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from endpoint_desk.sim import SimConfig, start_sim_in_thread


@pytest.fixture
def desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every desk file under a fresh folder; no developer config leaks in."""
    home = tmp_path / "home"
    monkeypatch.setenv("DESK_HOME", str(home))
    monkeypatch.delenv("DESK_CONFIG", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def sim_url() -> Iterator[str]:
    """A real simulated OpenAI-style upstream on 127.0.0.1 (its own thread and loop)."""
    url, stop = start_sim_in_thread(SimConfig())
    try:
        yield url
    finally:
        stop()


@pytest.fixture
def keyed_sim_url() -> Iterator[str]:
    url, stop = start_sim_in_thread(SimConfig(api_key="sk-sim-secret-key-0123456789"))
    try:
        yield url
    finally:
        stop()
