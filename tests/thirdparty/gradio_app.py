"""A Gradio ChatInterface with a streaming reply, for the web chat tests.

Run it with the Gradio venv's Python (``scripts/thirdparty.sh`` creates it)::

    GRADIO_ANALYTICS_ENABLED=False .venvs/gradio/bin/python tests/thirdparty/gradio_app.py

It binds 127.0.0.1 on a free port and prints ``READY http://127.0.0.1:PORT/`` on stdout
once the app serves. The reply streams word by word: ``Echo: <the message> (turn N)``
followed by a fixed tail, so a test can check both content and streaming. With
``DESK_FIXTURE_LOG`` set, every reply is logged there (``fixturebot.received``/``finished``).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import fixturebot
import gradio as gr

WORD_DELAY = float(os.environ.get("GRADIO_WORD_DELAY", "0.05"))


def reply(message: str, history: list[Any]) -> Iterator[str]:
    """Stream ``Echo: ...`` one word at a time."""
    turn = len(history) // 2 + 1 if history and isinstance(history[0], dict) else len(history) + 1
    entry = fixturebot.received("gradio", message, turn)
    full = f"Echo: {message} (turn {turn}). That is all I have to say."
    text = ""
    for word in full.split(" "):
        text = f"{text} {word}" if text else word
        time.sleep(WORD_DELAY)
        yield text
    fixturebot.finished(entry, full)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    demo = gr.ChatInterface(reply, title="Desk test chat")
    demo.queue(default_concurrency_limit=8)
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        share=False,
        show_error=True,
        quiet=True,
    )
    print(f"READY http://127.0.0.1:{port}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
