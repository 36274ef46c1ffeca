"""The web chat adapter driving real Chromium against the local fixture chat apps."""

from __future__ import annotations

import asyncio
import os
import stat
import time

import pytest

from endpoint_desk.adapters.webchat.adapter import WebChatAdapter
from endpoint_desk.adapters.webchat.browser import launch_count, session_file
from endpoint_desk.adapters.webchat.login import interactive_login
from endpoint_desk.core.errors import BrowserError, LoginRequired, Unreachable, UpstreamTimeout
from endpoint_desk.core.models import ChatMessage, ChatRequest
from endpoint_desk.sim.chatpages import ChatPagesServer
from tests.webchat.conftest import MakeAdapter, MakeSpec, collect, resolve, squash

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


# ---------------------------------------------------------------------- streaming


@pytest.mark.parametrize("style", ["textarea", "editable", "shadow"])
async def test_each_style_streams_the_full_reply_in_order(
    style: str, make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter(style, knobs={"delay": 0.03}, creds=True)
    text, chunks = await collect(adapter, "Tell me about the markets please")
    served = pages.replies[-1]
    assert served.prompt == "Tell me about the markets please"
    assert squash(text) == squash(served.reply)
    deltas = [c.delta for c in chunks if c.delta]
    assert len(deltas) >= 4, deltas  # streamed, not one block at the end
    assert "Copy" not in text and "typing" not in text
    last = chunks[-1]
    assert last.finish_reason == "stop" and last.session_id
    assert last.metadata is not None and last.metadata["web_chat"]["continued"] is False


async def test_deltas_arrive_while_the_page_is_still_streaming(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("textarea", knobs={"delay": 0.06, "words": 20})
    arrivals: list[float] = []
    parts: list[str] = []
    async for chunk in adapter.chat(ChatRequest.from_text("stream slowly")):
        if chunk.delta:
            arrivals.append(time.perf_counter())
            parts.append(chunk.delta)
    served = pages.replies[-1]
    assert served.ended is not None
    # the first words reached Python long before the page finished its reply
    assert arrivals[0] < served.ended - 0.8
    assert arrivals == sorted(arrivals)
    assert squash("".join(parts)) == squash(served.reply)


async def test_pauses_longer_than_the_quiet_window_do_not_end_the_reply(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    # pauses of 2 s after every sentence, longer than idle_quiet_ms (1.5 s): the
    # page's busy signal (the composer is not editable) keeps the reply open
    adapter = await make_adapter("editable", knobs={"delay": 0.01, "pause": 2.0})
    text, _ = await collect(adapter, "a long thoughtful answer please")
    served = pages.replies[-1]
    assert served.reply.count(".") >= 3
    assert squash(text) == squash(served.reply)
    assert text.endswith(f"[turn {served.turn}]")


async def test_without_a_busy_signal_the_quiet_window_ends_the_reply(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter(
        "editable", knobs={"delay": 0.02, "pause": 0.3}, busy_input=False, idle_quiet_ms=900
    )
    text, _ = await collect(adapter, "no busy signal here")
    assert squash(text) == squash(pages.replies[-1].reply)


@pytest.mark.parametrize("report", ["push", "poll"])
async def test_push_and_poll_reporting_give_the_same_reply(
    report: str, make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("textarea", report=report)
    text, chunks = await collect(adapter, "What is 17 + 25?")
    assert text == "The answer is 42."
    assert sum(1 for c in chunks if c.delta) >= 1


async def test_echo_bot_repeats_the_prompt(make_adapter: MakeAdapter) -> None:
    adapter = await make_adapter("textarea", knobs={"bot": "echo"})
    text, _ = await collect(adapter, "canary 7f3a: purple walrus")
    assert text == "canary 7f3a: purple walrus"


# ---------------------------------------------------------------------- conversations


async def test_a_continued_conversation_sends_only_the_new_message(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("textarea", pages=2)
    first, chunks1 = await collect(adapter, "hello there")
    assert first.endswith("[turn 1]")
    session = chunks1[-1].session_id
    follow_up = ChatRequest(
        messages=[
            ChatMessage("user", "hello there"),
            ChatMessage("assistant", first),
            ChatMessage("user", "and again"),
        ]
    )
    second, chunks2 = await collect(adapter, follow_up)
    assert pages.replies[-1].prompt == "and again"  # only the new message was typed
    assert second.endswith("[turn 2]")  # the page's own conversation continued
    assert chunks2[-1].session_id == session
    assert chunks2[-1].metadata is not None
    assert chunks2[-1].metadata["web_chat"]["continued"] is True

    # a history the adapter does not hold: a new conversation with the flattened prompt
    other = ChatRequest(
        messages=[
            ChatMessage("system", "Be brief."),
            ChatMessage("user", "unknown start"),
            ChatMessage("assistant", "something else"),
            ChatMessage("user", "next"),
        ]
    )
    third, chunks3 = await collect(adapter, other)
    assert third.endswith("[turn 1]")
    assert pages.replies[-1].prompt.startswith("System: Be brief.\n\nUser: unknown start")
    assert chunks3[-1].session_id != session


async def test_new_chat_control_and_reload_both_start_fresh(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    # one page: every new conversation must reset it (textarea: its control;
    # editable: a reload)
    for style in ("textarea", "editable"):
        adapter = await make_adapter(style, name=f"one-{style}", pages=1)
        for _ in range(3):
            text, _ = await collect(adapter, "fresh start")
            assert text.endswith("[turn 1]"), (style, text)


# ---------------------------------------------------------------------- login and sessions


async def test_login_wall_without_credentials_is_login_required(
    make_adapter: MakeAdapter,
) -> None:
    with pytest.raises(LoginRequired, match="desk login fx-shadow"):
        await make_adapter("shadow")


async def test_refused_credentials_are_login_required(make_adapter: MakeAdapter) -> None:
    with pytest.raises(LoginRequired, match="failed"):
        await make_adapter("shadow", creds="bad")


async def test_stored_credentials_sign_in_and_the_session_is_saved_and_reused(
    make_spec: MakeSpec, pages: ChatPagesServer, browser_cleanup: None
) -> None:
    spec = make_spec("shadow", "login-fx", creds=True, pages=1)
    adapter = WebChatAdapter(spec, resolve)
    await adapter.open()
    try:
        text, _ = await collect(adapter, "What is 2 + 3?")
        assert text == "The answer is 5."
    finally:
        await adapter.aclose()
    path = session_file("login-fx")
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "s3cret" not in path.read_text()

    # a new adapter without credentials reuses the saved session
    bare = make_spec("shadow", "login-fx", pages=1)
    assert bare.password is None
    again = WebChatAdapter(bare, resolve)
    await again.open()
    try:
        text, _ = await collect(again, "What is 4 + 4?")
        assert text == "The answer is 8."
        # the site forgets the session: the next fresh page shows the wall
        pages.expire_sessions()
        with pytest.raises(LoginRequired):
            await collect(again, "What is 1 + 1?")
    finally:
        await again.aclose()


async def test_two_endpoints_never_share_cookies(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    signed_in = await make_adapter("shadow", "iso-a", creds=True, pages=1)
    text, _ = await collect(signed_in, "What is 1 + 2?")
    assert text == "The answer is 3."
    # same site, same browser, another endpoint: its own context, no cookie
    with pytest.raises(LoginRequired):
        await make_adapter("shadow", "iso-b", pages=1)
    other = await make_adapter("textarea", "iso-c", pages=1)
    cookies_a = await signed_in._context.cookies()
    cookies_c = await other._context.cookies()
    assert any(c["name"] == "fixture_session" for c in cookies_a)
    assert not any(c["name"] == "fixture_session" for c in cookies_c)
    assert launch_count() == 1  # one Chromium for every endpoint


async def test_interactive_login_saves_a_session_the_adapter_uses(
    make_spec: MakeSpec, browser_cleanup: None
) -> None:
    spec = make_spec("shadow", "manual", creds=True)
    path = await interactive_login(spec, resolve, headless=True, timeout=20)
    assert path == session_file("manual")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    adapter = WebChatAdapter(make_spec("shadow", "manual", pages=1), resolve)
    await adapter.open()
    try:
        text, _ = await collect(adapter, "What is 6 + 6?")
        assert text == "The answer is 12."
    finally:
        await adapter.aclose()


# ---------------------------------------------------------------------- concurrency, failures


async def test_n_requests_on_n_pages_overlap(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    n = 3
    adapter = await make_adapter("textarea", pages=n, knobs={"delay": 0.05})
    results = await asyncio.gather(*(collect(adapter, f"request {i}") for i in range(n)))
    served = pages.replies[-n:]
    assert sorted(r.prompt for r in served) == [f"request {i}" for i in range(n)]
    # every reply started before any of them ended: they ran side by side
    assert max(r.started for r in served) < min(r.ended or 0 for r in served)
    used = {chunks[-1].metadata["web_chat"]["page"] for _, chunks in results}  # type: ignore[index]
    assert len(used) == n
    assert launch_count() == 1


async def test_a_page_killed_mid_reply_is_a_browser_error_and_the_next_request_works(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("textarea", pages=1, knobs={"delay": 0.05})
    stream = adapter.chat(ChatRequest.from_text("this one dies"))
    first = await stream.__anext__()
    assert first.delta
    page = adapter.pool.slots[0].page
    cdp = await page.context.new_cdp_session(page)
    crash = asyncio.ensure_future(cdp.send("Page.crash"))
    with pytest.raises(BrowserError, match=r"crashed|closed|died"):
        async for _ in stream:
            pass
    crash.cancel()
    text, _ = await collect(adapter, "What is 20 + 22?")
    assert text == "The answer is 42."


async def test_a_request_queued_behind_a_crashing_page_is_served(
    make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("textarea", pages=1, knobs={"delay": 0.05})
    doomed = adapter.chat(ChatRequest.from_text("this one dies"))
    assert (await doomed.__anext__()).delta
    queued = asyncio.ensure_future(collect(adapter, "What is 5 + 5?"))
    await asyncio.sleep(0.2)
    assert not queued.done()  # waiting for the only page
    page = adapter.pool.slots[0].page
    cdp = await page.context.new_cdp_session(page)
    crash = asyncio.ensure_future(cdp.send("Page.crash"))
    with pytest.raises(BrowserError):
        async for _ in doomed:
            pass
    crash.cancel()
    text, _ = await asyncio.wait_for(queued, 30)
    assert text == "The answer is 10."


async def test_a_crashed_browser_is_relaunched_for_the_next_request(
    make_adapter: MakeAdapter,
) -> None:
    adapter = await make_adapter("textarea", pages=2)
    text, _ = await collect(adapter, "What is 1 + 1?")
    assert text == "The answer is 2."
    await adapter._browser.close()  # the whole Chromium goes away
    text, _ = await collect(adapter, "What is 2 + 2?")
    assert text == "The answer is 4."
    assert launch_count() == 2


async def test_a_selector_that_matches_nothing_is_a_browser_error(
    make_adapter: MakeAdapter,
) -> None:
    with pytest.raises(BrowserError, match="#no-such-input"):
        await make_adapter("textarea", input="#no-such-input", timeout=2.0, pages=1)


async def test_alternate_selectors_repair_a_stale_input(make_adapter: MakeAdapter) -> None:
    adapter = await make_adapter(
        "textarea", input="#old-input", alternates={"input": ["#gone", "#prompt"]}, timeout=2.0
    )
    assert adapter.options.input == "#prompt"
    text, _ = await collect(adapter, "What is 1 + 1?")
    assert text == "The answer is 2."


async def test_a_reply_that_never_ends_hits_the_hard_timeout(
    make_adapter: MakeAdapter,
) -> None:
    adapter = await make_adapter("textarea", knobs={"latency": 5}, reply_timeout=1.0, pages=1)
    with pytest.raises(UpstreamTimeout, match="1 s"):
        await collect(adapter, "slow")


async def test_an_unreachable_page_is_unreachable(browser_cleanup: None) -> None:
    import socket

    from endpoint_desk.core.models import EndpointSpec

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = EndpointSpec(
        name="gone",
        kind="web_chat",
        base_url=f"http://127.0.0.1:{port}/",
        options={"input": "textarea", "assistant": ".a"},
    )
    adapter = WebChatAdapter(spec, resolve)
    with pytest.raises(Unreachable):
        await adapter.open()


# ---------------------------------------------------------------------- probes


async def test_cheap_and_deep_probes(make_adapter: MakeAdapter, pages: ChatPagesServer) -> None:
    adapter = await make_adapter("textarea", pages=2)
    served = len(pages.replies)
    cheap = await adapter.probe()
    assert cheap.ok and "input found" in cheap.detail
    assert len(pages.replies) == served  # the cheap probe sends nothing
    deep = await adapter.probe(deep=True)
    assert deep.ok and "OK" in deep.detail
    assert pages.replies[-1].prompt == "Reply with the word OK."


async def test_a_cheap_probe_does_not_queue_behind_busy_pages(make_adapter: MakeAdapter) -> None:
    adapter = await make_adapter("textarea", pages=1, knobs={"delay": 0.05})
    busy = asyncio.ensure_future(collect(adapter, "keep the only page busy"))
    await asyncio.sleep(0.3)
    assert not busy.done()
    probe = await asyncio.wait_for(adapter.probe(), 1.0)
    assert probe.ok and "busy" in probe.detail
    text, _ = await busy
    assert text.endswith("[turn 1]")


@pytest.mark.parametrize("mode", ["fill", "type"])
async def test_multi_line_prompts_reach_a_contenteditable_intact(
    mode: str, make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter("editable", input_mode=mode, pages=1)
    request = ChatRequest(
        messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "first line\nsecond")]
    )
    text, _ = await collect(adapter, request)
    assert pages.replies[-1].prompt == "System: Be brief.\n\nUser: first line\nsecond"
    assert squash(text) == squash(pages.replies[-1].reply)
