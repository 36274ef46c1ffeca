"""A NiceGUI chat (``ui.chat_message`` + ``ui.input``: Vue and Quasar underneath) with a
streaming bot, for the framework fixtures of issue 12.

Run it with the NiceGUI venv's Python (``scripts/thirdparty.sh`` creates it)::

    .venvs/nicegui/bin/python tests/thirdparty/nicegui_app.py [PORT]

Binds 127.0.0.1 (a free port by default) and prints ``READY http://127.0.0.1:PORT/``
once it serves. Each page load is its own conversation; messages are Quasar chat
messages with the author's name and a time stamp (page chrome the desk must leave out
of the answer); the bot's reply is ``ui.markdown`` streamed word by word. Enter or the
send button sends; "New chat" clears the conversation.
"""

from __future__ import annotations

import asyncio
import sys
import time

import fixturebot
from nicegui import app, ui


@ui.page("/")
def index() -> None:
    ui.page_title("Desk NiceGUI chat")
    state = {"turn": 0, "busy": False}

    def new_chat() -> None:
        if not state["busy"]:
            state["turn"] = 0
            thread.clear()

    async def send() -> None:
        prompt = str(box.value or "").strip()
        if not prompt or state["busy"]:
            return
        state["busy"] = True
        state["turn"] += 1
        turn = state["turn"]
        entry = fixturebot.received("nicegui", prompt, turn)
        box.value = ""
        stamp = time.strftime("%H:%M")
        with thread:
            ui.chat_message(prompt, name="You", stamp=stamp, sent=True)
            with ui.chat_message(name="Assistant", stamp=stamp, sent=False):
                body = ui.markdown("")
        text = fixturebot.answer(prompt, turn)
        shown = ""
        try:
            for tok in fixturebot.tokens(text):
                await asyncio.sleep(fixturebot.WORD_DELAY)
                shown += tok
                body.set_content(shown)
        finally:
            state["busy"] = False
        fixturebot.finished(entry, text)

    with ui.column().classes("w-full max-w-2xl mx-auto"):
        ui.button("New chat", on_click=new_chat).props("flat")
        thread = ui.column().classes("w-full")
    with ui.footer().classes("bg-white"), ui.row().classes("w-full max-w-2xl mx-auto items-center"):
        box = ui.input(placeholder="Message").props("outlined dense").classes("flex-grow")
        box.on("keydown.enter", send)
        ui.button(icon="send", on_click=send).props("round flat")


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else fixturebot.free_port()
    app.on_startup(lambda: print(f"READY http://127.0.0.1:{port}/", flush=True))
    ui.run(
        host="127.0.0.1",
        port=port,
        reload=False,
        show=False,
        show_welcome_message=False,
        title="Desk NiceGUI chat",
    )


if __name__ == "__main__":
    main()
