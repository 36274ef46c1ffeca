"""Detection (``desk add URL``): probes against real sims that speak one protocol each,
cheapest first, with the evidence a person reads, and key verification."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from endpoint_desk.adapters.http import close_shared_session
from endpoint_desk.core.errors import AuthFailed, DeskError, Unreachable, UpstreamTimeout
from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.probe.detector import detect
from endpoint_desk.discovery.probe.hints import hint_for
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(30)

KEY = "probe-key-0123456789"


@pytest.fixture(autouse=True)
async def _close_pool() -> AsyncIterator[None]:
    yield
    await close_shared_session()


def _requests(sim: SimServer) -> dict[str, int]:
    return {k: v for k, v in sim.stats.requests.items() if v}


# ---------------------------------------------------------------------------- one protocol


@pytest.mark.parametrize(
    ("protocol", "kind"),
    [
        ("openai", EndpointKind.OPENAI),
        ("anthropic", EndpointKind.ANTHROPIC),
        ("gemini", EndpointKind.GEMINI),
        ("ollama", EndpointKind.OLLAMA),
    ],
)
async def test_finds_each_protocol(protocol: str, kind: EndpointKind) -> None:
    async with SimServer(SimConfig(protocols=[protocol], models=["m1", "m2"])) as sim:
        det = await detect(sim.url)
    assert det.kind is kind
    assert det.base_url == sim.url
    assert [m.removesuffix(":latest") for m in det.models] == ["m1", "m2"]
    assert not det.needs_key and det.key_verified is None
    assert "model list (2 models)" in det.evidence[-1]
    assert det.explain().startswith(f"{sim.url} is ")
    assert "why: " in det.explain()
    assert len(det.tried) >= 4  # nothing hinted: every shape was asked, then the best won


async def test_everything_at_once_prefers_openai_and_says_what_else_answered() -> None:
    async with SimServer(SimConfig()) as sim:
        det = await detect(sim.url)
    assert det.kind is EndpointKind.OPENAI
    assert "also answers as anthropic, gemini, ollama" in det.evidence[-1]


@pytest.mark.parametrize(
    ("path", "kind", "route"),
    [
        ("/v1beta", EndpointKind.GEMINI, "GET /v1beta/models"),
        ("/api", EndpointKind.OLLAMA, "GET /api/tags"),
        ("/v1/messages", EndpointKind.ANTHROPIC, "GET /v1/models"),
    ],
)
async def test_a_telling_url_costs_one_request(path: str, kind: EndpointKind, route: str) -> None:
    async with SimServer(SimConfig()) as sim:
        det = await detect(sim.url + path)
        assert _requests(sim) == {route: 1}  # cheapest first: the hinted probe, alone
    assert det.kind is kind
    assert det.base_url == sim.url
    assert det.evidence[0].startswith("the path ")
    assert len(det.tried) == 1


# ---------------------------------------------------------------------------- keys


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini", "ollama"])
async def test_key_is_verified(protocol: str) -> None:
    async with SimServer(SimConfig(protocols=[protocol], api_key=KEY)) as sim:
        det = await detect(sim.url, api_key=KEY)
        assert det.key_verified is True
        assert "key was accepted" in det.evidence[-1]
        with pytest.raises(AuthFailed, match="refused the key") as refused:
            await detect(sim.url, api_key="wrong-key-000000000")
        assert "wrong-key" not in str(refused.value)
        with pytest.raises(AuthFailed, match="needs an API key"):
            await detect(sim.url)


async def test_anthropic_refusal_is_not_taken_for_openai() -> None:
    async with SimServer(SimConfig(protocols=["anthropic"], api_key=KEY)) as sim:
        with pytest.raises(AuthFailed, match="an Anthropic Messages API"):
            await detect(sim.url, api_key="wrong-key-000000000")


async def test_hinted_refusal_stops_at_once() -> None:
    async with SimServer(SimConfig(api_key=KEY)) as sim:
        with pytest.raises(AuthFailed, match="a Gemini API but refused the key") as info:
            await detect(sim.url + "/v1beta", api_key="wrong-key-000000000")
        assert "API key not valid" in str(info.value)  # the upstream's own words
        assert sum(_requests(sim).values()) == 1


# ---------------------------------------------------------------------------- not an API

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a local upstream answering every path with ``handler``."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_html_page_is_a_web_chat_candidate(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/chat":
            return web.Response(text="<html><textarea></textarea></html>", content_type="text/html")
        raise web.HTTPNotFound()

    url = await serve(handler)
    det = await detect(url + "/chat")
    assert det.kind is EndpointKind.WEB_CHAT
    assert "HTML page" in det.evidence[-1]


async def test_unknown_service_lists_what_was_tried(
    serve: Callable[[Handler], Awaitable[str]],
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"hello": "world"}, status=404 if request.path != "/" else 200)

    url = await serve(handler)
    with pytest.raises(DeskError) as info:
        await detect(url)
    message = str(info.value)
    assert "not as an API the desk knows" in message
    for probe in ("openai:", "anthropic:", "gemini:", "ollama:", "page:"):
        assert probe in message
    assert "--kind" in message


async def test_silent_server_times_out(serve: Callable[[Handler], Awaitable[str]]) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    url = await serve(handler)
    with pytest.raises(UpstreamTimeout, match=r"answered no probe within 0\.3 s"):
        await detect(url, timeout=0.3)


async def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Unreachable, match="cannot connect"):
        await detect(f"127.0.0.1:{port}")


# ---------------------------------------------------------------------------- hints


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://api.anthropic.com", EndpointKind.ANTHROPIC),
        ("https://generativelanguage.googleapis.com/v1beta", EndpointKind.GEMINI),
        ("https://api.openai.com/v1", EndpointKind.OPENAI),
        ("http://localhost:11434", EndpointKind.OLLAMA),
        ("http://box:8080/api/tags", EndpointKind.OLLAMA),
        ("http://box:8080/v1/chat/completions", EndpointKind.OPENAI),
        ("http://box:8080", None),
    ],
)
def test_hints(url: str, kind: EndpointKind | None) -> None:
    hinted = hint_for(url)
    assert (hinted[0] if hinted else None) is kind
