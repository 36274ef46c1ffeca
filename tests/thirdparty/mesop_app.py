"""Mesop's chat component (``mesop.labs.chat``: Angular Material, generated markup) with
a streaming bot and a "New chat" button, for the framework fixtures of issue 12.

Run it with the Mesop venv's Python (``scripts/thirdparty.sh`` creates it)::

    .venvs/mesop/bin/python tests/thirdparty/mesop_app.py [PORT]

Binds 127.0.0.1 (a free port by default; Mesop's own runner binds "localhost") in
production mode and prints ``READY http://127.0.0.1:PORT/`` once it serves. The bot is
``fixturebot``'s, streamed word by word; the chat keeps its history per browser session.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import fixturebot
import mesop as me
import mesop.labs as mel
from mesop.labs import chat as labs_chat


def transform(prompt: str, history: list[mel.ChatMessage]) -> Iterator[str]:
    """The bot: ``history`` already holds this prompt as its last user message."""
    turn = sum(1 for m in history if m.role == "user")
    entry = fixturebot.received("mesop", prompt, turn)
    text = fixturebot.answer(prompt, turn)
    for tok in fixturebot.tokens(text):
        time.sleep(fixturebot.WORD_DELAY)
        yield tok
    fixturebot.finished(entry, text)


def new_chat(event: me.ClickEvent) -> None:
    """Forget the conversation (the component keeps it in its own state class)."""
    state = me.state(labs_chat.State)
    if not state.in_progress:
        state.output = []
        state.input = ""


@me.page(path="/", title="Desk Mesop chat")
def page() -> None:
    with me.box(style=me.Style(display="flex", justify_content="end", padding=me.Padding.all(8))):
        me.button("New chat", on_click=new_chat, type="stroked")
    mel.chat(transform, title="Desk Mesop chat", bot_user="Assistant")


def main() -> None:
    from werkzeug.serving import make_server

    port = int(sys.argv[1]) if len(sys.argv) > 1 else fixturebot.free_port()
    app = me.create_wsgi_app(debug_mode=False)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print(f"READY http://127.0.0.1:{port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
