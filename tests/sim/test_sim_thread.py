"""``start_sim_in_thread`` for sync callers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from endpoint_desk.sim import SimConfig, start_sim_in_thread

pytestmark = pytest.mark.timeout(30)


def test_thread_sim_serves_and_stops() -> None:
    config = SimConfig(replies={"sim-model": "canned"})
    url, stop = start_sim_in_thread(config)
    try:
        req = urllib.request.Request(
            url + "/custom/generate",
            data=json.dumps({"input": "x", "model": "sim-model"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.load(resp)["output"]["text"] == "canned"
    finally:
        stop()
    stop()  # twice is fine
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/sim", timeout=2)


def test_thread_sim_bind_error_is_raised() -> None:
    url, stop = start_sim_in_thread()
    try:
        port = int(url.rsplit(":", 1)[1])
        with pytest.raises(OSError):
            start_sim_in_thread(port=port)
    finally:
        stop()
