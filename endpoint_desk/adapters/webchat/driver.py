"""``PageDriver``: one Playwright page of a web chat, driven by its ``WebChatOptions``.

The driver opens the page (with the ``__deskReport`` binding the in-page script
pushes reply events through, and listeners for a crash, a close or a new document),
loads URLs, waits until the page shows its input (trying learned ``alternates`` and
the repair hook when the selector no longer matches), starts a new conversation and
clicks controls. Playwright's errors come out as the desk's own (``Unreachable``,
``UpstreamTimeout``, ``BrowserError``). Sending a prompt and streaming the reply are
in ``exchange.py``; signing in is in ``login.py``.

Every page of one endpoint shares one ``DriverConfig``: a repaired selector reaches all
of them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from endpoint_desk.adapters.webchat.errors import first_line, is_navigation, is_unreachable
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import BrowserError, Unreachable, UpstreamTimeout

log = logging.getLogger(__name__)

__all__ = ["DriverConfig", "PageDriver", "RepairFn"]

_REPLY_REQUESTS = frozenset({"fetch", "xhr", "eventsource"})
"""Request types a page streams a reply over (a websocket is not a request here)."""

RepairFn = Callable[[str, Any], Awaitable[WebChatOptions | None]]
"""``repair(failed_option, page) -> repaired options or None`` (see ``repair.py``)."""


@dataclass(eq=False)
class DriverConfig:
    """What every page of one endpoint is driven by (shared by its pages).

    Attributes:
        name: the endpoint's name (in every error message).
        options: the selector configuration; replaced when a selector is repaired.
        timeout: seconds for a page to load and show its input
            (``browser_config.timeout``).
        repair: asks for repaired options when a selector stops matching.
        tasks: background tasks (handle disposal) the owner cancels when it closes.
    """

    name: str
    options: WebChatOptions
    timeout: float
    repair: RepairFn | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def reply_timeout(self) -> float:
        """The hard limit for one reply (``options.reply_timeout``, else ``timeout``)."""
        return self.options.reply_timeout or self.timeout


class PageDriver:
    """One page of a web chat and what happens on it.

    Attributes:
        page: the Playwright page.
        config: the endpoint's shared ``DriverConfig``.
        events: page events, ``(kind, data)``: ``("ev", batch)`` reply events pushed by
            the in-page script, ``("dead", why)`` a crash or close, ``("nav", None)`` a
            new document.
        dead: the page crashed, closed or failed; it must be replaced.
        fresh: the page shows a new, empty conversation with its input.
    """

    def __init__(self, page: Any, config: DriverConfig) -> None:
        self.page = page
        self.config = config
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.dead = False
        self.fresh = False
        self.watching = False
        self.requests: set[Any] = set()

    @classmethod
    async def open(cls, context: Any, config: DriverConfig) -> PageDriver:
        """A new page in ``context``, its events wired to the driver.

        Raises:
            BrowserError: the page cannot be opened.
        """
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        try:
            page = await context.new_page()
            await page.expose_binding(
                "__deskReport", lambda _source, batch: queue.put_nowait(("ev", batch))
            )
        except PlaywrightError as exc:
            raise BrowserError(f"{config.name}: cannot open a page: {first_line(exc)}") from exc
        page.on("crash", lambda _p: queue.put_nowait(("dead", "the page crashed")))
        page.on("close", lambda _p: queue.put_nowait(("dead", "the page was closed")))
        page.on("domcontentloaded", lambda _p: queue.put_nowait(("nav", None)))
        driver = cls(page, config)
        driver.events = queue
        page.on("request", driver._request_started)
        page.on("requestfinished", driver._request_ended)
        page.on("requestfailed", driver._request_ended)
        return driver

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def options(self) -> WebChatOptions:
        return self.config.options

    @property
    def closed(self) -> bool:
        """The page is gone (dead, or closed by someone)."""
        return self.dead or self.page.is_closed()

    async def close(self) -> None:
        """Close the page (errors ignored: it may be gone already)."""
        with contextlib.suppress(Exception):
            await self.page.close()

    # ------------------------------------------------------------------ requests

    def watch_requests(self, on: bool) -> None:
        """Start (or stop) noting the page's fetch, XHR and event-stream requests: while
        a reply is on its way, an open one is its stream (``("net", open)`` events)."""
        self.watching = on
        self.requests.clear()

    def _request_started(self, request: Any) -> None:
        if self.watching and request.resource_type in _REPLY_REQUESTS:
            self.requests.add(request)
            if len(self.requests) == 1:
                self.events.put_nowait(("net", True))

    def _request_ended(self, request: Any) -> None:
        if request in self.requests:
            self.requests.discard(request)
            if not self.requests:
                self.events.put_nowait(("net", False))

    def drain(self) -> None:
        """Drop stale page events (of an earlier reply or page load); note a death."""
        while not self.events.empty():
            kind, _data = self.events.get_nowait()
            if kind == "dead":
                self.dead = True

    # ------------------------------------------------------------------ navigation

    async def goto(self, url: str) -> None:
        """Load ``url`` (within ``config.timeout``).

        Raises:
            Unreachable: nothing answers there.
            UpstreamTimeout: it did not load in time.
            BrowserError: loading failed otherwise (the page is then dead).
        """
        self.fresh = False
        try:
            await self.page.goto(
                url, wait_until="domcontentloaded", timeout=self.config.timeout * 1000
            )
        except PlaywrightError as exc:
            msg = first_line(exc)
            if is_unreachable(msg):
                raise Unreachable(
                    f"{self.name}: cannot load {url}: {msg}", endpoint=self.name
                ) from exc
            if isinstance(exc, PlaywrightTimeout):
                raise UpstreamTimeout(
                    f"{self.name}: {url} did not load in {self.config.timeout:g} s",
                    endpoint=self.name,
                ) from exc
            self.dead = True
            raise BrowserError(
                f"{self.name}: loading {url} failed: {msg}", endpoint=self.name
            ) from exc

    async def new_conversation(self) -> None:
        """Start a new conversation: the new-chat control when it clears the messages,
        else ``new_chat_url`` or the chat's URL."""
        o = self.options
        self.fresh = False
        if o.new_chat:
            try:
                clicked = await self.click(o.new_chat, timeout=2.0)
                if clicked:
                    await self.page.wait_for_function(
                        "cfg => window.__deskChat.count(cfg.assistant) === 0",
                        arg=o.page_config(),
                        timeout=3000,
                    )
                    return
            except PlaywrightError as exc:
                log.info("%s: new-chat control did not clear the page: %s", self.name, exc)
        await self.goto(o.new_chat_url or o.url)

    async def attach(self, files: list[tuple[str, str, bytes]]) -> None:
        """Put ``(name, mime type, bytes)`` files on the page's file input
        (``options.file_input``) before the message is sent.

        Raises:
            BrowserError: the page has no such input now, or refused the files.
        """
        selector = self.options.file_input
        if not selector:
            raise BrowserError(f"{self.name}: the page has no file input", endpoint=self.name)
        payload = [{"name": n, "mimeType": m, "buffer": b} for n, m, b in files]
        try:
            await self.page.set_input_files(selector, files=payload, timeout=5000)
        except Exception as exc:
            raise BrowserError(
                f"{self.name}: could not attach images to {selector!r}: {first_line(exc)}",
                endpoint=self.name,
            ) from exc

    async def click(self, selector: str, timeout: float) -> bool:
        """Click the first visible match of ``selector`` (``False``: none)."""
        handle = await self.page.evaluate_handle(
            "sel => window.__deskChat.firstVisible(sel)", selector
        )
        el = handle.as_element()
        if el is None:
            return False
        try:
            await el.click(timeout=timeout * 1000, force=True)
        finally:
            with contextlib.suppress(Exception):
                await handle.dispose()
        return True

    def dispose_later(self, handle: Any) -> None:
        """Release a JS handle off the hot path."""

        async def dispose() -> None:
            with contextlib.suppress(Exception):
                await handle.dispose()

        tasks = self.config.tasks
        task = asyncio.create_task(dispose())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # ------------------------------------------------------------------ readiness

    async def wait_ready(self, timeout: float | None = None) -> str:
        """Wait until the page shows its input (``"input"``) or a login wall (``"login"``).

        Raises:
            BrowserError: neither appeared (the selectors no longer match).
        """
        o = self.options
        limit = timeout if timeout is not None else self.config.timeout
        try:
            return await self.ready_once(limit)
        except PlaywrightTimeout:
            pass
        except PlaywrightError as exc:
            self.dead = True
            raise BrowserError(f"{self.name}: the page failed: {first_line(exc)}") from exc
        for alt in o.alternates.get("input", []):
            repaired = o.with_selector("input", alt)
            with contextlib.suppress(PlaywrightError):
                state = await self.ready_once(1.0, repaired)
                log.warning(
                    "%s: input selector %r failed; alternate %r matches", self.name, o.input, alt
                )
                self.config.options = repaired
                return state
        fixed = await self.repair("input")
        if fixed is not None:
            with contextlib.suppress(PlaywrightError):
                return await self.ready_once(limit)
        raise BrowserError(
            f"{self.name}: the message input {o.input!r} did not appear on {self.page.url} "
            f"within {limit:g} s (the page changed or the selector is wrong)",
            endpoint=self.name,
        )

    async def ready_once(self, timeout: float, options: WebChatOptions | None = None) -> str:
        """``ready(cfg)`` of the in-page script once it is not empty (a navigation in
        between is waited out).

        Raises:
            PlaywrightTimeout: nothing showed within ``timeout`` seconds.
        """
        o = options or self.options
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.05, deadline - time.monotonic())
            try:
                handle = await self.page.wait_for_function(
                    "cfg => window.__deskChat && window.__deskChat.ready(cfg)",
                    arg=o.page_config(),
                    timeout=left * 1000,
                )
                return str(await handle.json_value())
            except PlaywrightTimeout:
                raise
            except PlaywrightError as exc:
                # a navigation (login redirect) destroyed the context: try again
                if is_navigation(exc) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    continue
                raise

    async def repair(self, key: str) -> WebChatOptions | None:
        """Ask the endpoint's repair hook to re-find option ``key`` on this page; the
        repaired options are every page's from now on (``None``: not repaired)."""
        if self.config.repair is None:
            return None
        return await self.config.repair(key, self.page)
