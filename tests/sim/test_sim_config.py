"""Knob parsing, SimConfig updates, and the runners (thread helper, ``run_sim`` CLI)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from endpoint_desk.sim import KnobError, SimConfig, parse_knob_text, split_chunks
from endpoint_desk.sim.knobs import header_knobs, split_model

ROOT = Path(__file__).resolve().parents[2]


def test_parse_knob_text() -> None:
    assert parse_knob_text("latency=0.5, fail-rate=1,truncate,seed=3,safety=prompt") == {
        "latency": 0.5,
        "fail_rate": 1.0,
        "truncate": True,
        "seed": 3,
        "safety": "prompt",
    }
    assert parse_knob_text("hang=false,garbage=yes") == {"hang": False, "garbage": True}
    with pytest.raises(KnobError, match="unknown sim knob 'speed'"):
        parse_knob_text("speed=1")
    with pytest.raises(KnobError, match="'chunks' needs a int"):
        parse_knob_text("chunks=many")
    with pytest.raises(KnobError, match="'hang' needs a bool"):
        parse_knob_text("hang=maybe")


def test_split_model_and_headers() -> None:
    assert split_model("sim-model") == ("sim-model", {})
    assert split_model("m@fail_rate=0.5,fail_status=503") == (
        "m",
        {"fail_rate": 0.5, "fail_status": 503},
    )
    assert header_knobs({"X-Sim-Chunk-Delay": "0.1", "X-Other": "1", "x-sim-reply": "a, b"}) == {
        "chunk_delay": 0.1,
        "reply": "a, b",
    }


def test_config_update_validates_atomically() -> None:
    config = SimConfig()
    config.update({"latency": "0.25", "fail_status": 503})
    assert (config.latency, config.fail_status) == (0.25, 503)
    with pytest.raises(KnobError, match="fail_rate"):
        config.update({"latency": 1, "fail_rate": 1.5})
    assert config.latency == 0.25  # nothing changed
    with pytest.raises(KnobError, match="safety"):
        config.update({"safety": "maybe"})
    assert SimConfig.from_text("chunks=2", api_key="k").chunks == 2
    assert SimConfig(api_key="secret").to_json()["api_key"] == "***"


def test_split_chunks_joins_back() -> None:
    text = "Echo:  a b  c"
    assert "".join(split_chunks(text, 0)) == text
    assert split_chunks("abcdefg", 3) == ["abc", "de", "fg"]
    assert split_chunks("ab", 5) == ["a", "b"]
    assert split_chunks("", 3) == []


@pytest.mark.timeout(30)
def test_run_sim_cli_prints_url_and_serves(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DESK_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "endpoint_desk.sim", "--port", "0", "--knobs", "chunks=2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("desk sim listening on http://127.0.0.1:")
        url = first.split()[4]
        banner = "".join(proc.stdout.readline() for _ in range(8))
        assert "POST /v1/chat/completions" in banner and "/api/chat" in banner
        with urllib.request.urlopen(url + "/sim/config", timeout=5) as resp:
            assert json.load(resp)["chunks"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
