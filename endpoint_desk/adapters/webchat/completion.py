"""When a reply on a chat page is over: the completion rule, apart from the page.

The exchange (``exchange.py``) feeds it what the page reports (text changes, the busy
signal) and asks how long to wait for more:

- before any text: until ``start_timeout`` after sending (then the exchange checks the
  page took the message), or the hard limit once it did;
- while the page's busy signal shows: until the hard limit;
- after text, not busy: a quiet window, ``quiet_ms`` once the busy signal has come and
  gone, else ``max(idle_quiet_ms, pause_factor * longest pause)``; a caller that can
  tell the text is whole (``enough``) shortens it to ``SETTLE``.

A busy signal that ends without any text is a page that stopped answering.
"""

from __future__ import annotations

from collections.abc import Callable

from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import UpstreamError, UpstreamTimeout

__all__ = ["SETTLE", "Completion"]

SETTLE = 0.3
"""Seconds a reply the caller already knows to be whole must stay unchanged."""


class Completion:
    """The completion rule for one reply.

    Attributes:
        taken: the page took the message (text, a busy signal, or checked).
        busy: the page's busy signal shows now.
        busy_seen: it showed at some point.
        last_change: when the text last changed (``time.monotonic()``), ``None``: no
            text yet.
        longest_pause: the longest time between two text changes so far.
    """

    def __init__(
        self,
        options: WebChatOptions,
        name: str,
        sent_at: float,
        reply_timeout: float,
        *,
        started: float | None = None,
        enough: Callable[[str], bool] | None = None,
    ) -> None:
        self.options = options
        self.name = name
        self.sent_at = sent_at
        self.reply_timeout = reply_timeout
        self.deadline = (sent_at if started is None else started) + reply_timeout
        self.enough = enough
        self.taken = False
        self.busy = False
        self.busy_seen = False
        self.last_change: float | None = None
        self.longest_pause = 0.0

    def wait(self, now: float, text: str, pending: bool) -> float | None:
        """Seconds to wait for more page events; ``None``: the reply is over.

        Args:
            now: ``time.monotonic()``.
            text: the reply's text so far.
            pending: page events are queued but not read yet (never finish before
                reading them).

        Raises:
            UpstreamTimeout: the hard limit passed.
            UpstreamError: the busy signal ended without any text.
        """
        o = self.options
        if now >= self.deadline:
            raise UpstreamTimeout(
                f"{self.name}: the reply did not finish within {self.reply_timeout:g} s",
                endpoint=self.name,
            )
        if self.last_change is None:
            if self.busy_seen and not self.busy:
                raise UpstreamError(
                    f"{self.name}: the page stopped answering without a reply",
                    endpoint=self.name,
                )
            start_limit = self.sent_at + o.start_timeout
            limit = self.deadline if self.taken else min(self.deadline, start_limit)
            return limit - now
        if self.busy:
            return self.deadline - now
        left = self.window(text) - (now - self.last_change)
        if left <= 0 and not pending:
            return None
        return min(left, self.deadline - now)

    def window(self, text: str) -> float:
        """The quiet window that ends the reply now (the page is not busy)."""
        o = self.options
        if o.has_busy_signal and self.busy_seen:
            window = o.quiet_ms / 1000
        else:
            window = max(o.idle_quiet_ms / 1000, o.pause_factor * self.longest_pause)
        if self.enough is not None and window > SETTLE and self.enough(text):
            window = SETTLE
        return window

    def unconfirmed(self, now: float, got_events: bool) -> bool:
        """Nothing at all ``start_timeout`` after sending: time to check the page took
        the message (then call ``confirmed``)."""
        return (
            not got_events
            and self.last_change is None
            and not self.taken
            and not self.busy_seen
            and now >= self.sent_at + self.options.start_timeout
        )

    def confirmed(self) -> None:
        """The page took the message (it is no longer in the input)."""
        self.taken = True

    def busy_changed(self, busy: bool) -> None:
        """The page's busy signal showed (``True``) or went away."""
        self.busy = busy
        if busy:
            self.busy_seen = self.taken = True

    def text_changed(self, now: float, text: str) -> None:
        """The reply's text changed to ``text`` at ``now``."""
        if self.last_change is not None:
            self.longest_pause = max(self.longest_pause, now - self.last_change)
        if text:
            self.last_change = now
            self.taken = True
