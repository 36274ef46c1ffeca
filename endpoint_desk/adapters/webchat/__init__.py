"""The ``web_chat`` adapter: any chat page in a browser becomes an API position.

- ``adapter``: ``WebChatAdapter``, the contract (open, aclose, chat, probe, list_models).
- ``pool``: the endpoint's warm pages (slots, acquire/release, background refill).
- ``driver``: ``PageDriver``, one page: load, wait until ready, new conversation, click.
- ``exchange``: send a prompt and stream the reply out of the page.
- ``completion``: when a reply is over (busy signal, quiet window, hard limit).
- ``login``: signing in with stored credentials, the saved session, ``interactive_login``.
- ``navigation``: the origins a page may go to, and the guard that refuses the rest.
- ``errors``: Playwright's errors as the desk's own.
- ``prompt``: the OpenAI message list as one prompt; the history for session affinity.
- ``browser``: the one Chromium per event loop, contexts, saved session files.
- ``options``: the selector configuration (``EndpointSpec.options``) and its checks.
- ``repair``: the runtime self-repair hook (registered by discovery).
- ``page.js``: the in-page script (``window.__deskChat``), loaded with
  ``importlib.resources`` via ``page_script()``.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def page_script() -> str:
    """The in-page script's source (installed as ``window.__deskChat``)."""
    return resources.files(__name__).joinpath("page.js").read_text("utf-8")


__all__ = ["page_script"]
