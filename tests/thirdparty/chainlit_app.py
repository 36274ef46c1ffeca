"""A Chainlit echo app (React) whose reply streams with ``cl.Message.stream_token``,
for the framework fixtures of issue 12.

Run it with the Chainlit venv (``scripts/thirdparty.sh`` creates it), from a scratch
folder (Chainlit writes ``.chainlit/`` and ``chainlit.md`` into its app root)::

    CHAINLIT_APP_ROOT=$(mktemp -d) .venvs/chainlit/bin/chainlit run \
        tests/thirdparty/chainlit_app.py --headless --host 127.0.0.1 --port PORT

The bot is ``fixturebot``'s, streamed word by word; the turn counts the messages of the
chat session, which Chainlit's own "New Chat" button (with its confirmation dialog)
starts afresh.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import chainlit as cl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixturebot  # Chainlit does not put the app's folder on sys.path


@cl.on_chat_start
async def start() -> None:
    cl.user_session.set("turn", 0)


@cl.on_message
async def on_message(message: cl.Message) -> None:
    turn = int(cl.user_session.get("turn") or 0) + 1
    entry = fixturebot.received("chainlit", message.content, turn)
    cl.user_session.set("turn", turn)
    text = fixturebot.answer(message.content, turn)
    reply = cl.Message(content="")
    for tok in fixturebot.tokens(text):
        await asyncio.sleep(fixturebot.WORD_DELAY)
        await reply.stream_token(tok)
    await reply.send()
    fixturebot.finished(entry, text)
