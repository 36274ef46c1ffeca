"""Discovery against third-party chat UIs from PyPI the desk has no patterns for.

Each UI runs from its own venv (``scripts/thirdparty.sh``) on 127.0.0.1: Gradio's
ChatInterface (a streaming echo bot), a Gradio ``Blocks`` app (Chatbot + Textbox, Enter
sends, a model-like bot) and a Streamlit chat (``st.chat_input`` / ``st.chat_message``).
For each: configure with an empty pattern library, prove it through ``Desk.add``,
answer a follow-up request, then configure again with the library warm (the pattern
passes one canary instead of the analysis). Timings go to ``record_timing``.
"""

from __future__ import annotations

import time

import pytest

from endpoint_desk.adapters.webchat.browser import shared_browser
from endpoint_desk.core.models import ChatRequest
from endpoint_desk.discovery.webchat import WebChatDiscovery, configure_web_chat
from endpoint_desk.engine.desk import Desk
from tests.discovery.conftest import record_timing

pytestmark = [pytest.mark.browser, pytest.mark.thirdparty, pytest.mark.timeout(300)]


async def _configure_twice(
    desk: Desk, ui: str, url: str, name: str
) -> tuple[WebChatDiscovery, WebChatDiscovery]:
    assert await desk.store.list_patterns() == []  # no pattern for this UI at the start
    await shared_browser()  # Chromium's launch is not part of either figure
    t0 = time.perf_counter()
    first = await configure_web_chat(url, name=name, store=desk.store, reply_timeout=40)
    cold = time.perf_counter() - t0
    assert not first.from_pattern
    t0 = time.perf_counter()
    warm_run = await configure_web_chat(url, name=name + "-2", store=desk.store, reply_timeout=40)
    warm = time.perf_counter() - t0
    assert warm_run.from_pattern, warm_run.evidence
    assert warm_run.options["assistant"] == first.options["assistant"]
    record_timing(ui, "first", cold, confidence=first.confidence)
    record_timing(ui, "warm", warm, ratio=round(warm / cold, 2))
    assert warm < cold
    return first, warm_run


async def test_gradio_chat_interface(desk: Desk, gradio_chat_url: str) -> None:
    first, _ = await _configure_twice(desk, "gradio ChatInterface", gradio_chat_url, "gradio")
    opts = first.options
    assert "textbox" in opts["input"]
    assert opts.get("busy") or opts.get("busy_input")
    assert first.confidence >= 0.7
    view = await desk.add(first.spec)
    result = await desk.chat(ChatRequest.from_text("ping from the desk"), endpoint=view.name)
    assert "Echo: ping from the desk" in result.content
    assert result.content.rstrip().endswith("That is all I have to say.")


async def test_gradio_blocks_chatbot(desk: Desk, gradio_blocks_url: str) -> None:
    first, _ = await _configure_twice(desk, "gradio Blocks", gradio_blocks_url, "blocks")
    opts = first.options
    assert opts.get("send_key") == "Enter" and "send" not in opts
    view = await desk.add(first.spec)
    result = await desk.chat(ChatRequest.from_text("What is 20 + 22?"), endpoint=view.name)
    assert "It is 42." in result.content
    result = await desk.chat(ChatRequest.from_text("What is 1 + 1?"), endpoint=view.name)
    assert "It is 2." in result.content


async def test_streamlit_chat(desk: Desk, streamlit_url: str) -> None:
    first, _ = await _configure_twice(desk, "streamlit chat", streamlit_url, "streamlit")
    opts = first.options
    assert "stChatInput" in opts["input"]
    assert "assistant" in opts["assistant"]
    view = await desk.add(first.spec)
    result = await desk.chat(ChatRequest.from_text("What is 30 + 12?"), endpoint=view.name)
    assert "The sum is 42." in result.content


async def test_a_second_gradio_site_uses_the_first_ones_pattern(
    desk: Desk, gradio_chat_url: str, gradio_blocks_url: str
) -> None:
    """Another Gradio app (a different layout: no send button) is configured from the
    ChatInterface's pattern, adapted (Enter instead of the missing send control)."""
    await shared_browser()
    t0 = time.perf_counter()
    await configure_web_chat(gradio_chat_url, name="g1", store=desk.store, reply_timeout=40)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    other = await configure_web_chat(
        gradio_blocks_url, name="g2", store=desk.store, reply_timeout=40
    )
    warm = time.perf_counter() - t0
    record_timing("gradio Blocks after ChatInterface", "warm", warm, cold_other=cold)
    assert other.from_pattern, other.evidence
    view = await desk.add(other.spec)
    result = await desk.chat(ChatRequest.from_text("What is 5 + 6?"), endpoint=view.name)
    assert "It is 11." in result.content
