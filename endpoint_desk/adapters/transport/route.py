"""Where an endpoint's requests go on their way out: which proxy (if any), which TLS
trust, which HTTP implementation.

A :class:`Route` is made once per adapter (:func:`route_for`) from the endpoint's
``proxy``, ``ca_file`` and ``verify_tls`` and the desk-wide ``[http]`` settings; the
proxy variables of the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``NO_PROXY``,
read by the standard library's ``urllib.request``) are read at that moment too. A
proxy password stays a secret reference in the route and is resolved per request.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from endpoint_desk.adapters.transport.tls import ssl_context
from endpoint_desk.core.config import HttpSettings
from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import EndpointSpec, check_proxy_url, mask_proxy

Resolver = Callable[[str], str]
"""Turns a secret reference into its value (the adapter's resolver)."""

_SETTINGS: HttpSettings | None = None


def http_settings() -> HttpSettings:
    """The desk-wide ``[http]`` settings: those given to :func:`configure`, else read
    once from the config file and ``DESK_HTTP__*`` variables."""
    global _SETTINGS
    if _SETTINGS is None:
        from endpoint_desk.core.config import load_settings

        _SETTINGS = load_settings().http
    return _SETTINGS


def configure(settings: HttpSettings | None) -> None:
    """Use these ``[http]`` settings for routes made from now on (None: read them
    again from the config on next use)."""
    global _SETTINGS
    _SETTINGS = settings


@dataclass(frozen=True, slots=True)
class ProxyHop:
    """An HTTP proxy to send through; ``authorization`` is the resolved
    ``Proxy-Authorization`` value (never shown: it is left out of ``repr``)."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class _ProxySpec:
    """A parsed proxy URL whose password may still be a secret reference."""

    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    password_is_ref: bool

    @classmethod
    def parse(cls, url: str, *, from_env: bool) -> _ProxySpec:
        if "://" not in url:  # HTTPS_PROXY=proxy:3128 is common
            url = "http://" + url
        try:
            if not from_env:
                check_proxy_url(url)
            parts = urlsplit(url)
            port = parts.port or 80
        except ValueError as exc:
            raise ConfigError(f"bad proxy {mask_proxy(url)!r}: {exc}") from exc
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ConfigError(
                f"proxy {mask_proxy(url)!r}: only http:// proxies are supported "
                "(https upstreams still get end-to-end TLS through them)"
            )
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(parts.hostname, port, user, password, not from_env and password is not None)

    def hop(self, resolve: Resolver | None) -> ProxyHop:
        if self.username is None and self.password is None:
            return ProxyHop(self.host, self.port)
        password = self.password or ""
        if self.password_is_ref:
            if resolve is None:
                raise ConfigError("a proxy password reference needs a secret resolver")
            password = resolve(password)
        token = base64.b64encode(f"{self.username or ''}:{password}".encode()).decode()
        return ProxyHop(self.host, self.port, f"Basic {token}")


class Route:
    """How one endpoint's requests leave the machine.

    Args:
        client: the HTTP implementation (``h1`` or ``aiohttp``).
        tls: the TLS context for ``https`` URLs.
        proxy: the endpoint's ``proxy`` setting: a URL, ``direct``, or None for the
            environment's variables.
        resolve: resolves a proxy password reference, per request.
    """

    __slots__ = ("_env", "_fixed", "_parsed", "_resolve", "client", "tls")

    def __init__(
        self,
        *,
        client: str = "h1",
        tls: ssl.SSLContext | None = None,
        proxy: str | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        self.client = client
        self.tls = tls if tls is not None else ssl_context()
        self._resolve = resolve
        self._fixed: _ProxySpec | None = None
        self._env: dict[str, str] = {}
        self._parsed: dict[str, _ProxySpec] = {}
        if proxy is not None and proxy != "direct":
            self._fixed = _ProxySpec.parse(proxy, from_env=False)
        elif proxy is None:
            env = {k: v for k, v in urllib.request.getproxies_environment().items() if v}
            every = env.get("all", "")
            if "://" in every and not every.lower().startswith("http://"):
                del env["all"]  # ALL_PROXY is often a SOCKS proxy meant for other tools
            self._env = env

    def proxy_for(self, url: str) -> ProxyHop | None:
        """The proxy for ``url``, or None to connect directly.

        Raises:
            ConfigError: a proxy URL the desk cannot use, or a password reference
                that does not resolve.
        """
        if self._fixed is not None:
            return self._fixed.hop(self._resolve)
        env = self._env
        if not env:
            return None
        parts = urlsplit(url)
        chosen = env.get(parts.scheme.lower()) or env.get("all")
        if not chosen:
            return None
        host = parts.hostname or ""
        if _is_loopback(host):
            return None  # as Go's ProxyFromEnvironment: this machine is never proxied
        if "no" in env and _bypass(host, env):
            return None
        spec = self._parsed.get(chosen)
        if spec is None:
            spec = self._parsed[chosen] = _ProxySpec.parse(chosen, from_env=True)
        return spec.hop(None)

    def __repr__(self) -> str:
        where = "fixed proxy" if self._fixed else ("environment proxies" if self._env else "direct")
        return f"Route(client={self.client!r}, {where})"


def _bypass(host: str, env: dict[str, str]) -> bool:
    """Whether ``NO_PROXY`` (in ``env`` as ``no``) names the host (the standard
    library's matching: host names, domain suffixes, ``*``)."""
    # not in typeshed's stubs, but a documented part of urllib.request since 3.x
    return bool(urllib.request.proxy_bypass_environment(host, env))  # type: ignore[attr-defined]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def route_for(spec: EndpointSpec, resolve: Resolver) -> Route:
    """The route for an endpoint: its proxy and TLS settings over the desk-wide ones.

    Raises:
        ConfigError: a CA file that cannot be used, or a proxy URL that cannot be.
    """
    settings = http_settings()
    tls = ssl_context(spec.ca_file or settings.ca_file, verify=spec.verify_tls)
    return Route(client=settings.client, tls=tls, proxy=spec.proxy, resolve=resolve)


def default_route() -> Route:
    """A route for a URL that belongs to no endpoint yet (discovery): the desk-wide
    settings and the environment's proxies."""
    settings = http_settings()
    return Route(client=settings.client, tls=ssl_context(settings.ca_file))
