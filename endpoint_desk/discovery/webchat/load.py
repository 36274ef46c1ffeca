"""Step 1, load: a fresh page in the desk's Chromium, wait until it shows a usable
input or a login wall, look inside frames, and pass a login wall with stored
credentials (else report ``LoginRequired`` with the ``desk login`` line)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from endpoint_desk.core.errors import BrowserError, LoginRequired, Unreachable
from endpoint_desk.core.models import BrowserConfig
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer, wait_for

__all__ = ["fresh_page", "load", "login", "open_page", "try_frames", "wait_ready"]

_UNREACHABLE = (
    "ERR_CONNECTION_REFUSED",
    "ERR_NAME_NOT_RESOLVED",
    "ERR_CONNECTION_RESET",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_INTERNET_DISCONNECTED",
)


async def open_page(name: str, bconf: BrowserConfig) -> tuple[Any, Any, dict[str, Any] | None]:
    """A new context (with the endpoint's saved session, if any) holding the adapter's
    and discovery's in-page scripts, and a page in it: ``(context, page, session)``."""
    from endpoint_desk.adapters.webchat import browser as wbrowser
    from endpoint_desk.adapters.webchat import page_script
    from endpoint_desk.discovery.webchat.script import discovery_script

    browser = await wbrowser.shared_browser(bconf)
    state = wbrowser.read_session(name)
    context = await wbrowser.new_context(browser, bconf, storage_state=state)
    await context.add_init_script(script=page_script())
    await context.add_init_script(script=discovery_script())
    page = await context.new_page()
    return context, page, state


async def load(an: Analysis, url: str, timeout: float, *, saved: bool) -> str:
    """Open ``url`` and wait until it is ready (see ``wait_ready``); the ``load`` step.

    Raises:
        Unreachable: nothing answers at ``url``.
        BrowserError: the page did not load.
    """
    t = Timer()
    page = an.page
    try:
        await page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if any(m in first for m in _UNREACHABLE):
            raise Unreachable(f"cannot load {url}: {first}") from exc
        raise BrowserError(f"cannot load {url}: {first}") from exc
    ready = await wait_ready(an, timeout)
    an.timings["load"] = t.ms
    await an.step(
        "load",
        True,
        f"loaded {page.url}" + (" with the saved session" if saved else ""),
        t.ms,
    )
    return ready


async def wait_ready(an: Analysis, timeout: float) -> str:
    """Wait until the page shows a usable input or a login wall: ``input``/``login``/``""``."""

    started = time.monotonic()

    async def check() -> str:
        try:
            wall = await an.js("loginWall()")
            if wall:
                return "login"
            cands = await an.js("inputs()")
        except Exception:  # navigation in progress: the scripts are not there yet
            return ""
        if any(c["visible"] and c["score"] > 0 for c in cands):
            return "input"
        for frame in an.page.frames[1:] if an.frame is an.page.main_frame else []:
            with contextlib.suppress(Exception):
                inner = await frame.evaluate("() => window.__deskDiscover.inputs()")
                if any(c["visible"] and c["score"] > 0 for c in inner):
                    return "frame"
        if time.monotonic() - started > 8.0:
            # loaded a while ago, no input, only a way to sign in: stop waiting
            with contextlib.suppress(Exception):
                if await an.js("loginLink()"):
                    return "link"
        return ""

    result: str = await wait_for(check, timeout, 0.15)
    return result


async def fresh_page(an: Analysis, url: str, timeout: float) -> None:
    """Reload the page (a new conversation; throws away a failed pattern's state)."""
    await an.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    an.frame = an.page.main_frame
    await wait_ready(an, timeout)


async def try_frames(an: Analysis, timeout: float) -> None:
    """When the main document has no input, look inside frames; a chat that lives in a
    frame is configured on the frame's own page."""
    for frame in an.page.frames[1:]:
        with contextlib.suppress(Exception):
            cands = await frame.evaluate("() => window.__deskDiscover.inputs()")
            if any(c["visible"] and c["score"] > 0 for c in cands):
                frame_url = frame.url
                an.evidence.append(
                    f"the chat lives in a frame from {frame_url}; configured that page directly"
                )
                await an.page.goto(frame_url, wait_until="domcontentloaded")
                an.frame = an.page.main_frame
                an.moved_to = frame_url
                await wait_ready(an, timeout)
                return


async def login(
    an: Analysis,
    name: str,
    username: str | None,
    password: str | None,
    resolve: Callable[[str], str],
    url: str,
    timeout: float,
) -> dict[str, Any]:
    """Fill a simple login form with stored credentials; the selectors it used."""
    wall = await an.js("loginWall()")
    if not username or not password:
        await an.step("login", False, f"the page shows a login wall ({wall['text'][:60]}...)")
        raise LoginRequired(
            f"{url} shows a login wall instead of a chat: sign in once with "
            f"`desk login {name} {url}` (a visible browser; the session is kept), or give "
            "stored credentials (--username-env/--password-env) and run `desk add` again"
        )
    t = Timer()
    user_value, pass_value = resolve(username), resolve(password)
    an.forbidden += [user_value, pass_value]
    page = an.page
    pw = page.locator("input[type=password]").first
    form_user = page.locator(
        "input[autocomplete=username], input[type=email], input[name*=user i], "
        "input[name*=login i], input[name*=email i], input[type=text]"
    ).first
    await form_user.fill(user_value)
    await pw.fill(pass_value)
    submit = page.locator("button[type=submit], input[type=submit]").first
    async with contextlib.AsyncExitStack():
        if await submit.count():
            await submit.click()
        else:
            await pw.press("Enter")
    with contextlib.suppress(Exception):
        await page.wait_for_load_state("domcontentloaded", timeout=timeout * 1000)
    if an.page.url.rstrip("/") != url.rstrip("/") and "login" in an.page.url:
        await page.goto(url, wait_until="domcontentloaded")
    state = await wait_ready(an, timeout)
    if state != "input":
        await an.step("login", False, "stored credentials did not get past the login wall")
        raise LoginRequired(
            f"{url}: the stored credentials did not get past the login wall "
            f"(try `desk login {name} {url}`)"
        )
    await an.step("login", True, "signed in with the stored credentials", t.ms)
    an.evidence.append("a login wall (password field) was passed with stored credentials")
    return {"login_wall": "input[type=password]"}
