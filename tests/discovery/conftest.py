"""Fixtures for the discovery tests: a private DESK_HOME per test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _desk_home(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path))
