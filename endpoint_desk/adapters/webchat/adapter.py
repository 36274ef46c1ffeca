"""``WebChatAdapter``: a chat page in a browser, driven like an API.

One Chromium per event loop (``browser.shared_browser``), one context per endpoint
(its own cookies and storage, the saved session loaded into it), a pool of warm pages
(``options.pages``, else ``limits.max_concurrent_requests``, else ``DEFAULT_PAGES``;
``pool.py``), one request per page at a time.

Per request: pick a page (the one holding the conversation when the request repeats
its earlier messages, else a fresh one), then send the prompt and stream the newest
assistant message's text as it grows (``exchange.py``; the completion rule is
described there). Each page is a ``PageDriver`` (``driver.py``); signing in and the
saved session are in ``login.py``, where pages may navigate in ``navigation.py``.

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
from base64 import b64decode
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import orjson

from endpoint_desk.adapters.base import Adapter, Capabilities, SecretResolver
from endpoint_desk.adapters.images import inline_images
from endpoint_desk.adapters.webchat.browser import open_context
from endpoint_desk.adapters.webchat.driver import DriverConfig, PageDriver
from endpoint_desk.adapters.webchat.emulation import (
    emulated,
    extract_json,
    prompt_for,
    read_tool_calls,
)
from endpoint_desk.adapters.webchat.exchange import Reply, stream_reply
from endpoint_desk.adapters.webchat.login import Sessions
from endpoint_desk.adapters.webchat.navigation import NavigationGuard, page_origins
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.adapters.webchat.pool import PagePool, Slot
from endpoint_desk.adapters.webchat.prompt import Message, flatten_messages, normalize
from endpoint_desk.adapters.webchat.repair import SpecRepair
from endpoint_desk.core.errors import (
    BadRequest,
    BrowserError,
    LoginRequired,
    UpstreamError,
)
from endpoint_desk.core.models import (
    BrowserConfig,
    ChatChunk,
    ChatRequest,
    EndpointKind,
    EndpointSpec,
    ProbeResult,
)
from endpoint_desk.core.tools import whole_call_fragments
from endpoint_desk.wire.common import data_url

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_PAGES", "WebChatAdapter"]

DEFAULT_PAGES = 2
"""Warm pages of a web chat whose endpoint sets neither ``options.pages`` nor a
concurrency limit (each page answers one request at a time; the rest wait for a page)."""


class WebChatAdapter(Adapter):
    """A web chat page as an endpoint (see the module docstring for the options).

    Attributes:
        pool: the endpoint's warm pages.
        sessions: its sign-ins and saved session.
    """

    kind: ClassVar[EndpointKind] = EndpointKind.WEB_CHAT
    capabilities: ClassVar[Capabilities] = Capabilities(
        streaming=True,
        list_models=False,
        usage=False,
        sessions=True,
        vision=False,
        needs_browser=True,
    )

    @classmethod
    def capabilities_for(cls, spec: EndpointSpec) -> Capabilities:
        """Tools and JSON replies with ``tool_emulation``; images when discovery found
        the page's file input (``file_input``)."""
        opts = spec.options
        emulation = bool(opts.get("tool_emulation"))
        return replace(
            cls.capabilities,
            tools=emulation,
            json_schema=emulation,
            vision=bool(opts.get("file_input")),
        )

    def __init__(self, spec: EndpointSpec, resolve_secret: SecretResolver) -> None:
        super().__init__(spec, resolve_secret)
        options = WebChatOptions.from_spec(spec)
        self.browser_config: BrowserConfig = spec.browser_config or BrowserConfig()
        self._tasks: set[asyncio.Task[None]] = set()
        self._config = DriverConfig(
            spec.name, options, self.browser_config.timeout, tasks=self._tasks
        )
        self._config.repair = SpecRepair(spec, self._config, self._repaired)
        size = options.pages or spec.limits.max_concurrent_requests or DEFAULT_PAGES
        self.pool = PagePool(spec.name, size, self._prepare, self._tasks)
        self.sessions = Sessions(spec, lambda: self._config.options, self.secret)
        self._browser: Any = None
        self._context: Any = None
        self._ctx_lock = asyncio.Lock()
        self._guard = NavigationGuard(spec.name, page_origins(spec, options))

    def _repaired(self, spec: EndpointSpec) -> None:
        self.spec = spec

    # ------------------------------------------------------------------ lifecycle

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def options(self) -> WebChatOptions:
        """The selector configuration (repaired ones replace it at run time)."""
        return self._config.options

    @property
    def reply_timeout(self) -> float:
        return self._config.reply_timeout

    async def open(self) -> None:
        """Create the context and warm the first page (it signs in if needed); the
        other pages warm in the background (a first request, as a cold ``desk test``,
        need not wait for them).

        Raises:
            LoginRequired: the page shows a login wall and no credentials work.
            BrowserError / Unreachable: the page cannot be loaded or has no input.
        """
        self.pool.closed = False
        try:
            await self._ensure_context()
            first, *rest = self.pool.slots
            await self._prepare(first)
        except BaseException:
            await self.aclose()
            raise
        await self.pool.warm(rest)

    async def aclose(self) -> None:
        """Save the session (when it has one), close the context and its pages."""
        self.pool.closed = True
        tasks = list(self._tasks)
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        context, self._context = self._context, None
        if context is not None:
            if self.options.save_session and self.sessions.used:
                with contextlib.suppress(Exception):
                    await self.sessions.save(context)
            with contextlib.suppress(Exception):
                await context.close()
        for slot in self.pool.slots:
            slot.driver, slot.history, slot.conv_id = None, None, None
            slot.in_use = False
        await self.pool.wake()

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
                for slot in self.pool.slots:
                    slot.driver, slot.history = None, None
            proxy = self.browser_config.proxy
            context = await open_context(
                self.browser_config,
                storage_state=self.sessions.load(),
                proxy_password=self.secret(proxy.password) if proxy and proxy.password else None,
            )
            self._browser = context.browser
            if "*" not in self._guard.origins:
                await context.route("**/*", self._guard)
            self._context = context
            return context

    async def _prepare(self, slot: Slot) -> None:
        """Make ``slot`` a live page at a new, empty conversation with its input shown."""
        slot.drain()
        if slot.driver is None or slot.driver.closed:
            context = await self._ensure_context()
            if slot.driver is not None:
                await slot.driver.close()
            slot.driver = await PageDriver.open(context, self._config)
            slot.history, slot.conv_id = None, None
            await slot.driver.goto(self.options.url)
        elif not slot.fresh:
            slot.history, slot.conv_id = None, None
            await slot.driver.new_conversation()
        driver = slot.driver
        state = await driver.wait_ready()
        if state == "login":
            await self.sessions.sign_in(driver, self._context)
        slot.fresh, slot.history, slot.conv_id = True, None, None

    async def save_session(self) -> Path:
        """Write the context's cookies and storage to the sessions folder (0600)."""
        context = await self._ensure_context()
        return await self.sessions.save(context)

    def pool_status(self) -> dict[str, int]:
        """Pages by state: total, busy, fresh (ready for a new conversation), holding
        a conversation, dead."""
        return self.pool.status()

    # ------------------------------------------------------------------ chat

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:  # type: ignore[override]
        """Send the request's last user message and stream the reply out of the page.

        Raises:
            BadRequest: the request does not end with a user message.
            LoginRequired, BrowserError, UpstreamTimeout, Unreachable: see the module.
        """
        messages: list[Message] = [(m.role, m.text) for m in request.messages]
        emulate = self.options.tool_emulation and emulated(request)
        if not emulate and (
            not messages or messages[-1][0] != "user" or not messages[-1][1].strip()
        ):
            raise BadRequest("a web chat request must end with a non-empty user message")
        if self.pool.closed:
            raise BrowserError(f"{self.name}: the web chat adapter is not open", endpoint=self.name)
        files = await self._images(request)
        prior = normalize(messages[:-1])
        keep = self.options.keep_conversations and not emulate and not files
        slot, continued = await self.pool.acquire(prior, keep)
        reply = Reply()
        ok = False
        try:
            if not continued:
                await self._prepare_for_request(slot)
            if emulate:
                prompt = prompt_for(request)
            else:
                prompt = messages[-1][1] if continued else flatten_messages(messages)
            assert slot.driver is not None
            if files:
                await slot.driver.attach(files)
            finish = "stop"
            if emulate:  # the reply is read whole: a tool call or JSON, else text
                async for _ in stream_reply(slot.driver, prompt, reply):
                    pass
                calls = read_tool_calls(reply.text, request)
                if calls:
                    finish = "tool_calls"
                    yield ChatChunk(tool_calls=whole_call_fragments(calls))
                else:
                    yield ChatChunk(delta=_json_reply(reply.text, request))
            else:
                async for delta in stream_reply(slot.driver, prompt, reply):
                    yield ChatChunk(delta=delta)
            ok = True
            if not continued:
                slot.conv_id = f"webchat-{uuid.uuid4().hex[:16]}"
            slot.history = normalize([*messages, ("assistant", reply.text)])
            yield ChatChunk(
                finish_reason=finish,
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
                slot.history, slot.conv_id = None, None
            slot.fresh = False
            await self.pool.release(slot)

    async def _images(self, request: ChatRequest) -> list[tuple[str, str, bytes]]:
        """The request's images as files for the page's file input (``file_input``),
        http(s) URLs fetched first; none when the page has no file input."""
        if not self.options.file_input or "vision" not in request.needs():
            return []
        request = await inline_images(request, route=self.route, endpoint=self.name)
        files: list[tuple[str, str, bytes]] = []
        for m in request.messages:
            for url in m.images:
                inline = data_url(url)
                if inline is not None:
                    ext = inline[0].split("/")[-1]
                    files.append((f"image-{len(files) + 1}.{ext}", inline[0], b64decode(inline[1])))
        return files

    async def _prepare_for_request(self, slot: Slot) -> None:
        """``_prepare`` with one retry on a dead page (a crash between requests)."""
        try:
            await self._prepare(slot)
        except BrowserError:
            if self.pool.closed:
                raise
            slot.kill()
            await self._prepare(slot)

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
        slots = self.pool.slots
        if not self.pool.closed and all(s.in_use for s in slots):
            # every page is answering right now: that is proof enough, and a health
            # check must not queue behind real requests
            return ProbeResult(
                ok=True,
                latency_ms=(time.perf_counter() - t0) * 1000,
                detail=f"all {len(slots)} pages busy answering",
            )
        slot, _ = await self.pool.acquire(None, self.options.keep_conversations)
        try:
            if slot.driver is None or slot.driver.closed:
                await self._prepare(slot)
            assert slot.driver is not None
            state = await slot.driver.wait_ready(timeout=self.browser_config.timeout)
            if state == "login":
                raise LoginRequired(
                    f"{self.name}: the page shows a login wall; run `desk login {self.name}`",
                    endpoint=self.name,
                )
        finally:
            await self.pool.release(slot, refill=False)
        status = self.pool_status()
        return ProbeResult(
            ok=True,
            latency_ms=(time.perf_counter() - t0) * 1000,
            detail=f"input found; {status['pages'] - status['dead']} of {status['pages']} pages up",
        )


def _json_reply(text: str, request: ChatRequest) -> str:
    """For a JSON response format: the JSON the reply holds, re-serialized (the text as
    it is when it holds none, or when no JSON was asked for)."""
    if request.response_format is None:
        return text
    data = extract_json(text)
    return text if data is None else orjson.dumps(data).decode()
