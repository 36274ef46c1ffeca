"""Fixtures for the desk's UI tests: a private DESK_HOME, settings, and a wait helper."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from endpoint_desk.core.config import Settings, load_settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Everything the desk writes goes under a temporary folder; UTC wall clock."""
    monkeypatch.setenv("DESK_HOME", str(tmp_path))
    monkeypatch.setenv("TZ", "UTC")
    for name in list(os.environ):
        if name.startswith("DESK_") and name != "DESK_HOME":
            monkeypatch.delenv(name, raising=False)
    time.tzset()
    yield tmp_path
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def settings(home: Path) -> Settings:
    """Settings for a desk in ``home``: /v1 on any free port."""
    return load_settings(server={"port": 0})


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the app run until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except Exception:  # a widget may not exist yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        await pilot.pause(0.05)
