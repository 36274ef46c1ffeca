"""Proxies and TLS trust on both HTTP implementations, against real servers on
127.0.0.1: a small proxy written here (``CONNECT`` tunnels and absolute-form
requests, optional Basic credentials) and TLS upstreams with a ``trustme`` CA.

Upstream host names such as ``upstream.test`` exist only for the proxy (which sends
every name to this machine): a request that reaches them went through the proxy."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from endpoint_desk.adapters.base import create_adapter
from endpoint_desk.adapters.transport import (
    IMPLEMENTATIONS,
    Route,
    close_shared_transports,
    configure,
    route_for,
)
from endpoint_desk.adapters.transport.tls import ssl_context
from endpoint_desk.core.config import HttpSettings
from endpoint_desk.core.errors import AuthFailed, ConfigError, Unreachable
from endpoint_desk.core.models import ChatRequest, EndpointSpec
from endpoint_desk.sim import SimConfig, create_app
from tests.adapters.transport_kit import Client, Pki, Proxy, RawServer, echo, header

pytestmark = pytest.mark.timeout(60)

KEY = "sk-PROXY-upstream-key-77"
PROXY_PASSWORD = "pw-PROXY-hunter2-31"
BASIC = "Basic " + base64.b64encode(f"alice:{PROXY_PASSWORD}".encode()).decode()


@pytest.fixture(params=IMPLEMENTATIONS)
async def impl(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    yield str(request.param)
    await close_shared_transports()
    configure(None)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


def resolver(ref: str) -> str:
    assert ref == "env:PROXY_PW", ref
    return PROXY_PASSWORD


@contextlib.asynccontextmanager
async def tls_sim(config: SimConfig, tls: ssl.SSLContext) -> AsyncIterator[int]:
    """The sim's app served over TLS on 127.0.0.1; yields its port."""
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


async def echo_server(tls: ssl.SSLContext | None = None) -> RawServer:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await echo(srv, reader, writer)

    srv = RawServer(handler, tls=tls)
    return await srv.__aenter__()


# ------------------------------------------------------------------- the endpoint's proxy


async def test_http_through_a_proxy_in_absolute_form(impl: str) -> None:
    srv = await echo_server()
    try:
        async with Proxy() as proxy:
            client = Client(impl).with_route(proxy=proxy.url)
            url = srv.url("/v1/chat/completions?a=1", host="upstream.test")
            async with await client.post(url, b"hi", {"Authorization": f"Bearer {KEY}"}) as resp:
                assert await resp.read() == b"POST /v1/chat/completions?a=1|hi"
    finally:
        await srv.__aexit__()
    assert proxy.lines == [f"POST {url} HTTP/1.1"]
    assert header(srv.requests[0], "Host") == f"upstream.test:{srv.port}"
    assert header(srv.requests[0], "Authorization") == f"Bearer {KEY}"


async def test_https_through_a_connect_tunnel(impl: str, pki: Pki) -> None:
    srv = await echo_server(pki.server)
    try:
        async with Proxy() as proxy:
            client = Client(impl).with_route(proxy=proxy.url, tls=pki.client())
            url = srv.url(host="upstream.test")
            for _ in range(2):  # the tunnel is a pooled connection like any other
                resp = await client.post(url, b"secret body", {"Authorization": f"Bearer {KEY}"})
                async with resp:
                    assert await resp.read() == b"POST /v1/chat/completions|secret body"
        async with Proxy() as proxy2:
            untrusting = Client(impl).with_route(proxy=proxy2.url)  # the system's CAs
            with pytest.raises(Unreachable, match="not trusted") as info:
                await untrusting.post(url)
        assert f"upstream.test:{srv.port}" in str(info.value)  # the upstream's, not the proxy's
    finally:
        await srv.__aexit__()
    assert proxy.lines == [f"CONNECT upstream.test:{srv.port} HTTP/1.1"]
    # end-to-end TLS: the proxy saw the CONNECT, never the key or the body
    assert KEY.encode() not in proxy.seen and b"secret body" not in proxy.seen


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_proxy_credentials_from_a_secret_reference(impl: str, pki: Pki, tls: bool) -> None:
    srv = await echo_server(pki.server if tls else None)
    try:
        async with Proxy(credentials=BASIC) as proxy:
            port = proxy.url.rsplit(":", 1)[1]
            good = Client(impl).with_route(
                proxy=f"http://alice:env:PROXY_PW@127.0.0.1:{port}",
                tls=pki.client(),
                resolve=resolver,
            )
            async with await good.post(srv.url(host="upstream.test")) as resp:
                assert resp.status == 200
            wrong = Client(impl).with_route(proxy=proxy.url, tls=pki.client())  # no password
            with pytest.raises(AuthFailed, match="proxy") as info:
                await wrong.post(srv.url(host="upstream.test"))
    finally:
        await srv.__aexit__()
    assert proxy.authorizations == [BASIC, None]
    assert PROXY_PASSWORD not in str(info.value)
    assert len(srv.requests) == 1  # the refused request never reached the upstream


async def test_an_unreachable_proxy_is_named(impl: str) -> None:
    async with Proxy() as proxy:
        url = proxy.url
    client = Client(impl).with_route(proxy=url)  # nothing listens there any more
    with pytest.raises(Unreachable, match="proxy"):
        await client.post("http://upstream.test:9/v1/chat/completions")


# ------------------------------------------------------------------ environment variables


async def test_environment_proxies_and_no_proxy(
    impl: str, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = await echo_server(pki.server)
    plain = await echo_server()
    try:
        async with Proxy() as proxy:
            monkeypatch.setenv("HTTPS_PROXY", proxy.url)
            monkeypatch.setenv("HTTP_PROXY", proxy.url.removeprefix("http://"))  # bare host:port
            monkeypatch.setenv("NO_PROXY", "direct.test,.skip.test")
            client = Client(impl).with_route(tls=pki.client())  # read from the environment
            async with await client.get(srv.url("/a", host="upstream.test")) as resp:
                assert await resp.read() == b"GET /a|"
            async with await client.get(plain.url("/b", host="upstream.test")) as resp:
                assert await resp.read() == b"GET /b|"
            async with await client.get(plain.url("/c")) as resp:  # 127.0.0.1: never proxied
                assert await resp.read() == b"GET /c|"
            for host in ("direct.test", "x.skip.test"):  # NO_PROXY: direct, and no such host
                with pytest.raises(Unreachable):
                    await client.get(plain.url("/d", host=host))
            direct = Client(impl).with_route(proxy="direct")  # the endpoint opts out
            with pytest.raises(Unreachable):
                await direct.get(plain.url("/e", host="upstream.test"))
    finally:
        await srv.__aexit__()
        await plain.__aexit__()
    assert proxy.lines == [
        f"CONNECT upstream.test:{srv.port} HTTP/1.1",
        f"GET http://upstream.test:{plain.port}/b HTTP/1.1",
    ]


# --------------------------------------------------------------------------- TLS trust


async def test_certificates_are_checked_unless_an_endpoint_opts_out(impl: str, pki: Pki) -> None:
    srv = await echo_server(pki.server)
    try:
        url = srv.url(host="localhost")
        with pytest.raises(Unreachable, match="not trusted") as info:
            await Client(impl).post(url)  # the system's CAs do not know this one
        assert "ca_file" in str(info.value)
        async with await Client(impl).with_route(tls=pki.client()).post(url) as resp:
            assert resp.status == 200
        lax = Client(impl).with_route(tls=ssl_context(None, verify=False))
        async with await lax.post(url) as resp:
            assert resp.status == 200
        wrong_name = srv.url(host="127.0.0.2")  # trusted CA, but not this host's name
        with pytest.raises(Unreachable):
            await Client(impl).with_route(tls=pki.client()).post(wrong_name)
    finally:
        await srv.__aexit__()


async def test_ssl_cert_file_is_honoured(
    impl: str, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    srv = await echo_server(pki.server)
    try:
        async with await Client(impl).post(srv.url(host="localhost")) as resp:
            assert resp.status == 200
    finally:
        await srv.__aexit__()


def test_a_ca_file_that_cannot_be_used_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        ssl_context(str(tmp_path / "missing.pem"))
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ConfigError, match=r"junk\.pem"):
        ssl_context(str(junk))


# ---------------------------------------------------------------- through an adapter


@pytest.mark.parametrize("where", ["endpoint", "desk"])
async def test_an_adapter_uses_its_endpoints_proxy_and_ca(
    impl: str, pki: Pki, tmp_path: Path, where: str
) -> None:
    """The OpenAI adapter's chat and model list go through the endpoint's proxy to a
    TLS sim whose CA is trusted by ``ca_file`` (the endpoint's, or ``[http]``'s)."""
    config = SimConfig(api_key=KEY, models=["sim-model"])
    async with tls_sim(config, pki.server) as port, Proxy() as proxy:
        configure(HttpSettings(client=impl, ca_file=str(pki.ca_file) if where == "desk" else None))
        spec = EndpointSpec(
            name="behind-proxy",
            kind="openai",
            base_url=f"https://upstream.test:{port}/v1",
            api_key="env:SIM_KEY",
            proxy=proxy.url,
            ca_file=str(pki.ca_file) if where == "endpoint" else None,
        )
        adapter = create_adapter(spec, lambda ref: KEY)
        assert adapter.route.client == impl
        assert await adapter.list_models() == ["sim-model"]
        chunks = [c async for c in adapter.chat(ChatRequest.from_text("hi", model="sim-model"))]
        assert "".join(c.delta for c in chunks)
    assert proxy.lines == [f"CONNECT upstream.test:{port} HTTP/1.1"] * len(proxy.lines)
    assert KEY.encode() not in proxy.seen


def test_route_and_spec_never_show_a_proxy_password() -> None:
    spec = EndpointSpec(
        name="p", kind="openai", base_url="http://x", proxy="http://alice:env:PROXY_PW@p:3128"
    )
    route = route_for(spec, resolver)
    hop = route.proxy_for("http://x/v1")
    assert hop is not None and hop.authorization == BASIC
    for shown in (repr(route), repr(hop), str(hop), hop.url):
        assert PROXY_PASSWORD not in shown and "alice" not in shown
    with pytest.raises(ValueError, match="secret reference") as info:
        EndpointSpec(
            name="p", kind="openai", base_url="http://x", proxy=f"http://a:{PROXY_PASSWORD}@p:1"
        )
    assert PROXY_PASSWORD not in info.value.errors()[0]["msg"]


def test_proxies_the_desk_cannot_use_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="http://host:port"):
        EndpointSpec(name="p", kind="openai", base_url="http://x", proxy="socks5://p:1080")
    with pytest.raises(ConfigError, match="http://host:port"):
        Route(proxy="socks5://p:1080")
    monkeypatch.setenv("ALL_PROXY", "socks5://p:1080")  # for other tools: ignored
    assert Route().proxy_for("https://api.example.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "socks5://p:1080")  # meant for us: refused
    with pytest.raises(ConfigError, match="only http:// proxies"):
        Route().proxy_for("https://api.example.com/v1")
