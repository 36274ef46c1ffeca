"""HTTP for the REST adapters behind one interface.

- :func:`request` (``client.py``): the call every adapter makes; follows redirects by
  one policy (``redirects.py``), returns a :class:`Response` (``base.py``).
- :class:`Route` (``route.py``): per endpoint, which implementation, which proxy
  (``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` or the endpoint's own ``proxy``) and
  which TLS trust (``tls.py``: ``ca_file``, ``SSL_CERT_FILE``, ``verify_tls``).
- Two implementations of :class:`Transport`: ``h1.py`` (the desk's own HTTP/1.1
  client on ``httptools``, with ``h1_wire.py`` and ``tunnel.py``) and ``aio.py``
  (aiohttp's client); ``[http] client`` picks one.
- ``errors.py``: the one translation of every failure into ``DeskError``.
"""

from endpoint_desk.adapters.transport.base import Response, Transport
from endpoint_desk.adapters.transport.client import (
    IMPLEMENTATIONS,
    close_shared_transports,
    pool_counts,
    request,
    shared_transport,
)
from endpoint_desk.adapters.transport.errors import translate
from endpoint_desk.adapters.transport.route import (
    ProxyHop,
    Route,
    configure,
    default_route,
    http_settings,
    route_for,
)

__all__ = [
    "IMPLEMENTATIONS",
    "ProxyHop",
    "Response",
    "Route",
    "Transport",
    "close_shared_transports",
    "configure",
    "default_route",
    "http_settings",
    "pool_counts",
    "request",
    "route_for",
    "shared_transport",
    "translate",
]
