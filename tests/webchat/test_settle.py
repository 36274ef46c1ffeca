"""Unit tests of ``settled`` (``adapters/webchat/settle.py``): the part of a streaming
reply a later markdown render keeps, so the streamed text is never taken back."""

from __future__ import annotations

import pytest

from endpoint_desk.adapters.webchat.settle import settled


@pytest.mark.parametrize(
    ("text", "stable"),
    [
        ("Plain prose streams word by", "Plain prose streams word by"),
        ("Plain prose  ", "Plain prose"),
        # emphasis still open: '*3' becomes '3 words' once the '*' closes
        ("Reply 1: you wrote *3", "Reply 1: you wrote"),
        ("The answer is **4", "The answer is"),
        ("call `fo", "call"),
        ("see [the docs](http", "see"),
        # a block marker alone on the last line becomes a list item, heading, quote
        ("First paragraph.\n\n-", "First paragraph."),
        ("First paragraph.\n\n- ", "First paragraph."),
        ("Intro\n1.", "Intro"),
        ("Intro\n## Hea", "Intro"),
        ("Notes:\n\ntook 17 and 25\nadded them\n\n``", "Notes:\n\ntook 17 and 25\nadded them"),
        # earlier lines are kept as they are
        ("a *b* c\nnext line", "a *b* c\nnext line"),
        ("", ""),
    ],
)
def test_settled_holds_back_what_a_later_render_may_change(text: str, stable: str) -> None:
    assert settled(text) == stable
    assert text.startswith(stable)


def test_a_markdown_reply_rendered_word_by_word_streams_a_prefix_of_its_final_text() -> None:
    # what a page's markdown renderer shows as the source streams (see sim/pages/common.js)
    renders = [
        "Reply 1: you",
        "Reply 1: you wrote *3",
        "Reply 1: you wrote *3 words*.",  # not rendered yet: the render below is
        "Reply 1: you wrote 3 words.",
        "Reply 1: you wrote 3 words.\n\n-",
        "Reply 1: you wrote 3 words.\n\nthe desk",
        "Reply 1: you wrote 3 words.\n\nthe desk reads lists",
    ]
    emitted = ""
    for text in renders:
        stable = settled(text)
        if stable.startswith(emitted):
            emitted = stable
    assert renders[-1].startswith(emitted)
    assert emitted == "Reply 1: you wrote 3 words.\n\nthe desk reads lists"


def test_an_unclosed_code_fence_holds_back_from_its_fence_line() -> None:
    # a page that shows the fence as text until it closes, then a code block without it
    open_ = "Plan:\n\nread it\n\n```\nprint('ok')"
    assert settled(open_) == "Plan:\n\nread it"
    closed = "Plan:\n\nread it\n\nprint('ok')\n\nThat is all."
    assert closed.startswith(settled(open_))
