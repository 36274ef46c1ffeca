"""The in-page script's text reading and shadow-root search (``page.js``), on small
pages set with ``page.set_content`` in real Chromium: a message's text without its
chrome (author labels, time stamps, avatars, icons, buttons), its markdown blocks as
lines, its own shadow root read, and shadow roots attached after the first query
found."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from endpoint_desk.adapters.webchat.browser import open_context
from endpoint_desk.core.models import BrowserConfig

pytestmark = [pytest.mark.browser, pytest.mark.timeout(60)]


@pytest.fixture
async def page(browser_cleanup: None) -> AsyncIterator[Any]:
    context = await open_context(BrowserConfig())
    try:
        p = await context.new_page()
        yield p
    finally:
        await context.close()


async def text_of(page: Any, html: str, sel: str = ".msg", **cfg: Any) -> str:
    await page.set_content(html)
    return str(
        await page.evaluate(
            "([sel, cfg]) => window.__deskChat.textOf(window.__deskChat.deepAll(sel)[0], cfg)",
            [sel, cfg],
        )
    )


@pytest.mark.parametrize(
    ("html", "want"),
    [
        # an author label and a time stamp before the text, buttons after it
        (
            '<div class="msg"><time>17:24</time><span>Assistant</span>Hello there.'
            "<div><button>Copy</button><button>Regenerate</button></div></div>",
            "Hello there.",
        ),
        # chat-UI classes: avatar, name, stamp (NiceGUI/Quasar's q-message markup)
        (
            '<div class="msg"><img class="q-message-avatar" alt="Assistant avatar">'
            '<div class="q-message-name">Assistant</div><div class="q-message-text">'
            '<p>The answer is 42.</p></div><div class="q-message-stamp">09:05</div></div>',
            "The answer is 42.",
        ),
        # an emoji avatar and a status dot before the text
        ('<div class="msg"><div>🤖</div><span>●</span><p>Ready.</p></div>', "Ready."),
        # markdown blocks stay lines
        (
            '<div class="msg"><p>Intro.</p><ul><li>one</li><li>two</li></ul>'
            "<pre><code>x = 1\ny = 2</code></pre></div>",
            "Intro.\n\none\n\ntwo\n\nx = 1\ny = 2",
        ),
        # a reply that is itself a time or a role word is kept (it is the prose)
        ('<div class="msg"><p>12:30</p></div>', "12:30"),
        ('<div class="msg"><p>You</p></div>', "You"),
        # a role word later in the text is the text
        (
            '<div class="msg">Ask the <span>assistant</span> again.</div>',
            "Ask the assistant again.",
        ),
    ],
)
async def test_text_of_reads_only_the_answer(page: Any, html: str, want: str) -> None:
    assert await text_of(page, html) == want


async def test_text_of_reads_the_messages_own_shadow_root(page: Any) -> None:
    html = (
        '<div id="host" class="msg"></div><script>'
        "const r = document.getElementById('host').attachShadow({mode: 'open'});"
        'r.innerHTML = \'<span class="name">Assistant</span><div class="body"></div>'
        '<div class="timestamp">10:01</div>\';'
        "r.querySelector('.body').attachShadow({mode: 'open'}).innerHTML = '<p>Deep text.</p>';"
        "</script>"
    )
    assert await text_of(page, html) == "Deep text."


async def test_shadow_roots_attached_after_the_first_query_are_found(page: Any) -> None:
    await page.set_content('<div id="app"></div>')
    assert await page.evaluate("() => window.__deskChat.count('input.late')") == 0
    await page.evaluate(
        """() => {
          const outer = document.createElement('x-outer');
          const r1 = outer.attachShadow({mode: 'open'});   // attached before it joins
          document.getElementById('app').appendChild(outer);
          const inner = document.createElement('x-inner');
          r1.appendChild(inner);
          inner.attachShadow({mode: 'open'}).innerHTML = '<input class="late">';
        }"""
    )
    assert await page.evaluate("() => window.__deskChat.count('input.late')") == 1


async def test_a_code_blocks_header_is_not_text(page: Any) -> None:
    html = (
        '<div class="msg"><p>Run it:</p><div class="card"><div class="head">'
        "<span>python</span><button>Copy</button></div><pre><code>print('ok')</code></pre>"
        "</div></div>"
    )
    assert await text_of(page, html) == "Run it:\n\nprint('ok')"
