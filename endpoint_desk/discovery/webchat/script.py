"""The in-page side of discovery (``window.__deskDiscover``), installed next to the
adapter's own in-page script (``window.__deskChat``) in every page discovery opens."""

from __future__ import annotations

from importlib import resources

__all__ = ["discovery_script"]


def discovery_script() -> str:
    """The in-page discovery script's source (``window.__deskDiscover``)."""
    return resources.files("endpoint_desk.discovery.webchat").joinpath("page.js").read_text("utf-8")
