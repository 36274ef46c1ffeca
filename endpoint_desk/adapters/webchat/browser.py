"""The one Chromium per event loop that every web chat endpoint shares, browser
contexts (one per endpoint: its own cookies and storage), and saved sessions.

Nothing here launches a browser per request: ``shared_browser()`` launches Chromium
once per loop (and again only after it crashed); the engine closes it at shutdown
through ``adapters.base.close_shared_resources()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from endpoint_desk.adapters.webchat.errors import first_line
from endpoint_desk.core.errors import BrowserError, ConfigError
from endpoint_desk.core.models import BrowserConfig
from endpoint_desk.core.paths import get_paths

log = logging.getLogger(__name__)

LAUNCH_ARGS = (
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def find_executable(config: BrowserConfig | None = None) -> str | None:
    """The Chromium to drive, first found of: ``config.executable_path``, the
    ``DESK_CHROMIUM`` environment variable, ``Settings.browser.executable_path``,
    ``chromium`` / ``chromium-browser`` / ``google-chrome`` on ``PATH``; ``None`` means
    Playwright's own build.

    Raises:
        ConfigError: a configured path does not exist.
    """
    configured = config.executable_path if config else None
    source = "browser_config.executable_path"
    if not configured and os.environ.get("DESK_CHROMIUM"):
        configured, source = os.environ["DESK_CHROMIUM"], "DESK_CHROMIUM"
    if not configured:
        with contextlib.suppress(Exception):
            from endpoint_desk.core.config import load_settings

            configured = load_settings().browser.executable_path
            source = "settings browser.executable_path"
    if configured:
        path = Path(configured).expanduser()
        if not path.is_file():
            found = shutil.which(configured)
            if found is None:
                raise ConfigError(f"{source} points at {configured!r}, which does not exist")
            return found
        return str(path)
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_args() -> list[str]:
    """Chromium's command-line flags; ``--no-sandbox`` only when running as root (the
    sandbox cannot start there) so Chromium's own sandbox stays on wherever it can."""
    args = list(LAUNCH_ARGS)
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and geteuid() == 0:
        args.append("--no-sandbox")
    return args


@dataclass
class _Shared:
    playwright: Any = None
    browsers: dict[tuple[str | None, bool], Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    launches: int = 0


_SHARED: dict[asyncio.AbstractEventLoop, _Shared] = {}


def _shared() -> _Shared:
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    if shared is None:
        shared = _Shared()
        _SHARED[loop] = shared
        from endpoint_desk.adapters.base import register_shared_closer

        register_shared_closer(close_shared_browser)
    return shared


def launch_count() -> int:
    """How many times this loop launched Chromium (tests prove there is one)."""
    loop = asyncio.get_running_loop()
    shared = _SHARED.get(loop)
    return shared.launches if shared else 0


async def shared_browser(
    config: BrowserConfig | None = None, *, headless: bool | None = None
) -> Any:
    """The running loop's Chromium (launched on first use, relaunched after a crash).

    Endpoints with the same executable and headless mode share one process.

    Raises:
        BrowserError: Chromium cannot be started.
    """
    shared = _shared()
    executable = find_executable(config)
    want_headless = headless if headless is not None else (config.headless if config else True)
    key = (executable, want_headless)
    async with shared.lock:
        browser = shared.browsers.get(key)
        if browser is not None and browser.is_connected():
            return browser
        try:
            if shared.playwright is None:
                from playwright.async_api import async_playwright

                shared.playwright = await async_playwright().start()
            browser = await shared.playwright.chromium.launch(
                executable_path=executable,
                headless=want_headless,
                args=launch_args(),
                ignore_default_args=["--enable-automation"],
            )
        except Exception as exc:
            where = executable or "Playwright's own Chromium"
            raise BrowserError(
                f"cannot start Chromium ({where}): {first_line(exc)}; set DESK_CHROMIUM or "
                "browser.executable_path to a working Chromium"
            ) from exc
        shared.launches += 1
        shared.browsers[key] = browser
        log.info("launched Chromium %s (headless=%s)", browser.version, want_headless)
        return browser


async def close_shared_browser() -> None:
    """Close the running loop's Chromium processes and Playwright (engine shutdown)."""
    loop = asyncio.get_running_loop()
    shared = _SHARED.pop(loop, None)
    if shared is None:
        return
    for browser in shared.browsers.values():
        with contextlib.suppress(Exception):
            await browser.close()
    if shared.playwright is not None:
        with contextlib.suppress(Exception):
            await shared.playwright.stop()
    for other in [lp for lp in _SHARED if lp.is_closed()]:
        _SHARED.pop(other, None)


def ordinary_user_agent(browser: Any) -> str:
    """A desktop Chrome user agent for ``browser``'s version (no "HeadlessChrome")."""
    major = str(browser.version).split(".")[0] or "120"
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


def session_file(name: str) -> Path:
    """Where endpoint ``name`` keeps its saved browser session (``storage_state``)."""
    return get_paths().sessions_dir / f"{name}.json"


def write_session(name: str, state: dict[str, Any]) -> Path:
    """Write ``state`` owner-only (0600, folder 0700) and return its path."""
    path = session_file(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        os.chmod(path.parent, 0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def read_session(name: str) -> dict[str, Any] | None:
    """The saved session of ``name``, or ``None`` (missing or unreadable)."""
    path = session_file(name)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def forget_session(name: str) -> None:
    """Delete the saved session of ``name`` (if any)."""
    with contextlib.suppress(FileNotFoundError):
        session_file(name).unlink()


async def new_context(
    browser: Any,
    config: BrowserConfig | None,
    *,
    storage_state: dict[str, Any] | None = None,
    proxy_password: str | None = None,
) -> Any:
    """A fresh, isolated browser context set up from ``config``.

    Raises:
        BrowserError: the context could not be created.
    """
    config = config or BrowserConfig()
    kwargs: dict[str, Any] = {
        "viewport": {"width": config.viewport.width, "height": config.viewport.height},
        "user_agent": config.user_agent or ordinary_user_agent(browser),
        "locale": "en-US",
    }
    if storage_state is not None:
        kwargs["storage_state"] = storage_state
    if config.proxy is not None:
        proxy: dict[str, str] = {"server": config.proxy.server}
        if config.proxy.username:
            proxy["username"] = config.proxy.username
        if proxy_password:
            proxy["password"] = proxy_password
        kwargs["proxy"] = proxy
    try:
        context = await browser.new_context(**kwargs)
    except Exception as exc:
        raise BrowserError(f"cannot open a browser context: {first_line(exc)}") from exc
    context.set_default_timeout(config.timeout * 1000)
    context.set_default_navigation_timeout(config.timeout * 1000)
    return context


async def open_context(
    config: BrowserConfig | None,
    *,
    storage_state: dict[str, Any] | None = None,
    proxy_password: str | None = None,
    headless: bool | None = None,
) -> Any:
    """A new context in the shared Chromium (``new_context``) with the in-page script
    (``window.__deskChat``) in every page: how the adapter, ``desk login`` and
    discovery all start.

    Raises:
        BrowserError: Chromium or the context could not be started.
    """
    from endpoint_desk.adapters.webchat import page_script

    browser = await shared_browser(config, headless=headless)
    context = await new_context(
        browser, config, storage_state=storage_state, proxy_password=proxy_password
    )
    await context.add_init_script(script=page_script())
    return context
