"""The ``web_chat`` adapter: any chat page in a browser becomes an API position.

- ``browser``: the one Chromium per event loop, contexts, saved sessions.
- ``options``: the selector configuration (``EndpointSpec.options``) and its checks.
- ``adapter``: ``WebChatAdapter`` and ``interactive_login``.
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
