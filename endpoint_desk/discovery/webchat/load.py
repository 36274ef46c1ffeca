"""Step 1, load: a fresh page in the desk's Chromium, wait until it shows a usable
input or a login wall, look inside frames, and pass a login wall with stored
credentials (else report ``LoginRequired`` with the ``desk login`` line).

The page is a ``PageDriver`` of the adapter: it loads URLs, translates Playwright's
errors and signs in exactly as the adapter will."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from endpoint_desk.adapters.webchat.browser import open_context, read_session
from endpoint_desk.adapters.webchat.driver import DriverConfig, PageDriver
from endpoint_desk.adapters.webchat.login import fill_login, same_page
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import DeskError, LoginRequired
from endpoint_desk.core.models import BrowserConfig
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer, wait_for
from endpoint_desk.discovery.webchat.script import discovery_script

__all__ = ["fresh_page", "load", "login", "open_page", "try_frames", "wait_ready"]


async def open_page(
    name: str, url: str, bconf: BrowserConfig, timeout: float, resolve: Callable[[str], str]
) -> tuple[Any, PageDriver, dict[str, Any] | None]:
    """A new context (with the endpoint's saved session, if any) holding the adapter's
    and discovery's in-page scripts, and a page in it driven the adapter's way:
    ``(context, driver, session)``.

    Raises:
        BrowserError: Chromium, the context or the page could not be started.
    """
    state = read_session(name)
    proxy = bconf.proxy
    context = await open_context(
        bconf,
        storage_state=state,
        proxy_password=resolve(proxy.password) if proxy and proxy.password else None,
    )
    try:
        await context.add_init_script(script=discovery_script())
        config = DriverConfig(name, WebChatOptions.unconfigured(url), timeout)
        driver = await PageDriver.open(context, config)
    except BaseException:
        with contextlib.suppress(Exception):
            await context.close()
        raise
    return context, driver, state


async def load(an: Analysis, timeout: float, *, saved: bool) -> str:
    """Open the chat page and wait until it is ready (see ``wait_ready``); the ``load``
    step.

    Raises:
        Unreachable: nothing answers at the URL.
        UpstreamTimeout: the page did not load within ``timeout``.
        BrowserError: the page did not load.
    """
    t = Timer()
    await an.driver.goto(an.url)
    ready = await wait_ready(an, timeout)
    an.timings["load"] = t.ms
    await an.step(
        "load",
        True,
        f"loaded {an.page.url}" + (" with the saved session" if saved else ""),
        t.ms,
    )
    return ready


async def wait_ready(an: Analysis, timeout: float) -> str:
    """Wait until the page shows a usable input or a login wall: ``input``/``login``/``""``
    (``frame``: an input inside a frame; ``link``: only a sign-in control). Unlike the
    adapter's ``PageDriver.wait_ready``, this needs no selector: any input candidate
    the in-page script ranks as likely will do."""

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
        for frame in an.page.frames[1:]:
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


async def fresh_page(an: Analysis, timeout: float) -> None:
    """Reload the chat page (a new conversation; throws away a failed pattern's state)."""
    await an.driver.goto(an.url)
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
                await an.driver.goto(frame_url)
                an.moved_to = frame_url
                await wait_ready(an, timeout)
                return


async def login(
    an: Analysis,
    name: str,
    username: str | None,
    password: str | None,
    resolve: Callable[[str], str],
    login_url: str | None,
    timeout: float,
) -> dict[str, Any]:
    """Pass a login wall with stored credentials, the way the adapter signs in
    (``adapters.webchat.login.fill_login``); the options that say how.

    Raises:
        LoginRequired: no credentials, or they did not get past the wall.
    """
    url = an.url
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
    try:
        await fill_login(an.driver, user_value, pass_value, login_url)
        if not same_page(an.page.url, url):
            await an.driver.goto(url)
    except DeskError as exc:
        await an.step("login", False, exc.one_line())
        raise
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
