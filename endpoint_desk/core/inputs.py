"""What people type when they add an endpoint, read one way by every front end.

The CLI, the server's create body, the terminal UI and Python's ``add_endpoint`` all
pass what a person typed through these, so a URL, a kind or a model map is accepted
(or refused, with the same words) wherever it is typed:

- :func:`normalize_url`: ``http://`` added when there is no scheme; the host and port
  checked.
- :func:`name_from_url`: the name an endpoint gets when none is given.
- :func:`parse_kind`: an endpoint kind by its value.
- :func:`parse_model_map`: ``ASKED=UPSTREAM`` items.
- :func:`first_error`: pydantic's first complaint about a spec as one line.

Each refusal is a :class:`~endpoint_desk.core.errors.BadRequest` whose ``param`` names
the field (the server answers it with 422 and that ``param``).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import ValidationError

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import EndpointKind, slugify

__all__ = ["first_error", "name_from_url", "normalize_url", "parse_kind", "parse_model_map"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "0.0.0.0"})
_NOISE_LABELS = frozenset({"www", "api", "chat", "com", "ai", "io"})


def normalize_url(text: str, *, param: str = "base_url") -> str:
    """The URL a person typed, ready to probe: trimmed, ``http://`` added when it has no
    scheme.

    Raises:
        BadRequest: a scheme other than http(s), no host name, or a port that is not a
            number from 0 to 65535 (``param`` names the field).
    """
    typed = (text or "").strip()
    if not typed:
        raise BadRequest("a URL is required", param=param)
    target = typed
    if "://" not in target:
        target = "http://" + target
    try:
        parts = urlsplit(target)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise BadRequest(f"invalid URL {typed!r}: {exc}", param=param) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise BadRequest(
            f"invalid URL {typed!r}: it must start with http:// or https://", param=param
        )
    if not parts.hostname:
        raise BadRequest(f"invalid URL {typed!r}: no host name", param=param)
    return target


def name_from_url(url: str) -> str:
    """The name an endpoint gets when none is given: ``local-PORT`` on this machine,
    else the host's main label (``https://api.deepseek.com`` -> ``deepseek``)."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "endpoint").lower()
    if host in _LOCAL_HOSTS:
        try:
            port = parts.port
        except ValueError:
            port = None
        return slugify(f"local-{port or 80}")
    labels = [x for x in host.split(".") if x not in _NOISE_LABELS]
    return slugify(labels[0] if labels else host)


def parse_kind(value: str | EndpointKind, *, what: str = "kind") -> EndpointKind:
    """An endpoint kind by its value (``openai``, ``web_chat``...).

    Args:
        what: how the front end calls the field, for the message (``--kind``).

    Raises:
        BadRequest: no such kind (the message lists them).
    """
    try:
        return EndpointKind(value)
    except ValueError:
        kinds = ", ".join(k.value for k in EndpointKind)
        raise BadRequest(f"unknown {what} {value!r}; one of: {kinds}", param="kind") from None


def parse_model_map(
    items: str | Iterable[str], *, what: str = "a model mapping item is ASKED=UPSTREAM"
) -> dict[str, str]:
    """``ASKED=UPSTREAM`` items (a list, or one text with commas or new lines between
    them) as a model mapping, or any other table of names (``what`` says which in the
    error); empty items are skipped.

    Raises:
        BadRequest: an item without ``=`` or with an empty side.
    """
    if isinstance(items, str):
        items = items.replace("\n", ",").split(",")
    mapping: dict[str, str] = {}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        asked, sep, upstream = item.partition("=")
        if not sep or not asked.strip() or not upstream.strip():
            raise BadRequest(f"{what}, got {item!r}", param="model_mapping")
        mapping[asked.strip()] = upstream.strip()
    return mapping


def first_error(exc: ValidationError) -> tuple[str, str]:
    """(field path, message) of pydantic's first complaint: ``("limits.weight", "Input
    should be greater than or equal to 0")``; the path is empty for the whole object."""
    errors = exc.errors()
    if not errors:
        return "", str(exc)
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ()))
    return loc, str(first.get("msg", "invalid value"))
