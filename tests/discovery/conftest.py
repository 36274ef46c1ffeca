"""Fixtures for the discovery tests: a private DESK_HOME per test, an open desk, the
fixture chat pages, third-party chat UIs (each in its own venv) and timing records."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from endpoint_desk.adapters.base import close_shared_resources
from endpoint_desk.core.config import load_settings
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venvs"
THIRDPARTY = ROOT / "tests" / "thirdparty"
TIMINGS = Path(os.environ.get("DESK_DISCOVERY_TIMINGS", "/tmp/desk-discovery-timings.jsonl"))


@pytest.fixture(autouse=True)
def _desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FX_USER", "alice")
    monkeypatch.setenv("FX_PASS", "s3cret")


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    """An open desk (real SQLite store) whose adapters and Chromium close afterwards."""
    d = Desk(load_settings(), autostart=False)
    async with d:
        yield d
    await close_shared_resources()


@pytest.fixture
async def pages() -> AsyncIterator[ChatPagesServer]:
    async with ChatPagesServer(username="alice", password="s3cret") as server:
        yield server


def record_timing(ui: str, phase: str, seconds: float, **extra: Any) -> None:
    """Append one configure timing (for the report) to ``DESK_DISCOVERY_TIMINGS``."""
    with contextlib.suppress(OSError), TIMINGS.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"ui": ui, "phase": phase, "seconds": round(seconds, 3), **extra}))
        fh.write("\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with _OPENER.open(url, timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _gradio(app: str) -> Iterator[str]:
    python = VENVS / "gradio" / "bin" / "python"
    if not python.exists():
        pytest.skip(".venvs/gradio is missing: run scripts/thirdparty.sh")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_WORD_DELAY": "0.03"}
    with _process([str(python), str(THIRDPARTY / app)], env) as proc:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        url = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"{app} exited before it was ready")
            if line.startswith("READY "):
                url = line.split()[1]
                break
        assert url, f"{app} did not get ready"
        yield url


@pytest.fixture(scope="module")
def gradio_chat_url() -> Iterator[str]:
    """Gradio's ChatInterface (streaming echo) on 127.0.0.1."""
    yield from _gradio("gradio_app.py")


@pytest.fixture(scope="module")
def gradio_blocks_url() -> Iterator[str]:
    """A gr.Blocks app: Chatbot + Textbox (Enter sends) + a New conversation button."""
    yield from _gradio("gradio_blocks_app.py")


@pytest.fixture(scope="module")
def streamlit_url() -> Iterator[str]:
    """A Streamlit chat (st.chat_input, st.chat_message, st.write_stream) on 127.0.0.1."""
    exe = VENVS / "streamlit" / "bin" / "streamlit"
    if not exe.exists():
        pytest.skip(".venvs/streamlit is missing: run scripts/thirdparty.sh")
    port = free_port()
    cmd = [
        str(exe), "run", str(THIRDPARTY / "streamlit_app.py"),
        "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with _process(cmd, dict(os.environ)):
        url = f"http://127.0.0.1:{port}/"
        if not _wait_http(url + "_stcore/health", 90):
            pytest.fail("the Streamlit app did not get ready")
        yield url


@pytest.fixture
def thread_pages() -> Iterator[ChatPagesServer]:
    """The fixture chat pages on their own loop in a thread (for sync callers: the CLI,
    ``add_endpoint``), so the test's own loop may block."""
    import asyncio
    import threading

    server = ChatPagesServer(username="alice", password="s3cret")
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        loop.run_until_complete(server.start())
        stop = asyncio.Event()
        box["stop"] = stop
        ready.set()
        loop.run_until_complete(stop.wait())
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield server
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(10)
