"""Fixtures for the store tests: a private DESK_HOME and a real SQLite file in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.models import EndpointKind, EndpointSpec
from endpoint_desk.core.paths import Paths, get_paths
from endpoint_desk.store.repo import Store


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    monkeypatch.setenv("DESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return get_paths()


@pytest.fixture
async def store(paths: Paths) -> AsyncIterator[Store]:
    s = await Store.open(StoreSettings(), paths)
    yield s
    await s.close()


def spec(name: str = "alpha", **kw: object) -> EndpointSpec:
    """A small valid endpoint spec."""
    data: dict[str, object] = {
        "name": name,
        "kind": EndpointKind.OPENAI,
        "base_url": "http://127.0.0.1:9/v1",
        "models": ["m1"],
    }
    data.update(kw)
    return EndpointSpec.model_validate(data)
