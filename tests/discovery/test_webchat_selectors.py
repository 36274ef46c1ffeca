"""The selector rules of web chat discovery, one at a time (issue 12).

The in-page rules (``discovery/webchat/js``) run in real Chromium on small pages built
for each rule: deep queries that see shadow roots attached after the first look, the
generated names a selector never rests on, a web component's own attributes, a control
alone in its shadow root clicked through its host, the reply's part (never a pre/code
of it), and the structural locators for generated markup (``:has()`` of the part only
the assistant's rows have; the position among the rows). The Python rules that choose
among the candidates and word a failure are tested on plain data.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from endpoint_desk.adapters.webchat import page_script
from endpoint_desk.adapters.webchat.browser import shared_browser
from endpoint_desk.discovery.webchat.failure import discovery_failed, options_hint
from endpoint_desk.discovery.webchat.reply import choose_assistant, chrome_ignore
from endpoint_desk.discovery.webchat.script import discovery_script
from endpoint_desk.discovery.webchat.selectors import stability

# ---------------------------------------------------------------- in the page

ROWS_BY_HASH = """
<ul class="MuiList-root">
  <li class="MuiListItem-root css-1yo8bqd css-9x8m2p"><div class="MuiAvatar-root">U</div>
    <div class="MuiPaper-root">
      <div class="MuiTypography-root">What is 2 + 3? (check k1)</div></div></li>
  <li class="MuiListItem-root css-1yo8bqd"><div class="MuiAvatar-root">AI</div>
    <div class="MuiPaper-root"><div class="MuiTypography-root"><p>The answer is <b>5</b>.</p>
    <pre><code>2 + 3 = 5</code></pre></div></div></li>
</ul>
"""

ANGULAR_TURNS = """
<div class="ng-star-inserted" _ngcontent-ng-c1="">
  <app-chat-turn class="ng-star-inserted"><div class="ng-star-inserted">
    <div class="ng-star-inserted">
      <div class="ng-star-inserted">What is 2 + 3? (check k1)</div></div>
  </div></app-chat-turn>
  <app-chat-turn class="ng-star-inserted"><div class="ng-star-inserted">
    <span class="ng-star-inserted">Assistant</span>
    <div class="ng-star-inserted"><div class="ng-star-inserted"><p>The answer is 5.</p>
    <pre><code>2 + 3 = 5</code></pre></div></div>
  </div></app-chat-turn>
</div>
"""

LATE_WIDGETS = """
<div id="app"></div>
<script>
  class XBox extends HTMLElement {
    constructor() { super(); this.attachShadow({ mode: 'open' }); }
  }
  customElements.define('x-box', XBox);
  window.boot = () => {
    const outer = document.createElement('x-box');
    document.getElementById('app').appendChild(outer);
    const inner = document.createElement('x-box');
    outer.shadowRoot.appendChild(inner);
    inner.shadowRoot.innerHTML = '<input type="text" placeholder="Send a message">';
    for (const label of ['Send', 'Clear']) {
      const b = document.createElement('x-box');
      b.setAttribute('label', label);
      b.shadowRoot.innerHTML = `<div class="btn-group"><button class="btn">${label}</button></div>`;
      outer.shadowRoot.appendChild(b);
    }
  };
</script>
"""


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    """A blank page holding the adapter's and discovery's in-page scripts."""
    browser = await shared_browser()
    context = await browser.new_context()
    await context.add_init_script(script=page_script())
    await context.add_init_script(script=discovery_script())
    pg = await context.new_page()
    try:
        yield pg
    finally:
        await context.close()


async def _js(page: Any, expr: str, arg: Any = None) -> Any:
    return await page.evaluate(f"(arg) => window.__deskDiscover.{expr}", arg)


async def _describe(page: Any, html: str, answer: str = "5") -> dict[str, Any]:
    await page.set_content(html)
    user = (await _js(page, "find(arg)", "k1"))[0]
    reply = [f for f in await _js(page, "find(arg)", answer) if "k1" not in f["text"]][-1]
    ids = [reply["id"], user["id"]]
    desc: dict[str, Any] = await _js(page, "describeReply(arg[0], arg[1])", ids)
    return desc


@pytest.mark.browser
async def test_inputs_in_shadow_roots_attached_after_the_first_look_are_found(page: Any) -> None:
    await page.set_content(LATE_WIDGETS)
    assert await _js(page, "inputs()") == []  # nothing yet: the widgets boot later
    await page.evaluate("() => window.boot()")
    cands = await _js(page, "inputs()")
    assert [c["tag"] for c in cands] == ["input"] and cands[0]["in_shadow"]
    assert await page.locator(f'[data-desk-cand="{cands[0]["id"]}"]').is_visible()


@pytest.mark.browser
async def test_every_kind_of_text_input_is_a_candidate(page: Any) -> None:
    await page.set_content(
        '<input placeholder="Ask anything"><input type="search" placeholder="Ask a question">'
        '<div contenteditable="true" aria-label="Message"></div>'
        '<div role="textbox" aria-label="Prompt"></div><textarea placeholder="Say"></textarea>'
    )
    cands = await _js(page, "inputs()")
    assert len(cands) == 5
    assert all(c["score"] > 0 for c in cands), [(c["tag"], c["score"]) for c in cands]


@pytest.mark.browser
async def test_a_control_alone_in_its_shadow_root_is_named_by_its_host(page: Any) -> None:
    await page.set_content(LATE_WIDGETS)
    await page.evaluate("() => window.boot()")
    controls = {c["name"]: c for c in await _js(page, "controls()")}
    clear = await _js(page, "selectorsDetail(arg[0], arg[1])", [controls["Clear"]["id"], []])
    send = await _js(page, "selectorsDetail(arg[0], arg[1])", [controls["Send"]["id"], []])
    # '.btn-group > button.btn' picks Send first: never Clear's selector
    assert clear and clear[0] == 'x-box[label="Clear"]'
    assert all("Send" not in s for s in clear)
    assert send[0] in ('x-box[label="Send"]', ".btn-group > button.btn")


@pytest.mark.browser
async def test_generated_names_are_never_a_selector(page: Any) -> None:
    await page.set_content(
        '<input id="mat-input-0" class="ng-untouched ng-pristine ng-valid css-1x2y3z" '
        'placeholder="Ask">'
        '<textarea id=":r1:" class="ng-star-inserted"></textarea>'
    )
    for cand in await _js(page, "inputs()"):
        for sel in cand["selectors"]:
            assert not re.search(r"ng-|css-|mat-input-0|:r1:", sel), sel


@pytest.mark.browser
async def test_a_web_components_own_attributes_name_it(page: Any) -> None:
    await page.set_content(
        "<x-msg user='User'>What is 2 + 3? (check k1)</x-msg><x-msg user='Assistant'>5</x-msg>"
    )
    desc = await _describe(page, await page.content())
    sels = [c["sel"] for c in desc["candidates"] if c["newest"]]
    assert 'x-msg[user="Assistant"]' in sels


@pytest.mark.browser
async def test_rows_that_differ_only_by_a_hashed_class_get_their_position(page: Any) -> None:
    desc = await _describe(page, ROWS_BY_HASH)
    # the reply's part is the message body, never the pre/code/p the answer showed in
    assert desc["text_text"].startswith("The answer is 5.") and "2 + 3 = 5" in desc["text_text"]
    assistant, text_sel, _ = choose_assistant(desc)
    assert assistant == "li.MuiListItem-root:nth-child(even of li.MuiListItem-root)"
    assert text_sel is not None and "MuiTypography-root" in text_sel
    # it picks the reply and not the user's row, and keeps doing so for the next turn
    assert await page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].map((e) => e.textContent.includes('AI'))""",
        assistant,
    ) == [True]


@pytest.mark.browser
async def test_identical_generated_turns_are_told_apart_by_the_assistants_label(
    page: Any,
) -> None:
    desc = await _describe(page, ANGULAR_TURNS)
    assistant, text_sel, _ = choose_assistant(desc)
    assert assistant == "app-chat-turn:has(> div > span)"
    # the answer is read without the label: through the reply's own part when discovery
    # needs one, else the adapter's reading of the whole message skips the leading label
    text = await page.evaluate(
        """([a, t]) => { const m = [...document.querySelectorAll(a)].pop();
                          return window.__deskChat.textOf(t ? m.querySelector(t) : m, {}); }""",
        [assistant, text_sel],
    )
    assert text.startswith("The answer is 5.") and "Assistant" not in text


# ---------------------------------------------------------------- on plain data


def _cand(sel: str, *, newest: bool = True, message: bool = True, **kw: Any) -> dict[str, Any]:
    return {
        "sel": sel,
        "level": "1",
        "is_message": message,
        "newest": newest,
        "count": 2,
        "text": "The answer is 5.",
        "whole": True,
        "text_sels": [],
        **kw,
    }


def _desc(cands: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "message_text": "Assistant The answer is 5.",
        "text_text": "The answer is 5.",
        "text_selectors_in_message": [],
        "candidates": cands,
        **kw,
    }


def test_structural_locators_rank_after_every_attribute() -> None:
    ranked = sorted(
        [
            _cand("li:nth-child(even of li)"),
            _cand("app-turn:has(> div > span)"),
            _cand("app-turn:has(.author)"),
            _cand("div.bubble"),
            _cand('[data-role="assistant"]'),
        ],
        key=lambda c: -stability(c),
    )
    assert [c["sel"] for c in ranked] == [
        '[data-role="assistant"]',
        "div.bubble",
        "app-turn:has(.author)",
        "app-turn:has(> div > span)",
        "li:nth-child(even of li)",
    ]


def test_only_the_newest_whole_reply_is_eligible_and_its_text_part_goes_along() -> None:
    desc = _desc(
        [
            _cand("pre", message=False, whole=False),
            _cand("div.msg", newest=False),
            _cand("mesop-markdown", message=False, text_sels=[":scope > div"]),
        ]
    )
    assert choose_assistant(desc) == ("mesop-markdown", ":scope > div", [])
    assert choose_assistant(_desc([_cand("pre", whole=False)])) == (None, None, [])


def test_chrome_is_ignored_only_when_no_text_part_can_be_named() -> None:
    desc = _desc(
        [_cand("x-msg", text="🤖 Assistant The answer is 5. 17:31")],
        chrome=["div.avatar", "div.meta"],
    )
    assert chrome_ignore(desc, "x-msg", None) == "div.avatar,div.meta"
    assert chrome_ignore(desc, "x-msg", ".body") is None
    assert chrome_ignore({**desc, "chrome": None}, "x-msg", None) is None


def test_a_failure_names_what_was_found_and_gives_a_working_options_line() -> None:
    found = {"input": 'textarea[placeholder="Ask"]', "send": "button[aria-label='send']"}
    err = discovery_failed("http://h/", "the reply was found but no selector picks it", found)
    text = str(err)
    assert "Found: input textarea" in text and "Not found: the assistant's messages" in text
    line = options_hint("http://h/", found)
    assert line.startswith("desk add http://h/ --options '") and line in text
    opts = json.loads(line.split("--options ", 1)[1].strip("'"))
    assert opts["input"] == found["input"] and opts["send"] == found["send"]
    assert opts["assistant"].startswith("<")
