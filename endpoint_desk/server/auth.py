"""Keys for ``/v1`` and ``/api``: resolution, constant-time checks, bind policy.

A key comes as ``Authorization: Bearer <key>`` (OpenAI clients) or as ``x-api-key``
(Anthropic clients). Keys are compared with :func:`hmac.compare_digest` and never
logged or echoed.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from endpoint_desk.core.errors import ConfigError

KEY_PREFIX = "desk-"
"""Generated keys start with this, so people can tell a desk key from others."""

SECRET_NAME = "server.api_key"
"""Name under which ``desk serve --generate-key`` stores the key in the secret store."""


def generate_key() -> str:
    """A new random bearer key (256 bits, URL-safe)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine only.

    ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``) are; anything else
    (``0.0.0.0``, ``::``, a LAN address, another host name) is not.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to expose an unprotected desk beyond this machine.

    Raises:
        ConfigError: ``host`` is not loopback and no key is set.
    """
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to listen on {host} without an API key: set DESK_API_KEY, "
            "[server] api_key in the config file, or run desk serve --generate-key"
        )


def bearer_of(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def key_matches(presented: str | None, expected: bytes) -> bool:
    """Constant-time comparison of a presented key with the expected one (as bytes)."""
    if presented is None:
        # still spend the comparison so a missing key takes as long as a wrong one
        hmac.compare_digest(expected, expected)
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected)


class KeyCheck:
    """The keys a server enforces: ``api_key`` for ``/v1`` (and ``/api`` when no admin
    key is set), ``admin_key`` for ``/api``. ``None`` keys mean "open"."""

    __slots__ = ("_admin", "_api")

    def __init__(self, api_key: str | None, admin_key: str | None = None) -> None:
        for label, key in (("api key", api_key), ("admin key", admin_key)):
            if key is not None and len(key) < 8:
                raise ConfigError(f"the {label} is too short (8 characters at least)")
        self._api = api_key.encode() if api_key else None
        self._admin = admin_key.encode() if admin_key else None

    @property
    def enabled(self) -> bool:
        """Whether any key is required."""
        return self._api is not None or self._admin is not None

    def allows_v1(self, authorization: str | None, api_key: str | None = None) -> bool:
        """Whether a ``/v1`` (or ``/metrics``) request may pass.

        Args:
            authorization: the ``Authorization`` header.
            api_key: the ``x-api-key`` header (Anthropic clients send the key there).
        """
        if self._api is None:
            return True
        # every presented key is compared (a list, not a short-circuit), so the time
        # does not say which one matched
        return any([key_matches(k, self._api) for k in _presented(authorization, api_key)])

    def allows_admin(self, authorization: str | None, api_key: str | None = None) -> bool:
        """Whether an ``/api`` request may pass (admin key if set, else the api key)."""
        expected = self._admin if self._admin is not None else self._api
        if expected is None:
            return True
        return any([key_matches(k, expected) for k in _presented(authorization, api_key)])


def _presented(authorization: str | None, api_key: str | None) -> list[str | None]:
    """The keys a request presents: its bearer token, and its ``x-api-key`` when sent."""
    keys = [bearer_of(authorization)]
    if api_key is not None:
        keys.append(api_key.strip() or None)
    return keys
