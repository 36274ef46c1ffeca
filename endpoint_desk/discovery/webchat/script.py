"""The in-page side of discovery (``window.__deskDiscover``), installed next to the
adapter's own in-page script (``window.__deskChat``) in every page discovery opens.

It lives in ``js/``, one file per step like the Python modules here; the parts are
joined, in ``PARTS`` order, into the body of one function so they share helpers
(``base.js``) without putting them on ``window``; ``export.js`` comes last.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

__all__ = ["PARTS", "discovery_script"]

PARTS = (
    "base",
    "load",
    "inputs",
    "send",
    "reply",
    "structure",
    "completion",
    "selectors",
    "outline",
    "export",
)
"""The files of ``js/`` in the order they are joined."""


@cache
def discovery_script() -> str:
    """The in-page discovery script's source (``window.__deskDiscover``)."""
    folder = resources.files("endpoint_desk.discovery.webchat").joinpath("js")
    body = "\n".join(folder.joinpath(f"{part}.js").read_text("utf-8") for part in PARTS)
    return "(() => {\nif (window.__deskDiscover) return;\n" + body + "})();\n"
