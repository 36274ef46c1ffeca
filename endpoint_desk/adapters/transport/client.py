"""The one way adapters make an HTTP request: :func:`request`.

It picks the route's implementation (one shared instance per event loop and
implementation, closed with the adapters' shared resources), asks it for the proxy
the route chooses for the URL, follows redirects by the policy of
:mod:`.redirects`, and turns a proxy's ``407`` into ``AuthFailed``. Every failure
leaves as a ``DeskError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping

from endpoint_desk.adapters.transport.aio import AioTransport
from endpoint_desk.adapters.transport.base import Exchange, Response, Transport
from endpoint_desk.adapters.transport.h1 import H1Transport
from endpoint_desk.adapters.transport.redirects import MAX_REDIRECTS, REDIRECTS, next_hop
from endpoint_desk.adapters.transport.route import Route
from endpoint_desk.core.errors import AuthFailed, ConfigError

IMPLEMENTATIONS = ("h1", "aiohttp")

_LIVE: dict[tuple[asyncio.AbstractEventLoop, str], Transport] = {}


def shared_transport(name: str) -> Transport:
    """The running loop's instance of an implementation (made on first use).

    Raises:
        ConfigError: no implementation has that name.
    """
    loop = asyncio.get_running_loop()
    found = _LIVE.get((loop, name))
    if found is not None and not found.closed:
        return found
    made: Transport
    if name == "h1":
        made = H1Transport(loop)
    elif name == "aiohttp":
        made = AioTransport()
    else:
        raise ConfigError(f"unknown HTTP client {name!r}; use one of {', '.join(IMPLEMENTATIONS)}")
    _LIVE[(loop, name)] = made
    from endpoint_desk.adapters.base import register_shared_closer

    register_shared_closer(close_shared_transports)
    return made


async def close_shared_transports() -> None:
    """Close the running loop's transports (their pooled connections)."""
    loop = asyncio.get_running_loop()
    for key in [k for k in _LIVE if k[0] is loop or k[0].is_closed()]:
        transport = _LIVE.pop(key)
        if key[0] is loop:
            await transport.aclose()


def pool_counts() -> tuple[int, int]:
    """(connections carrying a request, idle keep-alive connections) of the running
    loop's transports together."""
    loop = asyncio.get_running_loop()
    busy = idle = 0
    for (owner, _), transport in _LIVE.items():
        if owner is loop:
            b, i = transport.counts()
            busy += b
            idle += i
    return busy, idle


async def request(
    method: str,
    url: str,
    *,
    endpoint: str,
    route: Route,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    body: bytes | None = None,
    timeout: float,
    connect_timeout: float | None = None,
) -> Response:
    """Send a request; return once the answer's status and headers came, whatever
    the status (a redirect that is not followed comes back as it is).

    Args:
        endpoint: the endpoint's name, for error messages.
        route: how the endpoint's requests leave (``route_for(spec, resolve)``).
        timeout: the longest silence while waiting for or reading the answer.
        connect_timeout: for the connection; default ``min(10, timeout)``.
    Raises:
        DeskError: ``Unreachable``, ``UpstreamTimeout``, ``ProtocolError``,
            ``AuthFailed`` (a proxy refused), ``BadRequest``, ``ConfigError``.
    """
    transport = shared_transport(route.client)
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    method = method.upper()
    if connect_timeout is None:
        connect_timeout = min(10.0, timeout)
    ex = Exchange(
        method,
        url,
        pairs,
        body,
        endpoint,
        route.tls,
        route.proxy_for(url),
        connect_timeout,
        timeout,
    )
    for _hop in range(MAX_REDIRECTS + 1):
        resp = await transport.send(ex)
        status = resp.status
        if status == 407 and ex.proxy is not None:
            resp.close()
            raise AuthFailed(
                f"{endpoint}: the proxy {ex.proxy} refused the credentials (407)",
                endpoint=endpoint,
                status=407,
            )
        if status not in REDIRECTS:
            return resp
        hop = next_hop(ex.method, ex.url, status, resp.headers.get("Location"), ex.headers, ex.body)
        if hop is None:
            return resp
        resp.close()
        ex.method, ex.url, ex.headers, ex.body = hop
        ex.proxy = route.proxy_for(ex.url)
    return resp
