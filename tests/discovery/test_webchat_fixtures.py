"""Discovery against every local fixture chat app, each ending in a working endpoint.

Real Chromium, real fixture pages (``endpoint_desk.sim.chatpages``), a real desk with
its SQLite store: ``configure_web_chat`` works the page out from evidence, the spec
goes through ``Desk.add`` (a live proof) and a follow-up request is answered.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from endpoint_desk.adapters.webchat.browser import shared_browser
from endpoint_desk.core.errors import LoginRequired
from endpoint_desk.core.models import ChatRequest
from endpoint_desk.discovery.webchat import Step, configure_web_chat
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer
from tests.discovery.conftest import record_timing

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


@contextlib.asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) while the block runs; its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


async def _follow_up(desk: Desk, name: str, a: int = 19, b: int = 23) -> str:
    result = await desk.chat(ChatRequest.from_text(f"What is {a} + {b}?"), endpoint=name)
    return result.content


@pytest.mark.parametrize(
    ("style", "knobs", "expect"),
    [
        (
            "textarea",
            {},
            {"send": "#send", "busy": "#stop", "new_chat": "#new-chat", "input": "#prompt"},
        ),
        ("editable", {}, {"send_key": "Enter", "busy_input": True, "input": "#composer"}),
    ],
)
async def test_fixture_styles_configure_and_answer(
    desk: Desk, pages: ChatPagesServer, style: str, knobs: dict[str, str], expect: dict[str, object]
) -> None:
    steps: list[Step] = []
    await shared_browser()  # Chromium's launch is not part of the figure
    t0 = time.perf_counter()
    found = await configure_web_chat(
        pages.url_for(style, **knobs), name=f"fx-{style}", progress=steps.append, store=desk.store
    )
    record_timing(f"fixture:{style}", "first", time.perf_counter() - t0)
    opts = found.options
    for key, value in expect.items():
        assert opts.get(key) == value, (key, opts)
    # the assistant selector picks assistant messages, never the user's
    assert opts["assistant"] and opts["user_message"] and opts["assistant"] != opts["user_message"]
    assert [s.name for s in steps][:2] == ["load", "pattern"]
    assert {"input", "send", "reply", "assistant", "new chat", "verify"} <= {s.name for s in steps}
    assert all(s.ok for s in steps if s.name != "pattern")
    assert found.confidence >= 0.8
    assert found.pattern_id is not None and not found.from_pattern
    assert any("canary" in e for e in found.evidence)
    view = await desk.add(found.spec)
    assert view.state.value == "on"
    assert "The answer is 42." in await _follow_up(desk, view.name)
    assert "The answer is 7." in await _follow_up(desk, view.name, 3, 4)


async def test_echo_bot_still_locates_the_assistant_message(
    desk: Desk, pages: ChatPagesServer
) -> None:
    """An echo bot repeats the prompt: the reply is the later element holding it."""
    found = await configure_web_chat(pages.url_for("textarea", bot="echo"), name="fx-echo")
    assert found.options["assistant"] != found.options.get("user_message")
    assert any("echoed prompt" in e for e in found.evidence)
    view = await desk.add(found.spec)
    text = await desk.chat(ChatRequest.from_text("hello from the follow-up"), endpoint=view.name)
    assert text.content.strip() == "hello from the follow-up"


async def test_pauses_longer_than_a_quiet_window_are_waited_out(
    desk: Desk, pages: ChatPagesServer
) -> None:
    """The editable page goes quiet for a second after every sentence; discovery sees
    that the input is locked while it answers, so the follow-up is read whole."""
    found = await configure_web_chat(pages.url_for("editable", pause=1.0), name="fx-pause")
    assert found.options.get("busy_input") is True
    view = await desk.add(found.spec)
    result = await desk.chat(
        ChatRequest.from_text("Tell me about the markets."), endpoint=view.name
    )
    assert result.content.rstrip().endswith("[turn 1]"), result.content
    assert "That is my answer." in result.content


async def test_login_wall_without_credentials_says_what_to_do(pages: ChatPagesServer) -> None:
    steps: list[Step] = []
    with pytest.raises(LoginRequired) as info:
        await configure_web_chat(pages.url_for("shadow"), name="fx-shadow", progress=steps.append)
    msg = info.value.one_line()
    assert "login wall" in msg and "desk login fx-shadow" in msg
    assert steps[-1].name == "login" and not steps[-1].ok


async def test_shadow_root_behind_a_login_with_stored_credentials(
    desk: Desk, pages: ChatPagesServer
) -> None:
    found = await configure_web_chat(
        pages.url_for("shadow"),
        name="fx-shadow",
        username="env:FX_USER",
        password="env:FX_PASS",
        resolve_secret=desk.secrets.resolve,
    )
    opts = found.options
    assert opts["input"].startswith("textarea")
    assert "bot" in opts["assistant"]
    assert opts["busy"] and opts["new_chat"] and opts["login_wall"]
    assert found.spec.username == "env:FX_USER" and found.spec.password == "env:FX_PASS"
    dumped = str(found.to_dict())
    assert "s3cret" not in dumped
    pages.expire_sessions()  # the adapter signs in by itself with the stored credentials
    view = await desk.add(found.spec)
    assert "The answer is 42." in await _follow_up(desk, view.name)


async def test_pattern_library_configures_a_second_site_faster(desk: Desk) -> None:
    """A second site built the same way (another server, same page kind) is configured
    from the learned pattern after one canary, and it works."""
    async with ChatPagesServer() as site_a, ChatPagesServer() as site_b:
        await shared_browser()
        t0 = time.perf_counter()
        first = await configure_web_chat(site_a.url_for("textarea"), name="a", store=desk.store)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        second = await configure_web_chat(site_b.url_for("textarea"), name="b", store=desk.store)
        warm = time.perf_counter() - t0
        record_timing("fixture:textarea (second site)", "warm", warm, cold=cold)
        assert second.from_pattern and second.pattern_id == first.pattern_id
        assert second.options["assistant"] == first.options["assistant"]
        assert warm < cold
        patterns = await desk.store.list_patterns()
        assert len(patterns) == 1 and patterns[0].successes == 2
        view = await desk.add(second.spec)
        assert "The answer is 42." in await _follow_up(desk, view.name)


async def test_a_pattern_that_does_not_fit_is_counted_and_analysis_takes_over(
    desk: Desk, pages: ChatPagesServer
) -> None:
    from endpoint_desk.discovery.patterns import Fingerprint, PatternLibrary

    first = await configure_web_chat(pages.url_for("editable"), name="e1", store=desk.store)
    # a wrong pattern for the same fingerprint, ranked first by its record
    fp_key = first.options["meta"]["fingerprint"]
    bad = dict(first.options, assistant="article[data-role=user]")
    bad.pop("meta")
    lib = PatternLibrary(desk.store)
    bad_id = await desk.store.save_pattern(fp_key, "generic", bad)
    for _ in range(3):
        await desk.store.record_pattern_result(bad_id, True)
    assert (
        Fingerprint.from_page({"markers": []}, {"kind": "contenteditable"}).framework == "generic"
    )
    again = await configure_web_chat(pages.url_for("editable"), name="e2", store=desk.store)
    assert again.options["assistant"] == first.options["assistant"]
    records = {p.id: p for p in await lib.store.list_patterns()}
    assert records[bad_id].failures == 1
    assert again.from_pattern and again.pattern_id == first.pattern_id


async def test_a_chat_inside_a_frame_is_configured_on_the_frames_page(
    desk: Desk, pages: ChatPagesServer
) -> None:
    """The page only embeds the chat in an iframe (another origin): discovery finds the
    input in the frame and configures the frame's own page."""
    inner = pages.url_for("textarea")
    app = web.Application()

    async def outer(_: web.Request) -> web.Response:
        html = (
            "<!doctype html><h1>Support portal</h1><input type=search placeholder=Search>"
            f'<iframe src="{inner}" style="width:900px;height:600px"></iframe>'
        )
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/", outer)
    async with served(app) as url:
        found = await configure_web_chat(url, name="framed")
        assert found.spec.base_url == inner
        assert any("lives in a frame" in e for e in found.evidence)
        view = await desk.add(found.spec)
        assert "The answer is 42." in await _follow_up(desk, view.name)


async def test_a_saved_session_gets_past_the_login_wall(pages: ChatPagesServer) -> None:
    """Signing in once keeps the session (owner-only file); discovery under the same
    name later loads it and needs no credentials."""
    from endpoint_desk.adapters.webchat.browser import session_file

    await configure_web_chat(
        pages.url_for("shadow"), name="kept", username="env:FX_USER", password="env:FX_PASS"
    )
    path = session_file("kept")
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    again = await configure_web_chat(pages.url_for("shadow"), name="kept")
    assert again.steps[0].detail.endswith("with the saved session")
    assert not any(s.name == "login" for s in again.steps)


async def test_a_sign_in_link_instead_of_a_chat_is_a_login_wall() -> None:
    app = web.Application()

    async def home(_: web.Request) -> web.Response:
        html = "<!doctype html><h1>Acme AI</h1><p>Chat with our assistant.</p>"
        html += '<a href="/auth">Sign in</a> <button>Sign up</button>'
        return web.Response(text=html, content_type="text/html")

    app.router.add_get("/", home)
    async with served(app) as url:
        t0 = time.perf_counter()
        with pytest.raises(LoginRequired, match="sign-in control"):
            await configure_web_chat(url, name="acme", load_timeout=30)
        assert time.perf_counter() - t0 < 20  # not the whole load timeout


SPA_LOGIN = """<!doctype html><html><head><meta charset="utf-8"><title>Acme</title></head>
<body><main id="app"></main>
<script>
const app = document.getElementById('app');
function chat() {
  app.innerHTML = '<div id="log" role="log"></div>' +
    '<textarea id="prompt" aria-label="Message"></textarea>' +
    '<button id="send" type="button">Send</button>';
  const prompt = document.getElementById('prompt');
  document.getElementById('send').addEventListener('click', () => {
    const said = prompt.value.trim();
    if (!said) return;
    prompt.value = '';
    const u = document.createElement('div');
    u.className = 'msg'; u.dataset.role = 'user'; u.textContent = said;
    document.getElementById('log').appendChild(u);
    const m = /What is (\\d+) \\+ (\\d+)/.exec(said);
    const text = m ? 'The answer is ' + (Number(m[1]) + Number(m[2])) + '.' : said;
    setTimeout(() => {
      const a = document.createElement('div');
      a.className = 'msg'; a.dataset.role = 'assistant'; a.textContent = text;
      document.getElementById('log').appendChild(a);
    }, 150);
  });
}
function login() {
  app.innerHTML = '<form id="f"><input name="username" autocomplete="username">' +
    '<input name="password" type="password"><button type="submit">Sign in</button></form>';
  document.getElementById('f').addEventListener('submit', async (e) => {
    e.preventDefault();  // signs in without loading another page
    const body = new FormData(e.target);
    const r = await fetch('/login', {method: 'POST', body});
    if (r.ok) chat();
  });
}
(__SIGNED_IN__ ? chat : login)();
</script></body></html>"""


async def test_a_login_that_loads_no_new_page_is_passed_by_discovery_and_the_adapter(
    desk: Desk,
) -> None:
    """The page signs in with a fetch and shows the chat in place: discovery and the
    adapter (once the site forgot the session) both get past it with the stored
    credentials, the same way."""
    import secrets as pysecrets

    tokens: set[str] = set()
    app = web.Application()

    async def home(request: web.Request) -> web.Response:
        signed_in = request.cookies.get("spa") in tokens
        html = SPA_LOGIN.replace("__SIGNED_IN__", "true" if signed_in else "false")
        return web.Response(text=html, content_type="text/html")

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("username") != "alice" or form.get("password") != "s3cret":
            return web.Response(status=403)
        token = pysecrets.token_hex(8)
        tokens.add(token)
        resp = web.Response(text="ok")
        resp.set_cookie("spa", token)
        return resp

    app.router.add_get("/", home)
    app.router.add_post("/login", login)
    async with served(app) as url:
        found = await configure_web_chat(
            url,
            name="spa",
            username="env:FX_USER",
            password="env:FX_PASS",
            resolve_secret=desk.secrets.resolve,
        )
        assert any(s.name == "login" and s.ok for s in found.steps)
        assert found.options["login_wall"]
        tokens.clear()  # the site forgets the session: the adapter signs in by itself
        view = await desk.add(found.spec)
        assert "The answer is 42." in await _follow_up(desk, view.name)
