"""The framework-style fixture pages of issue 12 through the web chat adapter, each with
its hand-written configuration (``chatstyles.options_for``): with the selectors right,
the content must be exactly the page's reply, whole, and nothing else.

This is the adapter's half of issue 12, apart from discovery's
(``tests/discovery/test_frameworks.py``): a failure here is not a wrong selector.
"""

from __future__ import annotations

import pytest

from endpoint_desk.sim.chatpages import ChatPagesServer
from tests.thirdparty.frameworks import plain
from tests.webchat.conftest import MakeAdapter, collect

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

STYLES = ("mui", "quasar", "stopgen", "chrome", "pause", "widgets", "angular")


@pytest.mark.parametrize("style", STYLES)
async def test_hand_configured_page_reads_only_the_whole_answer(
    style: str, make_adapter: MakeAdapter, pages: ChatPagesServer
) -> None:
    adapter = await make_adapter(style, timeout=15)
    for prompt in ("What is 17 + 25?", "hello there desk"):
        text, _ = await collect(adapter, prompt)
        rec = pages.replies[-1]
        assert rec.prompt == prompt
        assert rec.ended is not None, f"returned {text!r} before the page finished its reply"
        assert plain(text) == plain(rec.reply), f"read {text!r}, the page said {rec.reply!r}"
