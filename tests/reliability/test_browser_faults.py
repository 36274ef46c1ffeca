"""Web chat faults in real Chromium: the page closed, or the whole browser killed with
SIGKILL, in the middle of a reply. The request ends in a clean error within its time
limit and is recorded as failed; the desk recovers without a restart (the next request
is served, the browser relaunched)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.adapters.webchat import browser
from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import BrowserConfig, ChatRequest, EndpointSpec
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer

from .kit import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


@pytest.fixture
async def pages() -> AsyncIterator[ChatPagesServer]:
    async with ChatPagesServer() as server:
        yield server


@pytest.fixture
async def desk(desk_home: Path) -> AsyncIterator[Desk]:
    settings = load_settings(health={"enabled": False}, store={"flush_interval": 0.05})
    async with Desk(settings, autostart=True) as d:
        yield d


async def add_chat(desk: Desk, pages: ChatPagesServer) -> str:
    """A web chat whose replies take ~3 s (60 words, 50 ms apart)."""
    spec = EndpointSpec(
        name="chat",
        kind="web_chat",
        base_url=pages.url_for("textarea", words=60, delay=0.05),
        options=pages.options_for("textarea"),
        browser_config=BrowserConfig(timeout=15),
        limits={"max_concurrent_requests": 1, "timeout_seconds": 15, "retry_attempts": 0},
    )
    return (await desk.add(spec, prove=False)).name


def chromium_pids() -> list[int]:
    """The main Chromium processes descending from this test process (no others)."""
    me = os.getpid()
    parents: dict[int, int] = {}
    cmdlines: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as raw:
                cmd = raw.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        cmdlines[int(entry)] = cmd

    def descends(pid: int) -> bool:
        seen = 0
        while pid > 1 and seen < 50:
            pid = parents.get(pid, 0)
            if pid == me:
                return True
            seen += 1
        return False

    return [
        pid
        for pid, cmd in cmdlines.items()
        if ("chrom" in cmd.lower())
        and "--type=" not in cmd
        and descends(pid)
        and "--remote-debugging-pipe" in cmd
    ]


async def start_reply(desk: Desk, name: str, pages: ChatPagesServer) -> asyncio.Task[str]:
    """Start a chat and wait until the page is answering."""
    before = len(pages.replies)

    async def go() -> str:
        result = await desk.chat(ChatRequest.from_text("tell me a long story"), endpoint=name)
        return result.content

    task = asyncio.create_task(go())
    await wait_for(
        lambda: len(pages.replies) > before and pages.replies[-1].first_sent is not None,
        10.0,
        "the page to start answering",
    )
    await asyncio.sleep(0.3)  # some words are out
    return task


async def served_again(desk: Desk, name: str) -> None:
    result = await desk.chat(ChatRequest.from_text("What is 19 + 23?"), endpoint=name)
    assert result.content, result
    assert result.endpoint == name


async def test_page_closed_mid_reply(desk: Desk, pages: ChatPagesServer) -> None:
    name = await add_chat(desk, pages)
    await served_again(desk, name)
    task = await start_reply(desk, name, pages)
    adapter = desk.portfolio.positions[name].adapter
    assert adapter is not None
    busy = [s.page for s in adapter.pool.slots if s.page is not None]  # type: ignore[attr-defined]
    t0 = time.monotonic()
    for page in busy:
        await page.close()
    with pytest.raises(DeskError) as info:
        await task
    assert time.monotonic() - t0 < 5.0
    assert "Traceback" not in info.value.one_line()
    assert desk.endpoint(name).metrics.errors >= 1  # reported as a failed request
    await served_again(desk, name)  # recovered without a restart


async def test_chromium_killed_mid_reply(desk: Desk, pages: ChatPagesServer) -> None:
    name = await add_chat(desk, pages)
    await served_again(desk, name)
    launches = browser.launch_count()
    pids = chromium_pids()
    assert pids, "no Chromium process of this test found"
    task = await start_reply(desk, name, pages)
    t0 = time.monotonic()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(DeskError) as info:
        await task
    assert time.monotonic() - t0 < 10.0
    assert "Traceback" not in info.value.one_line()
    assert desk.endpoint(name).metrics.errors >= 1
    # the desk relaunches the browser on the next request: no restart of the desk
    await served_again(desk, name)
    assert browser.launch_count() > launches
    assert set(chromium_pids()).isdisjoint(pids)
