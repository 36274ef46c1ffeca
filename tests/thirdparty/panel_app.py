"""Panel's ``pn.chat.ChatInterface`` (Bokeh web components, open shadow roots) with a
streaming bot, for the framework fixtures of issue 12.

Run it with the Panel venv's Python (``scripts/thirdparty.sh`` creates it)::

    .venvs/panel/bin/python tests/thirdparty/panel_app.py [PORT]

Binds 127.0.0.1 (a free port by default) and prints ``READY http://127.0.0.1:PORT/``
once it serves. Each browser session gets its own chat; the bot is ``fixturebot``'s
(``The answer is N. (turn T)``, ``echo: ... (turn T)``), streamed word by word. The
interface's own *Clear* button starts a new conversation.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import fixturebot
import panel as pn


def make_chat() -> Any:
    """One session's chat: the turn counts the user messages since the last Clear."""

    async def callback(contents: str, user: str, instance: Any) -> AsyncIterator[str]:
        turn = sum(1 for m in instance.objects if m.user == "User")
        entry = fixturebot.received("panel", str(contents), turn)
        text = fixturebot.answer(str(contents), turn)
        shown = ""
        for tok in fixturebot.tokens(text):
            await asyncio.sleep(fixturebot.WORD_DELAY)
            shown += tok
            yield shown
        fixturebot.finished(entry, text)

    return pn.chat.ChatInterface(
        callback=callback,
        callback_user="Assistant",
        user="User",
        show_rerun=False,
        show_undo=False,
        sizing_mode="stretch_width",
        height=500,
    )


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else fixturebot.free_port()
    pn.extension(notifications=False)
    server = pn.serve(
        {"/": make_chat},
        port=port,
        address="127.0.0.1",
        websocket_origin=[f"127.0.0.1:{port}", f"localhost:{port}"],
        show=False,
        start=False,  # bind now (a port in use fails here), serve below
        title="Desk Panel chat",
    )
    print(f"READY http://127.0.0.1:{port}/", flush=True)
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
