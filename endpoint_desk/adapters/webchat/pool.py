"""The warm pages of one web chat endpoint: one request per page at a time.

A request takes the page that holds its conversation when it repeats the earlier
messages (session affinity), else a fresh page (a new, empty conversation), else the
page idle longest. When a request gives a page back and no fresh page is left, another
idle page is reset to a new conversation in the background, so one stays warm.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from endpoint_desk.adapters.webchat.driver import PageDriver
from endpoint_desk.adapters.webchat.prompt import Message
from endpoint_desk.core.errors import BrowserError

log = logging.getLogger(__name__)

__all__ = ["PagePool", "Slot"]


@dataclass(eq=False)
class Slot:
    """One warm page and the conversation it holds.

    Attributes:
        index: the page's number in the pool.
        driver: the page (``None``: not opened yet, or lost with its browser).
        in_use: a request (or a background reset) has it.
        history: the conversation it holds (normalized messages), ``None``: none.
        conv_id: the session id of that conversation.
        last_used: when it was last given back (``time.monotonic()``).
    """

    index: int
    driver: PageDriver | None = None
    in_use: bool = False
    history: tuple[Message, ...] | None = None
    conv_id: str | None = None
    last_used: float = 0.0

    @property
    def page(self) -> Any:
        """The Playwright page (``None`` without one)."""
        return self.driver.page if self.driver is not None else None

    @property
    def dead(self) -> bool:
        """No usable page: it must be opened (again)."""
        return self.driver is None or self.driver.dead

    def kill(self) -> None:
        """Mark the page for replacement."""
        if self.driver is not None:
            self.driver.dead = True

    @property
    def fresh(self) -> bool:
        """The page shows a new, empty conversation with its input."""
        return self.driver is not None and self.driver.fresh

    @fresh.setter
    def fresh(self, value: bool) -> None:
        if self.driver is not None:
            self.driver.fresh = value

    def drain(self) -> None:
        """Drop stale page events; note a death."""
        if self.driver is not None:
            self.driver.drain()


class PagePool:
    """The pages of one endpoint and who holds them.

    Attributes:
        slots: every page, by index.
        closed: the pool takes no requests (before ``open``, after ``aclose``).
        tasks: background tasks (resets, handle disposal), cancelled on close.
    """

    def __init__(
        self,
        name: str,
        size: int,
        prepare: Callable[[Slot], Awaitable[None]],
        tasks: set[asyncio.Task[None]],
    ) -> None:
        self.name = name
        self.slots = [Slot(i) for i in range(max(1, size))]
        self.closed = True
        self.tasks = tasks
        self._prepare = prepare
        self._cond = asyncio.Condition()

    async def acquire(
        self, prior: tuple[Message, ...] | None, keep_conversations: bool
    ) -> tuple[Slot, bool]:
        """A page for a request whose earlier messages are ``prior``, and whether it
        holds that conversation (waits while every page is busy).

        Raises:
            BrowserError: the pool is closed.
        """
        async with self._cond:
            while True:
                if self.closed:
                    raise BrowserError(
                        f"{self.name}: the web chat adapter is closed", endpoint=self.name
                    )
                idle = [s for s in self.slots if not s.in_use]
                if prior and keep_conversations:
                    for s in idle:
                        s.drain()
                        if not s.dead and s.history is not None and s.history == prior:
                            s.in_use = True
                            return s, True
                if idle:
                    fresh = [s for s in idle if s.fresh and not s.dead]
                    pick = fresh[0] if fresh else min(idle, key=lambda s: s.last_used)
                    pick.in_use = True
                    return pick, False
                await self._cond.wait()

    async def release(self, slot: Slot, *, refill: bool = True) -> None:
        """Give ``slot`` back; with ``refill``, reset another idle page in the
        background when no fresh one is left."""
        async with self._cond:
            slot.in_use = False
            slot.last_used = time.monotonic()
            if refill and not self.closed and len(self.slots) > 1:
                idle = [s for s in self.slots if not s.in_use]
                if not any(s.fresh and not s.dead for s in idle):
                    others = [s for s in idle if s is not slot]
                    if others:
                        target = min(others, key=lambda s: s.last_used)
                        self._spawn_refill(target)
            self._cond.notify_all()

    async def warm(self, slots: list[Slot]) -> None:
        """Make ``slots`` warm pages in the background (busy until they are)."""
        async with self._cond:
            for slot in slots:
                if slot.in_use:
                    continue
                self._spawn_refill(slot)

    def _spawn_refill(self, slot: Slot) -> None:
        slot.in_use = True
        task = asyncio.create_task(self._refill(slot))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _refill(self, slot: Slot) -> None:
        """Reset a page to a new conversation in the background (keeps one page warm)."""
        try:
            await self._prepare(slot)
        except Exception as exc:
            log.info("%s: background reset of page %d failed: %s", self.name, slot.index, exc)
            slot.fresh = False
        finally:
            await self.release(slot, refill=False)

    async def wake(self) -> None:
        """Wake every request waiting for a page (they see the pool closed)."""
        async with self._cond:
            self._cond.notify_all()

    def status(self) -> dict[str, int]:
        """Pages by state: total, busy, fresh (ready for a new conversation), holding
        a conversation, dead."""
        return {
            "pages": len(self.slots),
            "busy": sum(s.in_use for s in self.slots),
            "fresh": sum(s.fresh and not s.dead for s in self.slots),
            "conversations": sum(s.history is not None for s in self.slots),
            "dead": sum(s.dead for s in self.slots),
        }
