"""`desk demo` and `desk demo --remove` as a person runs them (a real process, no TTY)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)


def desk(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DESK_HOME": str(home), "DESK_SERVER__PORT": "0"}
    return subprocess.run(
        [sys.executable, "-m", "endpoint_desk", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=100,
        cwd=Path(__file__).resolve().parents[2],
    )


def test_desk_demo_trades_then_remove_cleans_up(tmp_path: Path) -> None:
    run = desk(tmp_path, "demo", "--seconds", "2")
    assert run.returncode == 0, run.stderr
    assert "5 simulated endpoints trading" in run.stdout
    assert "demo-flaky" in run.stdout and "desk demo --remove" in run.stdout
    listed = desk(tmp_path, "ls", "--json")
    assert listed.returncode == 0, listed.stderr
    names = sorted(e["name"] for e in json.loads(listed.stdout))
    assert names == ["demo-flaky", "demo-local", "demo-premium", "demo-steady", "demo-swift"]
    removed = desk(tmp_path, "demo", "--remove")
    assert removed.returncode == 0, removed.stderr
    assert "removed 5 demo endpoints" in removed.stdout
    assert json.loads(desk(tmp_path, "ls", "--json").stdout) == []
