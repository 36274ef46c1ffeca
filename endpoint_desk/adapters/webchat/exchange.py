"""One exchange on a page: send a prompt, then stream the reply out of the page.

``send_prompt`` arms the in-page observer (``__deskChat.arm``: remember the newest
assistant message), puts the prompt in the input and sends it (the send control once
it is usable, else ``send_key``). ``stream_reply`` yields the newest assistant
message's text as it grows, from the events the in-page script pushes (or that Python
polls, ``report = "poll"``), until the completion rule (``completion.py``) says the
reply is over. A page that shows neither text nor a busy signal ``start_timeout``
after sending is checked for having taken the message at all (``confirm_taken``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from endpoint_desk.adapters.webchat.completion import Completion
from endpoint_desk.adapters.webchat.errors import first_line, is_page_gone, session_expired
from endpoint_desk.adapters.webchat.settle import settled
from endpoint_desk.core.errors import BrowserError, DeskError

if TYPE_CHECKING:
    from endpoint_desk.adapters.webchat.driver import PageDriver

log = logging.getLogger(__name__)

__all__ = ["Reply", "confirm_taken", "page_error", "send_prompt", "stream_reply"]


@dataclass
class Reply:
    """The reply as streamed so far.

    Attributes:
        text: the page's text of the reply (its whole, final text once the stream
            ended).
        streamed: the text yielded (``text`` unless the page rewrote a part of it that
            had already been yielded).
        rewritten: the page rewrote text that had already been yielded (``streamed``
            keeps it as first yielded; ``text`` is the page's).
    """

    text: str = ""
    streamed: str = ""
    rewritten: bool = False


async def stream_reply(
    driver: PageDriver,
    prompt: str,
    reply: Reply,
    *,
    enough: Callable[[str], bool] | None = None,
) -> AsyncIterator[str]:
    """Send ``prompt`` and yield the reply's text as it grows (deltas); the reply ends
    by the completion rule (``completion.py``).

    ``enough(text)``: the caller can tell the reply is whole (discovery's canary holds
    its answer); once it is and the page is not busy, ``SETTLE`` seconds of quiet end
    the reply instead of the (longer) quiet window.

    While the reply streams only its ``settled`` part is yielded (the page may still
    render the rest differently: markdown); the rest once the reply is over.

    Raises:
        BrowserError: the page died, or did not take the message.
        LoginRequired: the page went to a login wall.
        UpstreamError: the page stopped answering without a reply.
        UpstreamTimeout: the reply did not finish within the reply timeout.
    """
    name = driver.name
    page = driver.page
    driver.drain()
    if driver.dead:
        raise BrowserError(f"{name}: the page died before sending", endpoint=name)
    t0 = time.monotonic()
    driver.watch_requests(True)
    try:
        await send_prompt(driver, prompt)
    except PlaywrightError as exc:
        driver.watch_requests(False)
        raise page_error(driver, exc, "sending the message") from exc
    except BaseException:
        driver.watch_requests(False)
        raise
    done = Completion(
        driver.options,
        name,
        time.monotonic(),
        driver.config.reply_timeout,
        started=t0,
        enough=enough,
    )
    page_text = emitted = ""
    try:
        while True:
            wait = done.wait(time.monotonic(), page_text, not driver.events.empty())
            if wait is None:
                break
            # (events still queued: late text, or the page left for another document
            # such as a login wall; they are read before finishing)
            events = await _next_events(driver, max(0.001, wait))
            if done.stalled(time.monotonic(), bool(events)) and await _still_in_input(
                driver, prompt
            ):
                await _send_again(driver)
            if done.unconfirmed(time.monotonic(), bool(events)):
                await confirm_taken(driver, prompt)
                done.confirmed()
            changed = noted = False
            for ev in events:
                if "d" in ev:
                    page_text += str(ev["d"])
                    changed, noted = True, False
                if "r" in ev:
                    page_text = str(ev["r"])
                    changed, noted = True, False
                if changed and not noted and ("b" in ev or "i" in ev or "n" in ev):
                    # the text changed before the signal did (one batch, in order)
                    done.text_changed(time.monotonic(), page_text)
                    noted = True
                if "b" in ev:
                    done.busy_changed(bool(ev["b"]), time.monotonic())
                if "i" in ev:
                    done.composer_changed(bool(ev["i"]))
                if "n" in ev:
                    done.requests_changed(bool(ev["n"]))
            if changed:
                if not noted:
                    done.text_changed(time.monotonic(), page_text)
                delta = _delta(emitted, settled(page_text))
                if delta:
                    emitted += delta
                    yield delta
        # over: the page's final text; what is still held back follows
        delta = _delta(emitted, page_text)
        if delta:
            emitted += delta
            yield delta
    finally:
        driver.watch_requests(False)
        reply.streamed = emitted
        reply.text = page_text
        if not driver.dead:
            with contextlib.suppress(Exception):
                await page.evaluate("() => window.__deskChat.disarm()")
    if page_text != emitted:
        reply.rewritten = True
        log.info("%s: the page rewrote a part of its reply already streamed", name)


def _delta(emitted: str, text: str) -> str:
    """What ``text`` adds to the ``emitted`` text ("" when it does not extend it)."""
    return text[len(emitted) :] if text.startswith(emitted) else ""


async def _next_events(driver: PageDriver, timeout: float) -> list[dict[str, Any]]:
    """The next batch of page events (empty after ``timeout``).

    Raises:
        BrowserError: the page crashed, was closed, or loaded another document.
        LoginRequired: it loaded a login wall (the session expired mid-reply).
    """
    events = driver.events
    if driver.options.report == "poll":
        queued: list[dict[str, Any]] = []
        while not events.empty():
            kind, data = events.get_nowait()
            queued.extend(await _page_event(driver, kind, data))
        await asyncio.sleep(min(timeout, driver.options.poll_ms / 1000))
        try:
            batch = queued + list(
                await driver.page.evaluate("() => window.__deskChat.take()") or []
            )
        except PlaywrightError as exc:
            if not events.empty():
                kind, data = events.get_nowait()
                await _page_event(driver, kind, data)
            raise page_error(driver, exc, "reading the reply") from exc
        return batch
    try:
        kind, data = await asyncio.wait_for(events.get(), timeout)
    except TimeoutError:
        return []
    out: list[dict[str, Any]] = []
    while True:
        out.extend(await _page_event(driver, kind, data))
        try:
            kind, data = events.get_nowait()
        except asyncio.QueueEmpty:
            return out


async def _page_event(driver: PageDriver, kind: str, data: Any) -> list[dict[str, Any]]:
    """Turn one queued page event into reply events, or raise for a lost page."""
    name = driver.name
    if kind == "ev":
        return list(data or [])
    if kind == "net":  # requests the page started since sending: open or all done
        return [{"n": bool(data)}]
    if kind == "dead":
        driver.dead = True
        raise BrowserError(f"{name}: {data} while the reply was streaming", endpoint=name)
    # "nav": a new document replaced the one that was answering
    driver.fresh = False
    state = ""
    with contextlib.suppress(PlaywrightError):
        state = await driver.ready_once(3.0)
    if state == "login":
        raise session_expired(name, "the page went to a login wall while answering")
    raise BrowserError(
        f"{name}: the page loaded another document while answering; the reply is lost",
        endpoint=name,
    )


def page_error(driver: PageDriver, exc: BaseException, what: str) -> DeskError:
    """A Playwright error while ``what`` as a ``BrowserError`` (a dead page is noted)."""
    name = driver.name
    msg = first_line(exc)
    page = driver.page
    if page is None or page.is_closed() or is_page_gone(msg):
        driver.dead = True
        return BrowserError(f"{name}: the page died while {what}: {msg}", endpoint=name)
    return BrowserError(f"{name}: {what} failed: {msg}", endpoint=name)


async def send_prompt(driver: PageDriver, prompt: str) -> None:
    """Arm the in-page observer, put ``prompt`` in the input and send it.

    Raises:
        LoginRequired: the page shows a login wall instead of the input.
        BrowserError: no input, or the send control did not become usable.
        PlaywrightError: the page failed (the caller translates it).
    """
    o = driver.options
    name = driver.name
    page = driver.page
    # one round trip: remember the newest assistant message, find the input
    handle = await page.evaluate_handle(
        "cfg => { const d = window.__deskChat; d.arm(cfg); return d.firstVisible(cfg.input); }",
        o.page_config(),
    )
    el = handle.as_element()
    if el is None:
        state = await page.evaluate("cfg => window.__deskChat.ready(cfg)", o.page_config())
        if state == "login":
            raise session_expired(name, "the page shows a login wall")
        raise BrowserError(
            f"{name}: the message input {o.input!r} matches nothing visible",
            endpoint=name,
        )
    try:
        if o.input_mode == "type":
            await el.click(force=True)
            lines = prompt.split("\n")
            for i, line in enumerate(lines):
                if i:
                    await page.keyboard.press("Shift+Enter")
                await page.keyboard.type(line)
        elif "\n" in prompt and await el.evaluate("el => el.isContentEditable"):
            # rich editors turn inserted newlines into paragraphs of their own;
            # a person presses Shift+Enter between lines
            first, *rest = prompt.split("\n")
            await el.fill(first)
            for line in rest:
                await page.keyboard.press("Shift+Enter")
                if line:
                    await page.keyboard.insert_text(line)
        else:
            await el.fill(prompt)
        if o.send:
            try:
                button = await page.wait_for_function(
                    """sel => {
                      const b = window.__deskChat.firstVisible(sel);
                      return b && !b.disabled && b.getAttribute('aria-disabled') !== 'true'
                        ? b : null;
                    }""",
                    arg=o.send,
                    timeout=o.start_timeout * 1000,
                )
            except PlaywrightTimeout as exc:
                fixed = await driver.repair("send")
                if fixed is not None and fixed.send != o.send:
                    await send_prompt(driver, prompt)  # once more, with the repaired options
                    return
                raise BrowserError(
                    f"{name}: the send control {o.send!r} did not become usable",
                    endpoint=name,
                ) from exc
            b = button.as_element()
            if b is None:
                raise BrowserError(f"{name}: the send control {o.send!r} vanished")
            # force: visibility and enabled state were checked above; Playwright's
            # own stability wait costs up to seconds on some pages
            await b.click(force=True)
            driver.dispose_later(button)
        else:
            await el.press(o.send_key)
    finally:
        driver.dispose_later(handle)


async def _still_in_input(driver: PageDriver, prompt: str) -> bool:
    """Whether the prompt is still in the message input (the page did not take it)."""
    try:
        value = await driver.page.evaluate(
            """sel => {
              const el = window.__deskChat.firstVisible(sel);
              if (!el) return null;
              return 'value' in el && el.tagName !== 'DIV' ? el.value : el.innerText;
            }""",
            driver.options.input,
        )
    except PlaywrightError as exc:
        raise page_error(driver, exc, "checking the message was sent") from exc
    return value is not None and bool(prompt.strip()) and prompt.strip()[:40] in str(value)


async def _send_again(driver: PageDriver) -> None:
    """Send once more what is in the input: a page still connecting (a websocket app
    after a reload) may ignore a send control clicked too early."""
    o = driver.options
    log.debug("%s: the prompt is still in the input; sending again", driver.name)
    try:
        if o.send:
            await driver.page.evaluate(
                """sel => { const b = window.__deskChat.firstVisible(sel);
                            if (b && !b.disabled) b.click(); }""",
                o.send,
            )
        else:
            el = await driver.page.evaluate_handle(
                "sel => window.__deskChat.firstVisible(sel)", o.input
            )
            target = el.as_element()
            if target is not None:
                await target.press(o.send_key)
            driver.dispose_later(el)
    except PlaywrightError as exc:
        raise page_error(driver, exc, "sending again") from exc


async def confirm_taken(driver: PageDriver, prompt: str) -> None:
    """No reply and no busy signal ``start_timeout`` after sending: did the page take
    the message at all?

    Raises:
        BrowserError: the prompt is still in the input (or the page failed).
    """
    o = driver.options
    if await _still_in_input(driver, prompt):
        raise BrowserError(
            f"{driver.name}: the page did not take the message (it is still in the input "
            f"after {o.start_timeout:g} s; check the send control or key)",
            endpoint=driver.name,
        )
