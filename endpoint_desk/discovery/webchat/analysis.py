"""The state of one discovery run on one page, shared by every step.

``Analysis`` holds the page (a ``PageDriver``, the adapter's own), the steps and
evidence collected so far, the timings and the confidence score per finding; its
``js`` calls the in-page discovery script (``window.__deskDiscover``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from endpoint_desk.discovery.webchat.result import ProgressFn, Step

if TYPE_CHECKING:
    from endpoint_desk.adapters.webchat.driver import PageDriver

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
    """State of one discovery run on one page.

    Attributes:
        driver: the page, driven by the adapter's own ``PageDriver``.
        url: the chat page as the adapter will load it (a frame's page, once
            discovery moved there).
        moved_to: the frame's page the chat lives in, when not ``url`` as given.
        forbidden: strings never to put in a prompt to an ``assist`` endpoint (the
            credentials in use).
    """

    def __init__(self, driver: PageDriver, url: str, progress: ProgressFn | None) -> None:
        self.driver = driver
        self.page = driver.page
        self.progress = progress
        self.steps: list[Step] = []
        self.evidence: list[str] = []
        self.timings: dict[str, float] = {}
        self.score: dict[str, float] = {}
        self.forbidden: list[str] = []
        self.given_url = url
        self.moved_to: str | None = None

    @property
    def url(self) -> str:
        """The chat page as the adapter will load it."""
        return self.moved_to or self.given_url

    async def step(self, name: str, ok: bool, detail: str, ms: float = 0.0) -> None:
        """Record a finished step and tell the caller's ``progress``."""
        s = Step(name, ok, detail, ms)
        self.steps.append(s)
        if self.progress is not None:
            res = self.progress(s)
            if inspect.isawaitable(res):
                await res

    async def js(self, expr: str, arg: Any = None) -> Any:
        """Call ``__deskDiscover.<expr>`` in the page."""
        return await self.page.evaluate(f"(arg) => window.__deskDiscover.{expr}", arg)

    def loc(self, selector: str) -> Any:
        """A Playwright locator in the page (it pierces open shadow roots)."""
        return self.page.locator(selector)
