"""A third-party chat UI from PyPI, driven end to end: Gradio's ChatInterface.

The Gradio app runs in its own venv (``scripts/thirdparty.sh`` creates ``.venvs/gradio``)
on 127.0.0.1; its selectors are configured by hand here (discovery comes later).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.adapters.webchat.adapter import WebChatAdapter
from endpoint_desk.core.models import BrowserConfig, ChatMessage, ChatRequest, EndpointSpec
from tests.webchat.conftest import collect, resolve

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = ROOT / ".venvs" / "gradio" / "bin" / "python"
APP = ROOT / "tests" / "thirdparty" / "gradio_app.py"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.thirdparty,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not VENV_PYTHON.exists(),
        reason=".venvs/gradio is missing: run scripts/thirdparty.sh to install Gradio",
    ),
]

GRADIO_OPTIONS = {
    "input": 'textarea[data-testid="textbox"]',
    "send": 'button[data-testid="submit-button"]',
    "assistant": '[data-testid="bot"]',
    "assistant_text": ".message-content",
    "user_message": '[data-testid="user"]',
    "busy": 'button[data-testid="stop-button"]',
    "new_chat": 'button[aria-label="Clear"]',
}


@pytest.fixture
async def gradio_url() -> AsyncIterator[str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_WORD_DELAY": "0.05"}
    proc = await asyncio.create_subprocess_exec(
        str(VENV_PYTHON),
        str(APP),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(90):
            while True:
                line = (await proc.stdout.readline()).decode()
                if not line:
                    pytest.fail("the Gradio app exited before it was ready")
                if line.startswith("READY "):
                    break
        yield line.split()[1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()


async def test_gradio_chat_interface_end_to_end(gradio_url: str, browser_cleanup: None) -> None:
    spec = EndpointSpec(
        name="gradio",
        kind="web_chat",
        base_url=gradio_url,
        options=dict(GRADIO_OPTIONS),
        browser_config=BrowserConfig(timeout=60),
        limits={"max_concurrent_requests": 2},
    )
    adapter = WebChatAdapter(spec, resolve)
    await adapter.open()
    try:
        text, chunks = await collect(adapter, "hello desk")
        assert text == "Echo: hello desk (turn 1). That is all I have to say."
        assert sum(1 for c in chunks if c.delta) >= 3, "the reply was not streamed"
        assert "Copy" not in text and "Retry" not in text

        follow = ChatRequest(
            messages=[
                ChatMessage("user", "hello desk"),
                ChatMessage("assistant", text),
                ChatMessage("user", "second"),
            ]
        )
        again, chunks2 = await collect(adapter, follow)
        assert again == "Echo: second (turn 2). That is all I have to say."
        assert chunks2[-1].session_id == chunks[-1].session_id

        probe = await adapter.probe()
        assert probe.ok

        # two at once, on two pages (one is reset in the background meanwhile)
        results = await asyncio.gather(collect(adapter, "alpha"), collect(adapter, "beta"))
        assert sorted(r[0] for r in results) == [
            "Echo: alpha (turn 1). That is all I have to say.",
            "Echo: beta (turn 1). That is all I have to say.",
        ]
    finally:
        await adapter.aclose()
