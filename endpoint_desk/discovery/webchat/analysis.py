"""The state of one discovery run on one page, shared by every step.

``Analysis`` holds the page (and the frame the chat lives in), the steps and evidence
collected so far, the timings and the confidence score per finding; its ``js`` and
``chat_js`` call the in-page scripts (``window.__deskDiscover`` for the analysis,
``window.__deskChat`` for the adapter's reader).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from endpoint_desk.discovery.webchat.result import ProgressFn, Step

__all__ = ["Analysis", "Timer", "wait_for"]


class Timer:
    """Milliseconds since it was made."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


async def wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.1
) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)


class Analysis:
    """State of one discovery run on one page."""

    def __init__(self, page: Any, progress: ProgressFn | None) -> None:
        self.page = page
        self.frame: Any = page.main_frame
        self.progress = progress
        self.steps: list[Step] = []
        self.evidence: list[str] = []
        self.timings: dict[str, float] = {}
        self.score: dict[str, float] = {}
        self.forbidden: list[str] = []
        self.moved_to: str | None = None

    async def step(self, name: str, ok: bool, detail: str, ms: float = 0.0) -> None:
        """Record a finished step and tell the caller's ``progress``."""
        s = Step(name, ok, detail, ms)
        self.steps.append(s)
        if self.progress is not None:
            res = self.progress(s)
            if inspect.isawaitable(res):
                await res

    async def js(self, expr: str, arg: Any = None) -> Any:
        """Call ``__deskDiscover.<expr>`` in the chat's frame."""
        return await self.frame.evaluate(f"(arg) => window.__deskDiscover.{expr}", arg)

    async def chat_js(self, expr: str, arg: Any = None) -> Any:
        """Call ``__deskChat.<expr>`` (the adapter's in-page script) in the chat's frame."""
        return await self.frame.evaluate(f"(arg) => window.__deskChat.{expr}", arg)

    def loc(self, selector: str) -> Any:
        """A Playwright locator in the chat's frame (it pierces open shadow roots)."""
        return self.frame.locator(selector)
