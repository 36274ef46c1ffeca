"""A second Gradio style for the discovery tests: ``gr.Blocks`` with a ``gr.Chatbot``, a
``gr.Textbox`` (Enter submits, no send button) and a "New conversation" button.

Run it with the Gradio venv's Python (``scripts/thirdparty.sh`` creates it)::

    .venvs/gradio/bin/python tests/thirdparty/gradio_blocks_app.py [PORT]

Binds 127.0.0.1 (a free port by default) and prints ``READY http://127.0.0.1:PORT/``.
The bot answers ``a + b`` questions like a model would (``It is N.``, streamed) and
repeats anything else.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

WORD_DELAY = float(os.environ.get("GRADIO_WORD_DELAY", "0.04"))


def answer(message: str) -> str:
    """``It is 42.`` for ``17 + 25``; else the message repeated."""
    m = re.search(r"(-?\d+)\s*\+\s*(-?\d+)", message)
    if m:
        return f"It is {int(m.group(1)) + int(m.group(2))}. Anything else?"
    return f"You said: {message}"


def user_turn(message: str, history: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    return "", [*history, {"role": "user", "content": message}]


def bot_turn(history: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    text = answer(str(history[-1]["content"]))
    history = [*history, {"role": "assistant", "content": ""}]
    shown = ""
    for word in text.split(" "):
        shown = f"{shown} {word}" if shown else word
        time.sleep(WORD_DELAY)
        history[-1] = {"role": "assistant", "content": shown}
        yield history


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else free_port()
    with gr.Blocks(title="Desk blocks chat") as demo:
        gr.Markdown("## Team assistant")
        chatbot = gr.Chatbot(label="Conversation", height=400)
        box = gr.Textbox(placeholder="Ask the assistant", show_label=False)
        new = gr.Button("New conversation")
        box.submit(user_turn, [box, chatbot], [box, chatbot], queue=False).then(
            bot_turn, chatbot, chatbot
        )
        new.click(lambda: [], None, chatbot, queue=False)
    demo.queue(default_concurrency_limit=8)
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        share=False,
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
