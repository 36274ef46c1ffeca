"""Local fixture chat apps for the web chat adapter's tests (and discovery's canaries).

One aiohttp app serves three DOM styles on one port, each a small real chat page whose
reply is streamed from the server with ``fetch`` and rendered as it arrives:

- ``textarea``: a ``<textarea>``, a send button (disabled while the input is empty or a
  reply runs), a *Stop* button shown while busy, a *New chat* control; assistant
  messages are ``div.msg.assistant`` with the text in ``.content`` and a *Copy* button
  beside it (the adapter must read the text, not the label).
- ``editable``: a ``contenteditable`` composer, Enter sends (Shift+Enter is a newline);
  the composer is not editable while a reply runs; each sentence is its own ``<p>``
  in ``article[data-role=assistant]``; no new-chat control (reload for a new one).
- ``shadow``: a login wall (username, password, submit) until the browser holds a
  session cookie, then a ``<chat-app>`` custom element whose chat lives in an open
  shadow root (``textarea``, ``button[aria-label=Send]``, ``.bubble.bot``, a
  ``.typing`` indicator while busy, a ``button.new`` new-chat control).

Framework styles and hard cases (issue 12: discovery on pages it has never seen); each
file's head comment says what it imitates:

- ``mui``: a React + Material UI app (``Mui*`` and hashed ``css-*`` classes, a textarea
  with MUI's hidden autosize twin, an icon send button, authors told apart only by a
  hashed class and the avatar's letters), markdown replies.
- ``quasar``: a Vue + Quasar app (``q-field__native``, ``q-btn``, ``data-v-*`` scoped
  attributes, QChatMessage bubbles with name and time stamp), markdown replies.
- ``stopgen``: the input is disabled while the bot answers and the send button turns
  into "Stop generating".
- ``chrome``: an author label span before the text, an avatar's alt text, a time stamp
  and Copy/Regenerate buttons inside every message.
- ``pause``: the reply pauses 1.6 s after its first sentence with no busy signal at all.
- ``widgets``: a Panel/Bokeh-like widget page that renders a moment after load; the
  ``<input type=text>`` is four open shadow roots deep, messages are custom elements.
- ``angular``: Angular Material markup (``_ngcontent-*``, ``ng-star-inserted``, inline
  styles, no stable ids), markdown replies.
- ``upload``: the ``textarea`` page with an ``<input type=file>`` (``#file``): files
  chosen there go with the next message (name, type, size, SHA-256, read in the
  browser) and the bot's reply starts with ``I received NAME (TYPE, N bytes, sha256
  PREFIX).``

Knobs go in the page's query string (``pages.url_for("editable", pause=2)``) and are
sent with every message: ``bot`` (``scripted``, default; ``echo``: the reply repeats
the prompt; ``markdown``: the scripted answer as markdown with paragraphs, a list and a
code block; ``agent``: follows the desk's tool emulation prompt with a JSON tool
call, then an answer from the tool result, see ``chatagent.py``), ``delay`` (seconds
between words, default 0.02), ``pause`` (seconds of silence after each sentence,
default 0), ``pauses`` (at most this many such pauses),
``latency`` (seconds before the first word), ``words`` (filler words in a scripted
reply, default 12). Some styles have their own defaults (``STYLE_KNOBS``).

The scripted bot answers ``a + b`` questions with ``The answer is N.``, ``reply with
the word X`` with ``X``, and anything else with a sentence that names the turn
(``[turn N]``: N counts the user messages of the page's conversation).

Python API::

    async with ChatPagesServer(username="alice", password="s3cret") as pages:
        url = pages.url_for("textarea", delay=0.01)
        options = pages.options_for("textarea")    # the adapter's selector config
        pages.replies                              # ReplyRecord per reply served
        pages.expire_sessions()                    # every login is forgotten
"""

from __future__ import annotations

import asyncio
import html as htmllib
import re
import secrets
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from endpoint_desk.sim.chatstyles import STYLE_KNOBS, STYLES, options_for, scripted_reply

__all__ = [
    "STYLES",
    "STYLE_KNOBS",
    "ChatPagesServer",
    "ReplyRecord",
    "create_chatpages_app",
    "scripted_reply",
]

COOKIE = "fixture_session"


@dataclass(slots=True)
class ReplyRecord:
    """One reply the fixture served: when it started, sent its first word and ended
    (server clock, ``time.perf_counter``), what it answered, and the conversation turn."""

    style: str
    prompt: str
    reply: str
    turn: int
    started: float
    ended: float | None = None
    first_sent: float | None = None

    @property
    def seconds(self) -> float | None:
        """How long the page's own reply took (first byte received to last sent)."""
        return None if self.ended is None else self.ended - self.started


def _tokens(text: str) -> list[str]:
    """Words with their following space, so they join back to ``text``."""
    return re.findall(r"\S+\s*", text) or ([text] if text else [])


@dataclass
class _State:
    username: str | None
    password: str | None
    sessions: set[str] = field(default_factory=set)
    replies: list[ReplyRecord] = field(default_factory=list)
    in_flight: int = 0


_STATE = web.AppKey("chatpages_state", _State)


def _asset(name: str) -> str:
    return resources.files("endpoint_desk.sim").joinpath("pages", name).read_text("utf-8")


_FILE_INPUT = '<label>Attach <input id="file" type="file" accept="image/*" multiple></label>'


def _upload_page() -> str:
    """The ``textarea`` page with a file input in its composer."""
    html = _asset("textarea.html").replace("<!--FILE_INPUT-->", _FILE_INPUT)
    return html.replace("Fixture chat: textarea", "Fixture chat: upload")


def _float(knobs: dict[str, Any], key: str, default: float) -> float:
    try:
        return max(0.0, float(knobs.get(key, default)))
    except (TypeError, ValueError):
        return default


async def _stream(resp: web.StreamResponse, rec: ReplyRecord, knobs: dict[str, Any]) -> None:
    """Write ``rec.reply`` word by word as the knobs say; note the first and last word."""
    delay, pause = _float(knobs, "delay", 0.02), _float(knobs, "pause", 0.0)
    latency = _float(knobs, "latency", 0.0)
    pauses_left = _float(knobs, "pauses", float("inf"))
    if latency:
        await asyncio.sleep(latency)
    tokens = _tokens(rec.reply)
    for i, tok in enumerate(tokens):
        if i and delay:
            await asyncio.sleep(delay)
        await resp.write(tok.encode())
        if rec.first_sent is None:
            rec.first_sent = time.perf_counter()
        ends = tok.rstrip().endswith((".", "!", "?"))
        if pause and pauses_left >= 1 and ends and i < len(tokens) - 1:
            pauses_left -= 1
            await asyncio.sleep(pause)
    await resp.write_eof()
    rec.ended = time.perf_counter()


def create_chatpages_app(
    username: str | None = None, password: str | None = None
) -> web.Application:
    """The fixture app. With ``username``/``password`` the ``shadow`` style needs a login."""
    app = web.Application()
    state = _State(username, password)
    app[_STATE] = state

    def logged_in(request: web.Request) -> bool:
        if state.username is None:
            return True
        return request.cookies.get(COOKIE, "") in state.sessions

    async def index(request: web.Request) -> web.Response:
        links = "".join(f'<li><a href="/{s}">{s}</a></li>' for s in STYLES)
        return web.Response(text=f"<!doctype html><ul>{links}</ul>", content_type="text/html")

    async def page(request: web.Request) -> web.Response:
        style = request.match_info["style"]
        if style not in STYLES:
            raise web.HTTPNotFound(text=f"no fixture style {style!r}")
        if style == "shadow" and not logged_in(request):
            html = _asset("login.html").replace("__NEXT__", htmllib.escape(request.path_qs))
            return web.Response(text=html, content_type="text/html")
        if style == "upload":
            return web.Response(text=_upload_page(), content_type="text/html")
        return web.Response(text=_asset(f"{style}.html"), content_type="text/html")

    async def common_js(request: web.Request) -> web.Response:
        return web.Response(text=_asset("common.js"), content_type="application/javascript")

    async def login_page(request: web.Request) -> web.Response:
        nxt = request.query.get("next", "/shadow")
        html = _asset("login.html").replace("__NEXT__", htmllib.escape(nxt))
        return web.Response(text=html, content_type="text/html")

    async def login_post(request: web.Request) -> web.Response:
        form = await request.post()
        nxt = str(form.get("next") or "/shadow")
        if not nxt.startswith("/"):
            nxt = "/shadow"
        if form.get("username") == state.username and form.get("password") == state.password:
            token = secrets.token_hex(16)
            state.sessions.add(token)
            resp = web.HTTPFound(nxt)
            resp.set_cookie(COOKIE, token, httponly=True, samesite="Lax", path="/")
            raise resp
        html = _asset("login.html").replace("__NEXT__", htmllib.escape(nxt))
        html = html.replace("<!--ERROR-->", '<p class="error">Wrong username or password.</p>')
        return web.Response(text=html, content_type="text/html", status=401)

    async def reply(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        style = str(body.get("style", ""))
        if style == "shadow" and not logged_in(request):
            raise web.HTTPUnauthorized(text="log in first")
        messages = body.get("messages") or []
        knobs = {**STYLE_KNOBS.get(style, {}), **(body.get("knobs") or {})}
        bot = str(knobs.get("bot", "scripted"))
        words = int(_float(knobs, "words", 12))
        text = scripted_reply(messages, bot, words)
        turn = sum(1 for m in messages if m.get("role") == "user")
        prompt = str(messages[-1].get("content", "")) if messages else ""
        rec = ReplyRecord(style, prompt, text, turn, time.perf_counter())
        state.replies.append(rec)
        state.in_flight += 1
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        try:
            await resp.prepare(request)
            await _stream(resp, rec, knobs)
        except ConnectionResetError:
            pass  # the browser went away mid-reply (a reload, a closed page): rec.ended stays None
        finally:
            state.in_flight -= 1
        return resp

    app.router.add_get("/", index)
    app.router.add_get("/common.js", common_js)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_post)
    app.router.add_post("/api/reply", reply)
    app.router.add_get("/{style}", page)
    return app


class ChatPagesServer:
    """The fixture chat apps on ``host`` (port 0: any free port), as an async context.

    Args:
        host: address to bind (127.0.0.1).
        port: port to bind; 0 picks a free one (read it back from ``port``).
        username: with ``password``, the login the ``shadow`` style requires.
        password: see ``username``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str | None = "alice",
        password: str | None = "s3cret",
    ) -> None:
        self.host = host
        self.port = port
        self.app = create_chatpages_app(username, password)
        self._runner: web.AppRunner | None = None

    @property
    def state(self) -> _State:
        return self.app[_STATE]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def replies(self) -> list[ReplyRecord]:
        """Every reply served so far, oldest first."""
        return self.state.replies

    def url_for(self, style: str, **knobs: Any) -> str:
        """The page URL of ``style`` with ``knobs`` in its query string."""
        if style not in STYLES:
            raise ValueError(f"unknown fixture style {style!r}; styles: {', '.join(STYLES)}")
        query = f"?{urlencode(knobs)}" if knobs else ""
        return f"{self.base_url}/{style}{query}"

    @staticmethod
    def options_for(style: str) -> dict[str, Any]:
        """The web chat adapter's selector config for ``style`` (a fresh copy)."""
        return options_for(style)

    def expire_sessions(self) -> None:
        """Forget every login: the next page load of ``shadow`` shows the login wall."""
        self.state.sessions.clear()

    async def start(self) -> ChatPagesServer:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ChatPagesServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
