"""A Streamlit chat (``st.chat_input`` + ``st.chat_message``, streamed with
``st.write_stream``) for the discovery tests: a second third-party framework.

Run it with the Streamlit venv (``scripts/thirdparty.sh`` creates it)::

    .venvs/streamlit/bin/streamlit run tests/thirdparty/streamlit_app.py \
        --server.address 127.0.0.1 --server.port PORT --server.headless true

The bot answers ``a + b`` questions like a model would (``The sum is N.``) and repeats
anything else. "New chat" clears the conversation. With ``DESK_FIXTURE_LOG`` set, every
reply is logged there (``fixturebot.received``/``finished``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import fixturebot  # from this folder: Streamlit puts the script's folder on sys.path
import streamlit as st

WORD_DELAY = 0.03


def answer(message: str) -> str:
    m = re.search(r"(-?\d+)\s*\+\s*(-?\d+)", message)
    if m:
        return f"The sum is {int(m.group(1)) + int(m.group(2))}."
    return f"Echo: {message}"


def stream(text: str) -> Iterator[str]:
    for word in text.split(" "):
        time.sleep(WORD_DELAY)
        yield word + " "


st.title("Desk Streamlit chat")
if "messages" not in st.session_state:
    st.session_state.messages = []
if st.button("New chat"):
    st.session_state.messages = []
for m in st.session_state.messages:
    with st.chat_message(m["role"]):
        st.markdown(m["content"])
if prompt := st.chat_input("Send a message"):
    st.session_state.messages.append({"role": "user", "content": prompt})
    turn = sum(1 for m in st.session_state.messages if m["role"] == "user")
    entry = fixturebot.received("streamlit", prompt, turn)
    with st.chat_message("user"):
        st.markdown(prompt)
    with st.chat_message("assistant"):
        reply = st.write_stream(stream(answer(prompt)))
    st.session_state.messages.append({"role": "assistant", "content": str(reply).strip()})
    fixturebot.finished(entry, answer(prompt))
