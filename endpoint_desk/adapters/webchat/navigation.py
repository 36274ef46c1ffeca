"""Where a web chat's pages may go: the page's own origins and ``allowed_origins``.

A top-level navigation (a page or a pop-up) to any other origin is refused, so a page
cannot take the desk, and the prompts it types, elsewhere. Sub-resources and frames
are the page's business.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError

from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.models import EndpointSpec

log = logging.getLogger(__name__)

__all__ = ["NavigationGuard", "origin", "page_origins"]


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL (default ports spelled out), lowercased."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def page_origins(spec: EndpointSpec, options: WebChatOptions) -> frozenset[str]:
    """Origins the adapter's pages may navigate to (``"*"``: any)."""
    urls = [spec.base_url, spec.login_url, options.url, options.new_chat_url]
    found = {origin(u) for u in urls if u}
    for o in options.allowed_origins:
        found.add("*" if o.strip() == "*" else origin(o))
    return frozenset(found - {""})


class NavigationGuard:
    """A route handler (``context.route("**/*", guard)``) that refuses top-level
    navigations to origins outside ``origins``."""

    def __init__(self, name: str, origins: frozenset[str]) -> None:
        self.name = name
        self.origins = origins

    async def __call__(self, route: Any) -> None:
        """Refuse a top-level navigation (a page or a pop-up) to an origin other than
        the page's own and ``allowed_origins``: a page cannot take the desk, and the
        prompts it types, elsewhere. Sub-resources and frames are the page's business."""
        request = route.request
        try:
            top = request.is_navigation_request() and request.frame.parent_frame is None
        except PlaywrightError:
            top = request.is_navigation_request()
        if top and origin(request.url) not in self.origins:
            log.warning("%s: refused a navigation to %s", self.name, origin(request.url))
            with contextlib.suppress(PlaywrightError):
                await route.abort("blockedbyclient")
            return
        with contextlib.suppress(PlaywrightError):
            await route.fallback()
