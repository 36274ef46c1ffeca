"""``WebChatAdapter``: a chat page in a browser, driven like an API.

One Chromium per event loop (``browser.shared_browser``), one context per endpoint
(its own cookies and storage, the saved session loaded into it), a pool of warm pages
(``options.pages``, else ``limits.max_concurrent_requests``, else ``DEFAULT_PAGES``),
one request per page at a time.

Per request: pick a page (the one holding the conversation when the request repeats
its earlier messages, else a fresh one), arm the in-page observer, put the prompt in
the input and send it, then stream the newest assistant message's text as it grows.
The reply ends on the page's busy signal plus ``quiet_ms`` of unchanged text; without a
busy signal, on a quiet window of ``max(idle_quiet_ms, pause_factor * longest pause)``;
always within ``reply_timeout``.

Configuration (``EndpointSpec.options``; every key is documented on
:class:`~endpoint_desk.adapters.webchat.options.WebChatOptions`): ``url``, ``input``,
``assistant``, ``assistant_text``, ``ignore``, ``send``, ``send_key``,
``user_message``, ``busy``, ``busy_input``, ``new_chat``, ``new_chat_url``,
``login_wall``, ``login_username``, ``login_password``, ``login_submit``,
``input_mode``, ``quiet_ms``, ``idle_quiet_ms``, ``pause_factor``, ``reply_timeout``,
``start_timeout``, ``pages``, ``keep_conversations``, ``save_session``, ``report``,
``poll_ms``, ``alternates``, ``meta``. ``EndpointSpec.browser_config`` sets headless,
user agent, viewport, timeout, proxy and the Chromium executable; ``login_url``,
``username`` and ``password`` (secret references) let the adapter sign in by itself.

Errors: ``LoginRequired`` (a login wall, an expired session), ``BrowserError`` (a
crashed page or browser, selectors that no longer match, a message the page did not
take), ``UpstreamTimeout`` (the hard reply limit), ``Unreachable`` (the page does not
load).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from endpoint_desk.adapters.base import Adapter, Capabilities, SecretResolver
from endpoint_desk.adapters.webchat import page_script
from endpoint_desk.adapters.webchat.browser import (
    new_context,
    read_session,
    session_file,
    shared_browser,
    write_session,
)
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import (
    BadRequest,
    BrowserError,
    DeskError,
    LoginRequired,
    Unreachable,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import (
    BrowserConfig,
    ChatChunk,
    ChatRequest,
    EndpointKind,
    EndpointSpec,
    ProbeResult,
)

log = logging.getLogger(__name__)

DEFAULT_PAGES = 2
"""Warm pages of a web chat whose endpoint sets neither ``options.pages`` nor a
concurrency limit (each page answers one request at a time; the rest wait for a page)."""

_ROLE_LABELS = {
    "system": "System",
    "developer": "System",
    "user": "User",
    "assistant": "Assistant",
    "tool": "Tool",
    "function": "Tool",
}
_UNREACHABLE_MARKERS = (
    "ERR_CONNECTION_REFUSED",
    "ERR_NAME_NOT_RESOLVED",
    "ERR_CONNECTION_RESET",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_PROXY_CONNECTION_FAILED",
)

Message = tuple[str, str]


def flatten_messages(messages: list[Message]) -> str:
    """The OpenAI message list as one prompt: a lone user message as is, anything
    longer as ``Role: text`` paragraphs."""
    if len(messages) == 1 and messages[0][0] == "user":
        return messages[0][1]
    return "\n\n".join(f"{_ROLE_LABELS.get(role, role.title())}: {text}" for role, text in messages)


def _norm(messages: list[Message] | tuple[Message, ...]) -> tuple[Message, ...]:
    return tuple((role, " ".join(text.split())) for role, text in messages)


def _origin(url: str) -> str:
    """``scheme://host:port`` of a URL (default ports spelled out), lowercased."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def _page_origins(spec: EndpointSpec, options: WebChatOptions) -> frozenset[str]:
    """Origins the adapter's pages may navigate to (``"*"``: any)."""
    urls = [spec.base_url, spec.login_url, options.url, options.new_chat_url]
    found = {_origin(u) for u in urls if u}
    for o in options.allowed_origins:
        found.add("*" if o.strip() == "*" else _origin(o))
    return frozenset(found - {""})


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass(eq=False)
class _Slot:
    """One warm page and the conversation it holds."""

    index: int
    page: Any = None
    events: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    in_use: bool = False
    dead: bool = True
    fresh: bool = False
    history: tuple[Message, ...] | None = None
    conv_id: str | None = None
    last_used: float = 0.0


@dataclass
class _Reply:
    text: str = ""
    rewritten: bool = False


class WebChatAdapter(Adapter):
    """A web chat page as an endpoint (see the module docstring for the options)."""

    kind: ClassVar[EndpointKind] = EndpointKind.WEB_CHAT
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True,
        list_models=False,
        usage=False,
        sessions=True,
        vision=False,
        needs_browser=True,
    )

    def __init__(self, spec: EndpointSpec, resolve_secret: SecretResolver) -> None:
        super().__init__(spec, resolve_secret)
        self.options = WebChatOptions.from_spec(spec)
        self.browser_config: BrowserConfig = spec.browser_config or BrowserConfig()
        size = self.options.pages or spec.limits.max_concurrent_requests or DEFAULT_PAGES
        self._slots = [_Slot(i) for i in range(max(1, size))]
        self._browser: Any = None
        self._context: Any = None
        self._cond = asyncio.Condition()
        self._ctx_lock = asyncio.Lock()
        self._login_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = True
        self._uses_session = False
        self._origins = _page_origins(spec, self.options)

    # ------------------------------------------------------------------ lifecycle

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def reply_timeout(self) -> float:
        return self.options.reply_timeout or self.browser_config.timeout

    async def open(self) -> None:
        """Create the context and warm every page (the first one signs in if needed).

        Raises:
            LoginRequired: the page shows a login wall and no credentials work.
            BrowserError / Unreachable: the page cannot be loaded or has no input.
        """
        self._closed = False
        try:
            await self._ensure_context()
            first, *rest = self._slots
            await self._prepare(first)
            results = await asyncio.gather(
                *(self._prepare(s) for s in rest), return_exceptions=True
            )
            for slot, res in zip(rest, results, strict=True):
                if isinstance(res, BaseException):
                    log.warning("%s: warming page %d failed: %s", self.name, slot.index, res)
                    slot.dead = True
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Save the session (when it has one), close the context and its pages."""
        self._closed = True
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        context, self._context = self._context, None
        if context is not None:
            if self.options.save_session and self._uses_session:
                with contextlib.suppress(Exception):
                    await self._save_session(context)
            with contextlib.suppress(Exception):
                await context.close()
        for slot in self._slots:
            slot.page, slot.dead, slot.fresh, slot.history, slot.conv_id = (
                None,
                True,
                False,
                None,
                None,
            )
            slot.in_use = False
        async with self._cond:
            self._cond.notify_all()

    async def _ensure_context(self) -> Any:
        async with self._ctx_lock:
            if (
                self._context is not None
                and self._browser is not None
                and self._browser.is_connected()
            ):
                return self._context
            if self._context is not None:
                log.warning("%s: the browser went away; opening a new context", self.name)
                for slot in self._slots:
                    slot.dead, slot.page, slot.history, slot.fresh = True, None, None, False
            self._browser = await shared_browser(self.browser_config)
            state = read_session(self.name) if self.options.save_session else None
            self._uses_session = self._uses_session or state is not None
            proxy = self.browser_config.proxy
            proxy_password = self.secret(proxy.password) if proxy and proxy.password else None
            context = await new_context(
                self._browser,
                self.browser_config,
                storage_state=state,
                proxy_password=proxy_password,
            )
            await context.add_init_script(script=page_script())
            if "*" not in self._origins:
                await context.route("**/*", self._guard_navigation)
            self._context = context
            return context

    async def _guard_navigation(self, route: Any) -> None:
        """Refuse a top-level navigation (a page or a pop-up) to an origin other than
        the page's own and ``allowed_origins``: a page cannot take the desk, and the
        prompts it types, elsewhere. Sub-resources and frames are the page's business."""
        request = route.request
        try:
            top = request.is_navigation_request() and request.frame.parent_frame is None
        except PlaywrightError:
            top = request.is_navigation_request()
        if top and _origin(request.url) not in self._origins:
            log.warning("%s: refused a navigation to %s", self.name, _origin(request.url))
            with contextlib.suppress(PlaywrightError):
                await route.abort("blockedbyclient")
            return
        with contextlib.suppress(PlaywrightError):
            await route.fallback()

    async def _new_page(self, slot: _Slot) -> None:
        context = await self._ensure_context()
        if slot.page is not None:
            with contextlib.suppress(Exception):
                await slot.page.close()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        try:
            page = await context.new_page()
            await page.expose_binding(
                "__deskReport", lambda _source, batch: queue.put_nowait(("ev", batch))
            )
        except PlaywrightError as exc:
            raise BrowserError(f"{self.name}: cannot open a page: {_first_line(exc)}") from exc
        page.on("crash", lambda _p: queue.put_nowait(("dead", "the page crashed")))
        page.on("close", lambda _p: queue.put_nowait(("dead", "the page was closed")))
        page.on("domcontentloaded", lambda _p: queue.put_nowait(("nav", None)))
        slot.page, slot.events = page, queue
        slot.dead, slot.fresh, slot.history, slot.conv_id = False, False, None, None

    # ------------------------------------------------------------------ pages

    async def _prepare(self, slot: _Slot) -> None:
        """Make ``slot`` a live page at a new, empty conversation with its input shown."""
        self._drain(slot)
        if slot.dead or slot.page is None or slot.page.is_closed():
            await self._new_page(slot)
            await self._goto(slot, self.options.url)
        elif not slot.fresh:
            await self._new_conversation(slot)
        state = await self._wait_ready(slot)
        if state == "login":
            await self._login(slot)
        slot.fresh, slot.history, slot.conv_id = True, None, None

    async def _goto(self, slot: _Slot, url: str) -> None:
        slot.fresh, slot.history = False, None
        try:
            await slot.page.goto(url, wait_until="domcontentloaded")
        except PlaywrightError as exc:
            msg = _first_line(exc)
            if any(m in msg for m in _UNREACHABLE_MARKERS):
                raise Unreachable(
                    f"{self.name}: cannot load {url}: {msg}", endpoint=self.name
                ) from exc
            if isinstance(exc, PlaywrightTimeout):
                raise UpstreamTimeout(
                    f"{self.name}: {url} did not load in {self.browser_config.timeout:g} s",
                    endpoint=self.name,
                ) from exc
            slot.dead = True
            raise BrowserError(
                f"{self.name}: loading {url} failed: {msg}", endpoint=self.name
            ) from exc

    async def _new_conversation(self, slot: _Slot) -> None:
        o = self.options
        slot.history, slot.conv_id, slot.fresh = None, None, False
        if o.new_chat:
            try:
                clicked = await self._click(slot.page, o.new_chat, timeout=2.0)
                if clicked:
                    await slot.page.wait_for_function(
                        "cfg => window.__deskChat.count(cfg.assistant) === 0",
                        arg=o.page_config(),
                        timeout=3000,
                    )
                    return
            except PlaywrightError as exc:
                log.info("%s: new-chat control did not clear the page: %s", self.name, exc)
        await self._goto(slot, o.new_chat_url or o.url)

    async def _wait_ready(self, slot: _Slot, timeout: float | None = None) -> str:
        """Wait until the page shows its input (``"input"``) or a login wall (``"login"``).

        Raises:
            BrowserError: neither appeared (the selectors no longer match).
        """
        o = self.options
        limit = timeout if timeout is not None else self.browser_config.timeout
        try:
            return await self._ready_once(slot.page, o, limit)
        except PlaywrightTimeout:
            pass
        except PlaywrightError as exc:
            slot.dead = True
            raise BrowserError(f"{self.name}: the page failed: {_first_line(exc)}") from exc
        for alt in o.alternates.get("input", []):
            repaired = o.with_selector("input", alt)
            with contextlib.suppress(PlaywrightError):
                state = await self._ready_once(slot.page, repaired, 1.0)
                log.warning(
                    "%s: input selector %r failed; alternate %r matches", self.name, o.input, alt
                )
                self.options = repaired
                return state
        fixed = await self._repair(slot, "input")
        if fixed is not None:
            with contextlib.suppress(PlaywrightError):
                return await self._ready_once(slot.page, self.options, limit)
        raise BrowserError(
            f"{self.name}: the message input {o.input!r} did not appear on {slot.page.url} "
            f"within {limit:g} s (the page changed or the selector is wrong)",
            endpoint=self.name,
        )

    async def _repair(self, slot: _Slot, key: str) -> WebChatOptions | None:
        """Runtime self-repair: the registered hook (discovery) re-finds option ``key``
        on the live page; the repaired options are used from now on (see repair.py)."""
        from endpoint_desk.adapters.webchat.repair import repair_hook

        hook = repair_hook()
        if hook is None or slot.page is None:
            return None
        try:
            options = await hook(self.spec, key, slot.page)
            if not options:
                return None
            fixed = WebChatOptions.from_dict(
                options, default_url=self.spec.base_url, endpoint=self.name
            )
        except Exception as exc:  # a failed repair leaves the original error to report
            log.warning("%s: repairing %s failed: %s", self.name, key, exc)
            return None
        log.warning("%s: %s selector repaired: %r", self.name, key, getattr(fixed, key, None))
        self.spec = self.spec.model_copy(update={"options": options})
        self.options = fixed
        return fixed

    async def _ready_once(self, page: Any, o: WebChatOptions, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = max(0.05, deadline - time.monotonic())
            try:
                handle = await page.wait_for_function(
                    "cfg => window.__deskChat && window.__deskChat.ready(cfg)",
                    arg=o.page_config(),
                    timeout=left * 1000,
                )
                return str(await handle.json_value())
            except PlaywrightTimeout:
                raise
            except PlaywrightError as exc:
                # a navigation (login redirect) destroyed the context: try again
                navigated = "context was destroyed" in str(exc) or "navigat" in str(exc).lower()
                if navigated and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                    continue
                raise

    async def _click(self, page: Any, selector: str, timeout: float) -> bool:
        handle = await page.evaluate_handle("sel => window.__deskChat.firstVisible(sel)", selector)
        el = handle.as_element()
        if el is None:
            return False
        try:
            await el.click(timeout=timeout * 1000, force=True)
        finally:
            with contextlib.suppress(Exception):
                await handle.dispose()
        return True

    # ------------------------------------------------------------------ login

    async def _login(self, slot: _Slot) -> None:
        """Sign in with the stored credentials, then show the chat again.

        Raises:
            LoginRequired: no credentials, or they were refused.
        """
        async with self._login_lock:
            # another page may have signed in meanwhile: the cookies are shared
            if self._uses_session:
                await self._goto(slot, self.options.url)
                if await self._wait_ready(slot) == "input":
                    return
            await self.fill_login(slot.page)
            await self._goto(slot, self.options.url)
            if await self._wait_ready(slot) == "login":
                raise LoginRequired(
                    f"{self.name}: signing in with the stored username and password failed "
                    "(the login wall is still shown); check them or run "
                    f"`desk login {self.name}`",
                    endpoint=self.name,
                )
            self._uses_session = True
            if self.options.save_session and self._context is not None:
                await self._save_session(self._context)

    async def fill_login(self, page: Any) -> None:
        """Fill and submit the login form with the stored credentials.

        Raises:
            LoginRequired: no username/password configured, or no login form found.
        """
        o = self.options
        user, password = self.secret(self.spec.username), self.secret(self.spec.password)
        if not user or not password:
            raise LoginRequired(
                f"{self.name}: {o.url} shows a login wall; run `desk login {self.name}` to "
                "sign in once, or store a username and password for it",
                endpoint=self.name,
            )
        if self.spec.login_url:
            try:
                await page.goto(self.spec.login_url, wait_until="domcontentloaded")
            except PlaywrightError as exc:
                raise BrowserError(
                    f"{self.name}: cannot load the login page: {_first_line(exc)}"
                ) from exc
        try:
            await page.wait_for_function(
                "sel => window.__deskChat && window.__deskChat.firstVisible(sel)",
                arg=o.login_password,
                timeout=self.browser_config.timeout * 1000,
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
                    f"{self.name}: no login form found (username {o.login_username!r}, "
                    f"password {o.login_password!r})",
                    endpoint=self.name,
                )
            await user_el.fill(user)
            await pass_el.fill(password)
            submitted = False
            if o.login_submit:
                submit = (
                    await page.evaluate_handle(
                        "sel => window.__deskChat.firstVisible(sel)", o.login_submit
                    )
                ).as_element()
                if submit is not None:
                    async with page.expect_navigation(wait_until="domcontentloaded"):
                        await submit.click()
                    submitted = True
            if not submitted:
                async with page.expect_navigation(wait_until="domcontentloaded"):
                    await pass_el.press("Enter")
        except PlaywrightTimeout as exc:
            raise LoginRequired(
                f"{self.name}: the login form did not submit: {_first_line(exc)}",
                endpoint=self.name,
            ) from exc
        except PlaywrightError as exc:
            raise BrowserError(f"{self.name}: signing in failed: {_first_line(exc)}") from exc

    async def _save_session(self, context: Any) -> Path:
        state = await context.storage_state()
        path = write_session(self.name, state)
        self._uses_session = True
        return path

    async def save_session(self) -> Path:
        """Write the context's cookies and storage to the sessions folder (0600)."""
        context = await self._ensure_context()
        return await self._save_session(context)

    # ------------------------------------------------------------------ pool

    async def _acquire(self, prior: tuple[Message, ...] | None) -> tuple[_Slot, bool]:
        async with self._cond:
            while True:
                if self._closed:
                    raise BrowserError(
                        f"{self.name}: the web chat adapter is closed", endpoint=self.name
                    )
                idle = [s for s in self._slots if not s.in_use]
                if prior and self.options.keep_conversations:
                    for s in idle:
                        self._drain(s)
                        if not s.dead and s.history is not None and s.history == prior:
                            s.in_use = True
                            return s, True
                if idle:
                    fresh = [s for s in idle if s.fresh and not s.dead]
                    pick = fresh[0] if fresh else min(idle, key=lambda s: s.last_used)
                    pick.in_use = True
                    return pick, False
                await self._cond.wait()

    async def _release(self, slot: _Slot, *, refill: bool = True) -> None:
        async with self._cond:
            slot.in_use = False
            slot.last_used = time.monotonic()
            if refill and not self._closed and len(self._slots) > 1:
                idle = [s for s in self._slots if not s.in_use]
                if not any(s.fresh and not s.dead for s in idle):
                    others = [s for s in idle if s is not slot]
                    if others:
                        target = min(others, key=lambda s: s.last_used)
                        target.in_use = True
                        task = asyncio.create_task(self._refill(target))
                        self._tasks.add(task)
                        task.add_done_callback(self._tasks.discard)
            self._cond.notify_all()

    async def _refill(self, slot: _Slot) -> None:
        """Reset a page to a new conversation in the background (keeps one page warm)."""
        try:
            await self._prepare(slot)
        except Exception as exc:
            log.info("%s: background reset of page %d failed: %s", self.name, slot.index, exc)
            slot.fresh = False
        finally:
            await self._release(slot, refill=False)

    @staticmethod
    def _drain(slot: _Slot) -> None:
        """Drop stale page events (of an earlier reply or page load); note a death."""
        while not slot.events.empty():
            kind, _data = slot.events.get_nowait()
            if kind == "dead":
                slot.dead = True

    def pool_status(self) -> dict[str, int]:
        """Pages by state: total, busy, fresh (ready for a new conversation), holding
        a conversation, dead."""
        return {
            "pages": len(self._slots),
            "busy": sum(s.in_use for s in self._slots),
            "fresh": sum(s.fresh and not s.dead for s in self._slots),
            "conversations": sum(s.history is not None for s in self._slots),
            "dead": sum(s.dead for s in self._slots),
        }

    # ------------------------------------------------------------------ chat

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:  # type: ignore[override]
        """Send the request's last user message and stream the reply out of the page.

        Raises:
            BadRequest: the request does not end with a user message.
            LoginRequired, BrowserError, UpstreamTimeout, Unreachable: see the module.
        """
        messages: list[Message] = [(m.role, m.text) for m in request.messages]
        if not messages or messages[-1][0] != "user" or not messages[-1][1].strip():
            raise BadRequest("a web chat request must end with a non-empty user message")
        if self._closed:
            raise BrowserError(f"{self.name}: the web chat adapter is not open", endpoint=self.name)
        prior = _norm(messages[:-1])
        slot, continued = await self._acquire(prior)
        reply = _Reply()
        ok = False
        try:
            if not continued:
                await self._prepare_for_request(slot)
            prompt = messages[-1][1] if continued else flatten_messages(messages)
            async for delta in self._exchange(slot, prompt, reply):
                yield ChatChunk(delta=delta)
            ok = True
            if not continued:
                slot.conv_id = f"webchat-{uuid.uuid4().hex[:16]}"
            slot.history = _norm([*messages, ("assistant", reply.text)])
            yield ChatChunk(
                finish_reason="stop",
                session_id=slot.conv_id,
                metadata={
                    "web_chat": {
                        "page": slot.index,
                        "continued": continued,
                        "rewritten": reply.rewritten,
                    }
                },
            )
        finally:
            if not ok:
                slot.history, slot.conv_id, slot.fresh = None, None, False
            slot.fresh = False
            await self._release(slot)

    async def _prepare_for_request(self, slot: _Slot) -> None:
        """``_prepare`` with one retry on a dead page (a crash between requests)."""
        try:
            await self._prepare(slot)
        except BrowserError:
            if self._closed:
                raise
            slot.dead = True
            await self._prepare(slot)

    async def _exchange(self, slot: _Slot, prompt: str, reply: _Reply) -> AsyncIterator[str]:
        o = self.options
        page = slot.page
        self._drain(slot)
        if slot.dead:
            raise BrowserError(f"{self.name}: the page died before sending", endpoint=self.name)
        t0 = time.monotonic()
        deadline = t0 + self.reply_timeout
        try:
            await self._send(slot, prompt)
        except PlaywrightError as exc:
            raise self._page_error(slot, exc, "sending the message") from exc
        sent_at = time.monotonic()
        taken = False
        busy = busy_seen = False
        page_text = emitted = ""
        last_change: float | None = None
        longest_pause = 0.0
        quiet = o.quiet_ms / 1000
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise UpstreamTimeout(
                        f"{self.name}: the reply did not finish within {self.reply_timeout:g} s",
                        endpoint=self.name,
                    )
                if last_change is None:
                    if busy_seen and not busy:
                        raise UpstreamError(
                            f"{self.name}: the page stopped answering without a reply",
                            endpoint=self.name,
                        )
                    limit = deadline if taken else min(deadline, sent_at + o.start_timeout)
                    wait = limit - now
                elif busy:
                    wait = deadline - now
                else:
                    if o.has_busy_signal and busy_seen:
                        window = quiet
                    else:
                        window = max(o.idle_quiet_ms / 1000, o.pause_factor * longest_pause)
                    left = window - (now - last_change)
                    if left <= 0 and slot.events.empty():
                        break
                    # (events still queued: late text, or the page left for another
                    # document such as a login wall; read them before finishing)
                    wait = min(left, deadline - now)
                events = await self._next_events(slot, max(0.001, wait))
                waiting = not events and last_change is None and not taken and not busy_seen
                if waiting and time.monotonic() >= sent_at + o.start_timeout:
                    await self._confirm_taken(slot, prompt)
                    taken = True
                changed = False
                for ev in events:
                    if "d" in ev:
                        page_text += str(ev["d"])
                        changed = True
                    if "r" in ev:
                        page_text = str(ev["r"])
                        changed = True
                    if "b" in ev:
                        busy = bool(ev["b"])
                        if busy:
                            busy_seen = taken = True
                if changed:
                    now = time.monotonic()
                    if last_change is not None:
                        longest_pause = max(longest_pause, now - last_change)
                    if page_text:
                        last_change = now
                        taken = True
                    if page_text.startswith(emitted):
                        delta = page_text[len(emitted) :]
                        if delta:
                            emitted = page_text
                            yield delta
                    else:
                        reply.rewritten = True
        finally:
            reply.text = emitted
            if not slot.dead:
                with contextlib.suppress(Exception):
                    await page.evaluate("() => window.__deskChat.disarm()")
        if reply.rewritten and page_text != emitted:
            log.info("%s: the page rewrote its reply while streaming", self.name)

    async def _next_events(self, slot: _Slot, timeout: float) -> list[dict[str, Any]]:
        """The next batch of page events (empty after ``timeout``).

        Raises:
            BrowserError: the page crashed, was closed, or loaded another document.
            LoginRequired: it loaded a login wall (the session expired mid-reply).
        """
        if self.options.report == "poll":
            with contextlib.suppress(asyncio.QueueEmpty):
                kind, data = slot.events.get_nowait()
                await self._page_event(slot, kind, data)
            await asyncio.sleep(min(timeout, self.options.poll_ms / 1000))
            try:
                batch = await slot.page.evaluate("() => window.__deskChat.take()")
            except PlaywrightError as exc:
                if not slot.events.empty():
                    kind, data = slot.events.get_nowait()
                    await self._page_event(slot, kind, data)
                raise self._page_error(slot, exc, "reading the reply") from exc
            return list(batch or [])
        try:
            kind, data = await asyncio.wait_for(slot.events.get(), timeout)
        except TimeoutError:
            return []
        out: list[dict[str, Any]] = []
        while True:
            out.extend(await self._page_event(slot, kind, data))
            try:
                kind, data = slot.events.get_nowait()
            except asyncio.QueueEmpty:
                return out

    async def _page_event(self, slot: _Slot, kind: str, data: Any) -> list[dict[str, Any]]:
        """Turn one queued page event into reply events, or raise for a lost page."""
        if kind == "ev":
            return list(data or [])
        if kind == "dead":
            slot.dead = True
            raise BrowserError(
                f"{self.name}: {data} while the reply was streaming", endpoint=self.name
            )
        # "nav": a new document replaced the one that was answering
        slot.fresh, slot.history = False, None
        state = ""
        with contextlib.suppress(PlaywrightError):
            state = await self._ready_once(slot.page, self.options, 3.0)
        if state == "login":
            raise LoginRequired(
                f"{self.name}: the session expired (the page went to a login wall while "
                f"answering); run `desk login {self.name}` or store a username and password",
                endpoint=self.name,
            )
        raise BrowserError(
            f"{self.name}: the page loaded another document while answering; the reply is lost",
            endpoint=self.name,
        )

    def _page_error(self, slot: _Slot, exc: BaseException, what: str) -> DeskError:
        msg = _first_line(exc)
        if slot.page is None or slot.page.is_closed() or "crash" in msg.lower() or "closed" in msg:
            slot.dead = True
            return BrowserError(
                f"{self.name}: the page died while {what}: {msg}", endpoint=self.name
            )
        return BrowserError(f"{self.name}: {what} failed: {msg}", endpoint=self.name)

    async def _send(self, slot: _Slot, prompt: str) -> None:
        o = self.options
        page = slot.page
        # one round trip: remember the newest assistant message, find the input
        handle = await page.evaluate_handle(
            "cfg => { const d = window.__deskChat; d.arm(cfg); return d.firstVisible(cfg.input); }",
            o.page_config(),
        )
        el = handle.as_element()
        if el is None:
            state = await page.evaluate("cfg => window.__deskChat.ready(cfg)", o.page_config())
            if state == "login":
                raise LoginRequired(
                    f"{self.name}: the session expired (the page shows a login wall); run "
                    f"`desk login {self.name}` or store a username and password",
                    endpoint=self.name,
                )
            raise BrowserError(
                f"{self.name}: the message input {o.input!r} matches nothing visible",
                endpoint=self.name,
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
                    fixed = await self._repair(slot, "send")
                    if fixed is not None and fixed.send != o.send:
                        await self._send(slot, prompt)  # once more, with the repaired options
                        return
                    raise BrowserError(
                        f"{self.name}: the send control {o.send!r} did not become usable",
                        endpoint=self.name,
                    ) from exc
                b = button.as_element()
                if b is None:
                    raise BrowserError(f"{self.name}: the send control {o.send!r} vanished")
                # force: visibility and enabled state were checked above; Playwright's
                # own stability wait costs up to seconds on some pages
                await b.click(force=True)
                self._dispose_later(button)
            else:
                await el.press(o.send_key)
        finally:
            self._dispose_later(handle)

    def _dispose_later(self, handle: Any) -> None:
        """Release a JS handle off the hot path."""

        async def dispose() -> None:
            with contextlib.suppress(Exception):
                await handle.dispose()

        task = asyncio.create_task(dispose())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _confirm_taken(self, slot: _Slot, prompt: str) -> None:
        """No reply and no busy signal ``start_timeout`` after sending: did the page
        take the message at all?"""
        try:
            value = await slot.page.evaluate(
                """sel => {
                  const el = window.__deskChat.firstVisible(sel);
                  if (!el) return null;
                  return 'value' in el && el.tagName !== 'DIV' ? el.value : el.innerText;
                }""",
                self.options.input,
            )
        except PlaywrightError as exc:
            raise self._page_error(slot, exc, "checking the message was sent") from exc
        if value is not None and prompt.strip() and prompt.strip()[:40] in str(value):
            raise BrowserError(
                f"{self.name}: the page did not take the message (it is still in the input "
                f"after {self.options.start_timeout:g} s; check the send control or key)",
                endpoint=self.name,
            )

    # ------------------------------------------------------------------ probes

    async def list_models(self) -> list[str]:
        """The configured model names (a web chat has no model list)."""
        return list(self.spec.models)

    async def probe(self, deep: bool = False) -> ProbeResult:
        """Cheap: a page is loaded and its input is there. Deep: a real canary message.

        Raises:
            LoginRequired, BrowserError, Unreachable, UpstreamTimeout.
        """
        t0 = time.perf_counter()
        if deep:
            request = ChatRequest.from_text("Reply with the word OK.")
            text = ""
            async for chunk in self.chat(request):
                text += chunk.delta
            if not text.strip():
                raise UpstreamError(
                    f"{self.name}: the canary got an empty reply", endpoint=self.name
                )
            return ProbeResult(
                ok=True,
                latency_ms=(time.perf_counter() - t0) * 1000,
                detail=f"canary answered: {text.strip()[:60]}",
            )
        if not self._closed and all(s.in_use for s in self._slots):
            # every page is answering right now: that is proof enough, and a health
            # check must not queue behind real requests
            return ProbeResult(
                ok=True,
                latency_ms=(time.perf_counter() - t0) * 1000,
                detail=f"all {len(self._slots)} pages busy answering",
            )
        slot, _ = await self._acquire(None)
        try:
            if slot.dead or slot.page is None or slot.page.is_closed():
                await self._prepare(slot)
            state = await self._wait_ready(slot, timeout=self.browser_config.timeout)
            if state == "login":
                raise LoginRequired(
                    f"{self.name}: the page shows a login wall; run `desk login {self.name}`",
                    endpoint=self.name,
                )
        finally:
            await self._release(slot, refill=False)
        status = self.pool_status()
        return ProbeResult(
            ok=True,
            latency_ms=(time.perf_counter() - t0) * 1000,
            detail=f"input found; {status['pages'] - status['dead']} of {status['pages']} pages up",
        )


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
    adapter = WebChatAdapter(spec, resolve_secret)
    o = adapter.options
    browser = await shared_browser(adapter.browser_config, headless=headless)
    context = await new_context(
        browser,
        adapter.browser_config,
        storage_state=read_session(spec.name),
    )
    try:
        await context.add_init_script(script=page_script())
        page = await context.new_page()
        slot = _Slot(0, page=page, dead=False)
        await adapter._goto(slot, o.url)
        state = await adapter._wait_ready(slot)
        if state == "login":
            if adapter.secret(spec.username) and adapter.secret(spec.password):
                await adapter.fill_login(page)
                await adapter._goto(slot, o.url)
            elif spec.login_url:
                await adapter._goto(slot, spec.login_url)
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
            await adapter._ready_once(page, o, timeout)
        state = await context.storage_state()
        return write_session(spec.name, state)
    finally:
        with contextlib.suppress(Exception):
            await context.close()


__all__ = ["WebChatAdapter", "flatten_messages", "interactive_login", "session_file"]
