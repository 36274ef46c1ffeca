"""Transport failures and their one translation into the desk's errors.

The h1 client raises the small library-neutral exceptions below; the aiohttp
implementation lets aiohttp's own exceptions through. :func:`translate` maps both
families (and timeouts, OS errors and broken payloads) onto ``DeskError`` subclasses,
so an adapter never sees which HTTP stack served it.
"""

from __future__ import annotations

import ssl

import aiohttp

from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    DeskError,
    ProtocolError,
    Unreachable,
    UpstreamError,
    UpstreamTimeout,
)

__all__ = [
    "BadResponse",
    "ConnectFailed",
    "Disconnected",
    "InvalidRequest",
    "ProxyRefused",
    "translate",
]


class ConnectFailed(OSError):
    """No connection could be made to ``host:port`` (refused, DNS, TLS handshake)."""

    def __init__(self, host: str, port: int, reason: BaseException, *, proxy: bool = False) -> None:
        what = "the proxy at " if proxy else ""
        why = reason or type(reason).__name__
        super().__init__(f"cannot connect to {what}{host}:{port} ({why})")
        self.host = host
        self.port = port
        self.reason = reason
        self.proxy = proxy
        """Whether ``host:port`` is a proxy the request was to go through."""


class Disconnected(ConnectionError):
    """The connection closed or broke before the response was complete."""

    def __init__(self, message: str, *, started: bool) -> None:
        super().__init__(message)
        self.started = started


class BadResponse(ValueError):
    """The bytes that came back are not HTTP, or a compressed body is broken."""


class InvalidRequest(ValueError):
    """A URL or header the desk was asked to send cannot be sent as it is (not
    http(s), a line break that would inject a header)."""


class ProxyRefused(ConnectionError):
    """The proxy answered ``CONNECT`` with something other than 2xx."""

    def __init__(self, proxy: str, status: int, reason: str) -> None:
        super().__init__(f"the proxy {proxy} answered {status} {reason}".strip())
        self.proxy = proxy
        self.status = status


def translate(exc: BaseException, *, endpoint: str, started: bool = False) -> DeskError:
    """The desk error for a failed exchange.

    Args:
        exc: what the HTTP stack (or a parser reading its body) raised.
        endpoint: the endpoint's name, for the message and the error.
        started: the response had begun; a broken connection now means a truncated
            reply (``ProtocolError``), not an unreachable upstream.
    """
    if isinstance(exc, DeskError):
        return exc
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts subclass it too
        return UpstreamTimeout(f"{endpoint} did not answer in time", endpoint=endpoint)
    if isinstance(exc, ProxyRefused | aiohttp.ClientHttpProxyError):
        return _proxy_refused(exc, endpoint)
    if isinstance(exc, ConnectFailed):
        return _unreachable(endpoint, exc.host, exc.port, exc.reason, proxy=exc.proxy)
    if isinstance(exc, aiohttp.ClientConnectorError):
        proxy = isinstance(exc, aiohttp.ClientProxyConnectionError)
        return _unreachable(endpoint, exc.host, exc.port or 0, exc.os_error or exc, proxy=proxy)
    if isinstance(exc, Disconnected):
        started = started or exc.started
    if isinstance(exc, Disconnected | aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        if started:
            return ProtocolError(f"{endpoint} cut the reply short ({exc})", endpoint=endpoint)
        return Unreachable(f"{endpoint} closed the connection ({exc})", endpoint=endpoint)
    if isinstance(exc, InvalidRequest):
        return BadRequest(f"{endpoint}: cannot send this request ({exc})", endpoint=endpoint)
    if isinstance(exc, aiohttp.InvalidURL):
        return Unreachable(f"{endpoint}: invalid URL {exc}", endpoint=endpoint)
    if isinstance(exc, aiohttp.ClientResponseError):  # aiohttp's "this is not HTTP"
        return ProtocolError(
            f"{endpoint} sent an invalid HTTP response ({exc.message})", endpoint=endpoint
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return Unreachable(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)
    if isinstance(exc, ValueError | KeyError | TypeError):  # BadResponse, invalid JSON...
        return ProtocolError(f"{endpoint} sent an invalid response ({exc})", endpoint=endpoint)
    return UpstreamError(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)


def _unreachable(
    endpoint: str, host: str, port: int, reason: BaseException, *, proxy: bool
) -> Unreachable:
    if isinstance(reason, ssl.SSLCertVerificationError):
        return Unreachable(
            f"{endpoint}: the TLS certificate of {host}:{port} is not trusted "
            f"({reason.verify_message or reason}); for a private CA set the endpoint's "
            "ca_file (or [http] ca_file, or SSL_CERT_FILE)",
            endpoint=endpoint,
        )
    where = f"its proxy at {host}:{port}" if proxy else f"{host}:{port}"
    return Unreachable(f"cannot connect to {endpoint} at {where} ({reason})", endpoint=endpoint)


def _proxy_refused(exc: ProxyRefused | aiohttp.ClientHttpProxyError, endpoint: str) -> DeskError:
    status = exc.status
    if status == 407:
        return AuthFailed(
            f"{endpoint}: the proxy refused the credentials (407); check the proxy's "
            "user name and password reference",
            endpoint=endpoint,
            status=status,
        )
    return Unreachable(
        f"{endpoint}: the proxy would not open a tunnel to the upstream ({status})",
        endpoint=endpoint,
    )
