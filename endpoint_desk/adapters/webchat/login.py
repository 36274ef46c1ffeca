"""Signing in to a web chat and keeping the session.

- ``fill_login``: fill and submit a login form with stored credentials (on one page;
  a form post or a page that signs in without loading another document).
- ``Sessions``: one endpoint's sign-ins (one at a time: the pages share cookies) and
  its saved ``storage_state`` (an owner-only file in the sessions folder).
- ``interactive_login``: a browser for a person to sign in once (OAuth, 2FA...); the
  session is saved for the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from endpoint_desk.adapters.base import SecretResolver
from endpoint_desk.adapters.webchat.browser import open_context, read_session, write_session
from endpoint_desk.adapters.webchat.driver import DriverConfig, PageDriver
from endpoint_desk.adapters.webchat.errors import first_line
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.adapters.webchat.repair import SpecRepair
from endpoint_desk.core.errors import BrowserError, LoginRequired
from endpoint_desk.core.models import BrowserConfig, EndpointSpec

__all__ = ["Sessions", "fill_login", "interactive_login", "same_page"]


async def fill_login(
    driver: PageDriver, user: str | None, password: str | None, login_url: str | None
) -> None:
    """Fill and submit the login form with the stored credentials (on ``login_url``
    when given, else on the page as it is).

    Raises:
        LoginRequired: no username/password configured, or no login form found.
    """
    o = driver.options
    name = driver.name
    page = driver.page
    if not user or not password:
        raise LoginRequired(
            f"{name}: {o.url} shows a login wall; run `desk login {name}` to "
            "sign in once, or store a username and password for it",
            endpoint=name,
        )
    if login_url:
        try:
            await page.goto(login_url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            raise BrowserError(f"{name}: cannot load the login page: {first_line(exc)}") from exc
    try:
        await page.wait_for_function(
            "sel => window.__deskChat && window.__deskChat.firstVisible(sel)",
            arg=o.login_password,
            timeout=driver.config.timeout * 1000,
        )
        user_el = (
            await page.evaluate_handle(
                "sel => window.__deskChat.firstVisible(sel)", o.login_username
            )
        ).as_element()
        pass_el = (
            await page.evaluate_handle(
                "sel => window.__deskChat.firstVisible(sel)", o.login_password
            )
        ).as_element()
        if user_el is None or pass_el is None:
            raise LoginRequired(
                f"{name}: no login form found (username {o.login_username!r}, "
                f"password {o.login_password!r})",
                endpoint=name,
            )
        await user_el.fill(user)
        await pass_el.fill(password)
        submit = None
        if o.login_submit:
            submit = (
                await page.evaluate_handle(
                    "sel => window.__deskChat.firstVisible(sel)", o.login_submit
                )
            ).as_element()
        if submit is not None:
            await _submitted(driver, submit.click)
        else:
            await _submitted(driver, lambda: pass_el.press("Enter"))
    except PlaywrightTimeout as exc:
        raise LoginRequired(
            f"{name}: the login form did not submit: {first_line(exc)}",
            endpoint=name,
        ) from exc
    except PlaywrightError as exc:
        raise BrowserError(f"{name}: signing in failed: {first_line(exc)}") from exc


async def _submitted(driver: PageDriver, submit: Callable[[], Awaitable[None]]) -> None:
    """Submit the login form and wait until it went: a new document loaded (a form
    post), or, when no new document was even asked for, the password field is gone (a
    page that signs in in place, with a script).

    Raises:
        PlaywrightTimeout: neither happened within the driver's timeout.
    """
    page = driver.page
    asked = asyncio.Event()  # the main frame requested a new document
    navigated = asyncio.Event()  # ... and it replaced the old one

    def on_request(request: Any) -> None:
        with contextlib.suppress(PlaywrightError):
            if request.is_navigation_request() and request.frame == page.main_frame:
                asked.set()

    def on_navigated(frame: Any) -> None:
        if frame == page.main_frame:
            navigated.set()

    page.on("request", on_request)
    page.on("framenavigated", on_navigated)
    try:
        await submit()
        deadline = time.monotonic() + driver.config.timeout
        while not navigated.is_set():
            if not asked.is_set():
                try:
                    shown = await page.evaluate(
                        "sel => !!(window.__deskChat && window.__deskChat.firstVisible(sel))",
                        driver.options.login_password,
                    )
                except PlaywrightError:  # the document is being replaced
                    shown = True
                if not shown and not asked.is_set():
                    return
            left = deadline - time.monotonic()
            if left <= 0:
                raise PlaywrightTimeout(
                    "no new page, and the password field is still shown after "
                    f"{driver.config.timeout:g} s"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(navigated.wait(), min(0.1, left))
        await page.wait_for_load_state("domcontentloaded")
    finally:
        page.remove_listener("request", on_request)
        page.remove_listener("framenavigated", on_navigated)


def same_page(a: str, b: str) -> bool:
    """``a`` and ``b`` are the same page (a trailing slash aside)."""
    return a.rstrip("/") == b.rstrip("/")


class Sessions:
    """One endpoint's sign-ins and saved session, shared by its pages.

    Attributes:
        used: the endpoint has a session worth keeping (one was loaded, or it signed in).
    """

    def __init__(
        self,
        spec: EndpointSpec,
        options: Callable[[], WebChatOptions],
        secret: Callable[[str | None], str | None],
    ) -> None:
        self.spec = spec
        self._options = options
        self._secret = secret
        self._lock = asyncio.Lock()
        self.used = False

    @property
    def name(self) -> str:
        return self.spec.name

    def load(self) -> dict[str, Any] | None:
        """The saved session for a new context (``None``: none, or not kept)."""
        state = read_session(self.name) if self._options().save_session else None
        self.used = self.used or state is not None
        return state

    async def save(self, context: Any) -> Path:
        """Write the context's cookies and storage to the sessions folder (0600)."""
        state = await context.storage_state()
        path = write_session(self.name, state)
        self.used = True
        return path

    async def fill(self, driver: PageDriver) -> None:
        """``fill_login`` with the endpoint's stored credentials."""
        await fill_login(
            driver,
            self._secret(self.spec.username),
            self._secret(self.spec.password),
            self.spec.login_url,
        )

    async def sign_in(self, driver: PageDriver, context: Any) -> None:
        """Sign in with the stored credentials, then show the chat again.

        Raises:
            LoginRequired: no credentials, or they were refused.
        """
        async with self._lock:
            o = self._options()
            # another page may have signed in meanwhile: the cookies are shared
            if self.used:
                await driver.goto(o.url)
                if await driver.wait_ready() == "input":
                    return
            await self.fill(driver)
            if not same_page(driver.page.url, o.url):
                await driver.goto(o.url)
            if await driver.wait_ready() == "login":
                raise LoginRequired(
                    f"{self.name}: signing in with the stored username and password failed "
                    "(the login wall is still shown); check them or run "
                    f"`desk login {self.name}`",
                    endpoint=self.name,
                )
            self.used = True
            if o.save_session and context is not None:
                await self.save(context)


async def interactive_login(
    spec: EndpointSpec,
    resolve_secret: SecretResolver,
    *,
    headless: bool = False,
    timeout: float = 300.0,
) -> Path:
    """Open a browser on the endpoint's login page for a person to sign in once
    (OAuth, 2FA...), wait until the chat input shows, then save the session.

    Stored credentials, when present, are filled in first. With ``headless=True`` only
    stored credentials can sign in (for machines without a display).

    Returns:
        The saved session file (owner-only).
    Raises:
        LoginRequired: the chat input did not show within ``timeout`` seconds.
        BrowserError: the browser could not start (no display: use ``headless``).
    """
    o = WebChatOptions.from_spec(spec)
    bconf = spec.browser_config or BrowserConfig()

    def secret(ref: str | None) -> str | None:
        return None if ref is None else resolve_secret(ref)

    proxy = bconf.proxy
    context = await open_context(
        bconf,
        storage_state=read_session(spec.name),
        proxy_password=secret(proxy.password) if proxy and proxy.password else None,
        headless=headless,
    )
    try:
        page = await context.new_page()
        config = DriverConfig(spec.name, o, bconf.timeout)
        config.repair = SpecRepair(spec, config)
        driver = PageDriver(page, config)
        await driver.goto(o.url)
        state = await driver.wait_ready()
        if state == "login":
            if secret(spec.username) and secret(spec.password):
                await Sessions(spec, lambda: o, secret).fill(driver)
                await driver.goto(o.url)
            elif spec.login_url:
                await driver.goto(spec.login_url)
        try:
            await page.wait_for_function(
                "cfg => window.__deskChat && window.__deskChat.ready(cfg) === 'input'",
                arg=o.page_config(),
                timeout=timeout * 1000,
            )
        except PlaywrightTimeout as exc:
            raise LoginRequired(
                f"{spec.name}: the chat input did not show within {timeout:g} s; not signed in",
                endpoint=spec.name,
            ) from exc
        except PlaywrightError:
            # the person navigated: wait once more on the new document
            await driver.ready_once(timeout)
        saved = await context.storage_state()
        return write_session(spec.name, saved)
    finally:
        with contextlib.suppress(Exception):
            await context.close()
