"""Images given by http(s) URL: fetched once (size and time limits) for upstreams that
need the bytes; a URL that is too big, unreachable, slow or not an image is a 400 that
names it, and nothing reaches the upstream."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest
from aiohttp import web

from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"http": {"image_max_bytes": 4096, "image_timeout": 1.0}}


@pytest.fixture
async def pictures() -> AsyncIterator[tuple[str, dict[str, int]]]:
    hits: dict[str, int] = {}

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] = hits.get(name, 0) + 1
        if name == "cat.png":
            return web.Response(body=PNG, content_type="image/png")
        if name == "noext":  # no image content type: sniffed from the bytes
            return web.Response(body=PNG, content_type="application/octet-stream")
        if name == "big.png":
            return web.Response(body=PNG + b"\0" * 10_000, content_type="image/png")
        if name == "slow.png":
            await asyncio.sleep(5)
            return web.Response(body=PNG, content_type="image/png")
        if name == "page.html":
            return web.Response(text="<html></html>", content_type="text/html")
        raise web.HTTPNotFound()

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", hits
    finally:
        await runner.cleanup()


def ask(url: str) -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": url}},
            ],
        }
    ]


@pytest.mark.parametrize("kind", ["anthropic", "gemini", "ollama"])
async def test_an_image_url_is_fetched_and_sent_as_data(
    kind: str,
    pictures: tuple[str, dict[str, int]],
    sim: SimServer,
    add_sim: AddSim,
    server: RunningServer,
) -> None:
    base, hits = pictures
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="x") as client:
        for name in ("cat.png", "noext"):
            reply = await client.chat.completions.create(
                model="sim-model", messages=ask(f"{base}/{name}")
            )
            assert reply.choices[0].message.content == "Echo: Describe"
    body = sim.stats.last[
        {
            "anthropic": "POST /v1/messages",
            "gemini": "POST /v1beta/models:generateContent",
            "ollama": "POST /api/chat",
        }[kind]
    ]["body"]
    data = base64.b64encode(PNG).decode()
    assert data in str(body)
    assert hits == {"cat.png": 1, "noext": 1}


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("big.png", "larger than the limit of 4096 bytes"),
        ("slow.png", "could not fetch"),
        ("page.html", "is not an image"),
        ("gone.png", "HTTP 404"),
    ],
)
async def test_a_bad_image_url_is_a_400_naming_it(
    name: str,
    says: str,
    pictures: tuple[str, dict[str, int]],
    sim: SimServer,
    add_sim: AddSim,
    server: RunningServer,
) -> None:
    base, _ = pictures
    await add_sim(sim, name="a", kind="anthropic", models=["sim-model"])
    await add_sim(sim, name="b", kind="gemini", models=["sim-model"])
    before = sim.stats.total
    async with openai.AsyncOpenAI(
        base_url=server.url + "/v1", api_key="x", max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError) as err:
            await client.chat.completions.create(model="sim-model", messages=ask(f"{base}/{name}"))
    assert says in str(err.value) and name in str(err.value)
    assert sim.stats.total == before  # no upstream was asked, and no failover happened
