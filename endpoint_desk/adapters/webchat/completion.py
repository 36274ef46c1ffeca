"""When a reply on a chat page is over: the completion rule, apart from the page.

The exchange (``exchange.py``) feeds it what the page reports (text changes, the busy
signal) and asks how long to wait for more:

- before any text: until ``start_timeout`` after sending (then the exchange checks the
  page took the message), or the hard limit once it did;
- after text, the page's own signals decide, most reliable first:

  - the busy signal (``busy``, ``busy_input``) shows: wait; it ended: ``quiet_ms``, and
    ``pause_factor`` times the reply's usual time between changes after it ended (the
    text grew after it ended: the signal is unreliable and the rules below decide);
  - the composer (the send control's state and label, the input's lock) left the
    state it had before sending while the reply was shown, as a page does that turns
    Send into Stop: it is back: ``quiet_ms``; still away: wait;
  - a request the page started after sending (fetch, XHR, event stream: the reply's
    own stream) is open: wait; every one finished: ``NET_QUIET``;
  - none of these: the quiet window ``max(idle_quiet_ms, pause_factor * longest
    pause)``.

  A signal that shows but never clears is no signal: waiting on one ends after
  ``BUSY_STALL`` seconds without a change (open requests: ``STALL_FACTOR`` quiet
  windows), and a busy signal while the composer is back in its idle state counts as
  cleared; never at the hard limit. A caller that can tell the
  text is whole (``enough``) shortens the quiet window to ``SETTLE``.

A busy signal that ends without any text is a page that stopped answering.
"""

from __future__ import annotations

from collections.abc import Callable

from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import UpstreamError, UpstreamTimeout

__all__ = ["BUSY_STALL", "NET_QUIET", "SETTLE", "STALL_FACTOR", "Completion"]

SETTLE = 0.3
"""Seconds a reply the caller already knows to be whole must stay unchanged."""

NET_QUIET = 0.2
"""Seconds of quiet that end a reply once the page's requests since sending finished."""

STALL_FACTOR = 3.0
"""Open requests after this many quiet windows without a change in the text are not the
reply's (a long-poll): the reply is over."""

BUSY_STALL = 10.0
"""Seconds without a change in the text after which a busy signal or a composer that
still says "answering" is stuck (a spinner left behind): the reply is over."""


RESEND_AFTER = 2.0
"""Seconds of silence after sending before a prompt still in the input is sent again."""


class Completion:
    """The completion rule for one reply.

    Attributes:
        taken: the page took the message (text, a busy signal, or checked).
        busy: the page's busy signal shows now.
        busy_seen: it showed at some point.
        last_change: when the text last changed (``time.monotonic()``), ``None``: no
            text yet.
        longest_pause: the longest time between two text changes so far.
        composer_idle: the composer is in the state it had before sending.
        composer_seen: it left that state while the reply was on the page (the page
            signals with it).
        requests: a request the page started after sending is open.
        requests_seen: one was open while the reply was on the page.
        busy_unreliable: the text changed after the busy signal had gone (a busy
            selector that stopped matching mid-reply): it no longer ends the reply.
        busy_ended: when the busy signal last went away.
        gaps: the times between the reply's text changes.
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
        self.composer_idle = True
        self.composer_seen = False
        self.requests = False
        self.requests_seen = False
        self.busy_unreliable = False
        self.busy_ended: float | None = None
        self.gaps: list[float] = []
        self.resent = False

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
            if not self.taken and not self.resent:
                limit = min(limit, self.sent_at + self.resend_after())
            return max(0.001, limit - now)
        left = self.window(text) - (now - self.last_change)
        if left <= 0 and not pending:
            return None
        return max(0.001, min(left, self.deadline - now))

    def idle_window(self) -> float:
        """The quiet window of a page that shows no signal at all."""
        o = self.options
        return max(o.idle_quiet_ms / 1000, o.pause_factor * self.longest_pause)

    def window(self, text: str) -> float:
        """The quiet window that ends the reply now (by the page's signals)."""
        o = self.options
        idle = self.idle_window()
        composer_back = self.composer_seen and self.composer_idle
        if (self.busy and not composer_back) or (self.composer_seen and not self.composer_idle):
            return max(BUSY_STALL, STALL_FACTOR * idle)  # answering, unless it is stuck
        if composer_back:
            window = o.quiet_ms / 1000
        elif o.has_busy_signal and self.busy_seen and not self.busy_unreliable:
            # the text may still grow at its usual pace: a busy selector can stop
            # matching before the reply is over (it then proves unreliable)
            since = (self.busy_ended or 0.0) - (self.last_change or 0.0)
            window = max(o.quiet_ms / 1000, since + o.pause_factor * self.usual_gap())
        elif self.requests:
            window = STALL_FACTOR * idle
        elif self.requests_seen:
            window = NET_QUIET
        else:
            window = idle
        if self.enough is not None and window > SETTLE and self.enough(text):
            window = SETTLE
        return window

    def usual_gap(self) -> float:
        """The median time between the reply's recent text changes (0: too few)."""
        recent = sorted(self.gaps[-9:])
        return recent[len(recent) // 2] if recent else 0.0

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

    def resend_after(self) -> float:
        """Seconds after sending with no sign from the page before the send is tried
        once more (a send control clicked before the page was ready to take it)."""
        return min(RESEND_AFTER, self.options.start_timeout / 2)

    def stalled(self, now: float, got_events: bool) -> bool:
        """Nothing at all ``resend_after`` seconds after sending (asked once): time to
        send again if the prompt is still in the input."""
        if (
            self.resent
            or got_events
            or self.last_change is not None
            or self.taken
            or self.busy_seen
            or now < self.sent_at + self.resend_after()
        ):
            return False
        self.resent = True
        return True

    def confirmed(self) -> None:
        """The page took the message (it is no longer in the input)."""
        self.taken = True

    def busy_changed(self, busy: bool, now: float | None = None) -> None:
        """The page's busy signal showed (``True``) or went away (at ``now``)."""
        self.busy = busy
        if busy:
            self.busy_seen = self.taken = True
        elif now is not None:
            self.busy_ended = now

    def composer_changed(self, idle: bool) -> None:
        """The composer came back to (``True``) or left its state before sending."""
        self.composer_idle = idle
        if not idle and self.last_change is not None:
            self.composer_seen = True

    def requests_changed(self, open_: bool) -> None:
        """Requests the page started after sending are open (``True``) or all done."""
        self.requests = open_
        if open_ and self.last_change is not None:
            self.requests_seen = True

    def text_changed(self, now: float, text: str) -> None:
        """The reply's text changed to ``text`` at ``now``."""
        if self.last_change is not None:
            self.longest_pause = max(self.longest_pause, now - self.last_change)
            self.gaps.append(now - self.last_change)
        if self.busy_seen and not self.busy:
            self.busy_unreliable = True  # the text grew after the busy signal went
        if text:
            self.last_change = now
            self.taken = True
            if not self.composer_idle:
                self.composer_seen = True
            if self.requests:
                self.requests_seen = True
