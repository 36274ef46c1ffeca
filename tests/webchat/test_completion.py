"""Unit tests of the web chat completion rule (``adapters/webchat/completion.py``), on
a made-up clock: how long the exchange waits for more of a reply, and when it ends."""

from __future__ import annotations

from typing import Any

import pytest

from endpoint_desk.adapters.webchat.completion import (
    BUSY_STALL,
    NET_QUIET,
    SETTLE,
    STALL_FACTOR,
    Completion,
)
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import UpstreamError, UpstreamTimeout

SENT = 100.0  # the made-up monotonic time the prompt was sent


def rule(enough: Any = None, **options: Any) -> Completion:
    o = WebChatOptions.from_dict(
        {"input": "#i", "assistant": ".a", "start_timeout": 5, **options}, default_url="http://x/"
    )
    return Completion(o, "w", SENT, 30.0, started=SENT - 0.5, enough=enough)


def test_before_any_text_it_waits_for_the_start_then_for_the_hard_limit() -> None:
    done = rule()
    assert done.wait(SENT + 1, "", False) == pytest.approx(1.0)  # to the resend check
    assert not done.stalled(SENT + 1.9, got_events=False)
    assert done.stalled(SENT + 2.0, got_events=False)  # once: send again if still typed
    assert not done.stalled(SENT + 2.5, got_events=False)
    assert done.wait(SENT + 2, "", False) == pytest.approx(3.0)  # start_timeout left
    assert not done.unconfirmed(SENT + 4.9, got_events=False)
    assert done.unconfirmed(SENT + 5.0, got_events=False)
    done.confirmed()
    assert not done.unconfirmed(SENT + 6, got_events=False)
    assert done.wait(SENT + 6, "", False) == pytest.approx(23.5)  # to the hard limit


def test_a_page_that_shows_anything_is_never_sent_to_again() -> None:
    done = rule()
    assert not done.stalled(SENT + 3, got_events=True)
    done.busy_changed(True)
    assert not done.stalled(SENT + 4, got_events=False)


def test_the_hard_limit_counts_from_before_sending() -> None:
    done = rule()
    done.busy_changed(True)
    assert done.wait(SENT + 29, "", False) == pytest.approx(0.5)
    with pytest.raises(UpstreamTimeout, match="within 30 s"):
        done.wait(SENT + 29.5, "", False)


def test_a_busy_signal_that_ends_without_text_is_a_page_that_stopped() -> None:
    done = rule(busy="#stop")
    done.busy_changed(True)
    assert done.taken
    done.busy_changed(False)
    with pytest.raises(UpstreamError, match="stopped answering"):
        done.wait(SENT + 2, "", False)


def test_with_a_busy_signal_the_reply_ends_quiet_ms_after_it_went() -> None:
    done = rule(busy="#stop", quiet_ms=60)
    done.busy_changed(True)
    done.text_changed(SENT + 1, "Hello")
    # busy: it waits (a stuck signal only for BUSY_STALL of quiet, not the hard limit)
    assert done.wait(SENT + 5, "Hello", False) == pytest.approx(BUSY_STALL - 4)
    done.busy_changed(False)
    assert done.wait(SENT + 1.03, "Hello", False) == pytest.approx(0.03)
    assert done.wait(SENT + 1.06, "Hello", False) is None
    # events still queued: read them before finishing
    assert done.wait(SENT + 1.06, "Hello", True) is not None


def test_without_a_busy_signal_the_window_outlasts_the_longest_pause() -> None:
    done = rule(idle_quiet_ms=1500, pause_factor=2.0)
    done.text_changed(SENT + 1, "One.")
    assert done.window("One.") == pytest.approx(1.5)
    done.text_changed(SENT + 2, "One. Two.")  # a 1 s pause: the window grows to 2 s
    assert done.longest_pause == pytest.approx(1.0)
    assert done.window("One. Two.") == pytest.approx(2.0)
    assert done.wait(SENT + 3.9, "One. Two.", False) == pytest.approx(0.1)
    assert done.wait(SENT + 4.0, "One. Two.", False) is None


def test_a_reply_the_caller_knows_is_whole_only_settles() -> None:
    done = rule(enough=lambda text: "42" in text, idle_quiet_ms=1500)
    done.text_changed(SENT + 1, "The answer")
    assert done.window("The answer") == pytest.approx(1.5)
    done.text_changed(SENT + 1.2, "The answer is 42.")
    assert done.window("The answer is 42.") == pytest.approx(SETTLE)
    assert done.wait(SENT + 1.2 + SETTLE + 0.01, "The answer is 42.", False) is None


def test_a_busy_signal_that_never_clears_ends_on_quiet_not_the_hard_limit() -> None:
    done = rule(busy="#stop", quiet_ms=60)
    done.busy_changed(True)
    done.text_changed(SENT + 1, "Hello")
    assert done.wait(SENT + 1 + BUSY_STALL - 0.1, "Hello", False) == pytest.approx(0.1)
    assert done.wait(SENT + 1.01 + BUSY_STALL, "Hello", False) is None


def test_the_composer_back_in_its_idle_state_ends_the_reply_at_once() -> None:
    # no busy selector; the page turned Send into Stop while the text streamed
    done = rule(idle_quiet_ms=1500, quiet_ms=60)
    done.composer_changed(False)  # the prompt typed: Send is usable (before any text)
    done.composer_changed(True)  # sent: the composer as before (no signal so far)
    done.text_changed(SENT + 1, "Hel")
    assert not done.composer_seen
    assert done.window("Hel") == pytest.approx(1.5)
    done.composer_changed(False)  # Stop generating, while the reply is on the page
    done.text_changed(SENT + 1.5, "Hello")
    assert done.window("Hello") == pytest.approx(BUSY_STALL)  # answering: no pause ends it
    done.composer_changed(True)
    assert done.window("Hello") == pytest.approx(0.06)
    assert done.wait(SENT + 1.6, "Hello", False) is None


def test_a_stuck_busy_signal_counts_as_cleared_once_the_composer_is_back() -> None:
    done = rule(busy=".spinner", quiet_ms=60)
    done.busy_changed(True)
    done.composer_changed(False)
    done.text_changed(SENT + 1, "Hello")
    done.composer_changed(True)  # Send is back; the spinner stays
    assert done.wait(SENT + 1.1, "Hello", False) is None


def test_open_requests_keep_a_pausing_reply_going_and_their_end_ends_it() -> None:
    # no busy signal: the reply's own request (its stream) is the signal
    done = rule(idle_quiet_ms=1500, pause_factor=2.0)
    done.requests_changed(True)
    done.text_changed(SENT + 1, "One.")
    assert done.requests_seen
    # a 1.6 s pause mid-reply does not end it (the stream is open)
    assert done.wait(SENT + 2.6, "One.", False) == pytest.approx(STALL_FACTOR * 1.5 - 1.6)
    done.text_changed(SENT + 2.6, "One. Two.")
    done.requests_changed(False)
    assert done.wait(SENT + 2.6 + NET_QUIET - 0.01, "One. Two.", False) is not None
    assert done.wait(SENT + 2.6 + NET_QUIET + 0.01, "One. Two.", False) is None


def test_a_request_that_never_ends_falls_back_to_quiet_windows() -> None:
    done = rule(idle_quiet_ms=1000, pause_factor=2.0)
    done.requests_changed(True)  # a long-poll
    done.text_changed(SENT + 1, "Hi.")
    assert done.wait(SENT + 1.01 + STALL_FACTOR * 1.0, "Hi.", False) is None


def test_after_the_busy_signal_the_window_follows_the_replys_pace() -> None:
    done = rule(busy=".cursor", quiet_ms=60, pause_factor=2.0)
    done.busy_changed(True)
    for i in range(5):  # a word every 0.1 s
        done.text_changed(SENT + 1 + i * 0.1, "w" * (i + 1))
    done.busy_changed(False, SENT + 1.5)  # 0.1 s after the last word
    assert done.usual_gap() == pytest.approx(0.1)
    # the next word may still come: twice the pace after the signal went
    assert done.window("wwwww") == pytest.approx(0.3)


def test_text_after_the_busy_signal_went_makes_it_unreliable() -> None:
    # a busy selector learned on a one-paragraph canary stops matching mid-reply
    done = rule(busy=".cursor", quiet_ms=60, idle_quiet_ms=1500)
    done.busy_changed(True)
    done.text_changed(SENT + 1, "Here is the plan.")
    done.busy_changed(False)
    done.text_changed(SENT + 1.1, "Here is the plan.\n\nread")
    assert done.busy_unreliable
    assert done.window("Here is the plan.\n\nread") == pytest.approx(1.5)
