"""Which redirects the desk follows, the same for every HTTP implementation.

- Never from ``https`` to ``http`` (not even on the same host: the key would travel
  in clear text).
- Within one origin (scheme, host and port): 307 and 308 repeat the request as it
  was; 301 and 302 too (a POST is resent as it was: nothing was processed, and the
  credentials stay with the origin they were configured for); 303 becomes a GET.
- To another origin: only a request without a body (a GET, or what a 303 turns
  into), and then with none of its headers but the harmless ones below: no
  ``Authorization``, ``x-api-key``, ``x-goog-api-key``, cookie or any configured
  header, whatever its name. A request with a body is not redirected elsewhere.

A redirect that is not followed is handed back as the response; the adapters turn it
into an error that names where it pointed.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

REDIRECTS = frozenset((301, 302, 303, 307, 308))
MAX_REDIRECTS = 3
"""Redirects followed per request."""
CARRIED_ACROSS = frozenset(("accept", "accept-language", "content-type", "user-agent"))
"""The only headers a request keeps when redirected to another origin."""

Hop = tuple[str, str, list[tuple[str, str]], bytes | None]
"""(method, url, headers, body) of the next request."""


def origin(url: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) URL, the port made explicit; None for
    anything else (which is no origin a redirect may go to)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:  # a port that is not a number
        return None
    return scheme, parts.hostname.lower(), port


def next_hop(
    method: str,
    url: str,
    status: int,
    location: str | None,
    headers: list[tuple[str, str]],
    body: bytes | None,
) -> Hop | None:
    """The request that follows a redirect answer, or None to hand the answer back."""
    if status not in REDIRECTS or not location:
        return None
    target = urljoin(url, location.strip())
    here, there = origin(url), origin(target)
    if here is None or there is None or (here[0] == "https" and there[0] == "http"):
        return None
    if status == 303 and method != "HEAD":
        method, body = "GET", None
        headers = [(n, v) for n, v in headers if n.lower() != "content-type"]
    if here == there:
        return method, target, headers, body
    if body is not None or method not in ("GET", "HEAD"):
        return None
    return method, target, [(n, v) for n, v in headers if n.lower() in CARRIED_ACROSS], None
