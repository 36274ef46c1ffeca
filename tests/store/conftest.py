"""Fixtures for the store tests: a private DESK_HOME and a real SQLite file in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.models import EndpointKind, EndpointSpec
from endpoint_desk.core.paths import Paths, get_paths
from endpoint_desk.store.records import RequestRecord
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


def full_request() -> RequestRecord:
    """A request record with every field set, to awkward values (unicode, quotes,
    backslashes, newlines, a 41-bit count, a tiny cost, no TTFT)."""
    return RequestRecord(
        id="full",
        ts=1_700_000_000.25,
        endpoint="ünïcode “name”",
        model='m"odel\\',
        status="error",
        error_kind="timeout",
        error="line one\nline two",
        latency_ms=12.5,
        ttft_ms=None,
        input_tokens=2**40,
        output_tokens=0,
        cost=1e-9,
        estimated=True,
        cached=False,
        stream=True,
        attempts=3,
    )
