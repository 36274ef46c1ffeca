"""Configure a web chat page by itself, from evidence on the page.

``configure_web_chat(url)`` loads the page in the desk's one Chromium, works out the
whole ``web_chat`` configuration (the keys of
:class:`endpoint_desk.adapters.webchat.options.WebChatOptions`) and proves it. One
module per step, in the order they run (``configure.py`` runs them):

1. ``load``: load the page (with the endpoint's saved session, if any); a login wall
   is filled with stored credentials when given, else reported as ``LoginRequired``
   (offering ``desk login NAME``); a chat inside a frame is configured on its page.
2. ``inputs``: rank message-input candidates across frames and open shadow roots
   (textarea, contenteditable, ``role=textbox``; visible, enabled, near the bottom,
   labelled "message"/"ask"/...; not search or login fields).
3. ``send``: type into the best one and find the send control by what changed (a
   button that appeared or became enabled), by its name and its position; fall back
   to Enter.
4. ``reply``: send a canary (``canary``) question whose answer does not appear in the
   prompt, record DOM mutations while the page answers and locate the assistant
   message. An echo bot's reply (the prompt repeated) still locates it: it is the
   *later* of the two elements holding the prompt.
5. ``completion``: the busy signal and the longest pause, from what the page showed
   while answering.
6. ``selectors``: rank the selector candidates (roles, data attributes and test ids
   before classes; hashed classes never).
7. ``verify``: find the new-conversation control, use it, and verify the whole
   configuration with a second canary read through the adapter's own in-page script
   (``__deskChat.arm``/``take``).

A verified configuration is kept in the pattern library (``discovery/patterns.py``);
the next page with the same fingerprint tries the best patterns first and skips the
analysis when one passes its canary. When the heuristics are unsure, an ``assist``
callable (one of the user's own endpoints, passed in by the engine) may choose among
numbered candidates; its choice is kept only when the canary confirms it.

The in-page side is ``window.__deskDiscover``, installed next to the adapter's
``window.__deskChat``: ``js/``, one file per step with the same names, joined by
``script.py``.
"""

from __future__ import annotations

from endpoint_desk.discovery.assist import AssistFn
from endpoint_desk.discovery.webchat.canary import Canary
from endpoint_desk.discovery.webchat.configure import configure_web_chat
from endpoint_desk.discovery.webchat.result import ProgressFn, Step, WebChatDiscovery
from endpoint_desk.discovery.webchat.script import discovery_script

__all__ = [
    "AssistFn",
    "Canary",
    "ProgressFn",
    "Step",
    "WebChatDiscovery",
    "configure_web_chat",
    "discovery_script",
]
