"""The reference: a bare aiohttp pass-through proxy (no routing, metrics, logging or
cost). One pooled client session; request bytes forwarded as they are; streamed
responses forwarded chunk by chunk as they arrive.

``--client httpx`` swaps the upstream client for an ``httpx.AsyncClient`` (aiohttp
still serves), to compare upstream HTTP clients by measurement.

Run: ``python bench/passthrough.py --upstream http://127.0.0.1:PORT --port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp
from aiohttp import web

SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM: web.AppKey[str] = web.AppKey("upstream", str)


async def forward(request: web.Request) -> web.StreamResponse:
    session = request.app[SESSION]
    body = await request.read()
    async with session.post(
        request.app[UPSTREAM] + request.path,
        data=body,
        headers={"Content-Type": "application/json"},
    ) as up:
        ctype = up.headers.get("Content-Type", "application/json")
        if "text/event-stream" not in ctype:
            return web.Response(body=await up.read(), status=up.status, content_type=ctype)
        resp = web.StreamResponse(status=up.status, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def forward_httpx(request: web.Request) -> web.StreamResponse:
    client = request.app[HTTPX]
    body = await request.read()
    req = client.build_request(
        "POST",
        request.app[UPSTREAM] + request.path,
        content=body,
        headers={"Content-Type": "application/json"},
    )
    up = await client.send(req, stream=True)
    try:
        ctype = up.headers.get("Content-Type", "application/json")
        if "text/event-stream" not in ctype:
            return web.Response(body=await up.aread(), status=up.status_code, content_type=ctype)
        resp = web.StreamResponse(status=up.status_code, headers={"Content-Type": ctype})
        await resp.prepare(request)
        async for chunk in up.aiter_raw():
            await resp.write(chunk)
        await resp.write_eof()
        return resp
    finally:
        await up.aclose()


HTTPX: web.AppKey[Any] = web.AppKey("httpx")


async def main(upstream: str, host: str, port: int, client: str = "aiohttp") -> None:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
    if client == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
        app[HTTPX] = httpx.AsyncClient(limits=limits, timeout=60)
        app.router.add_post("/v1/chat/completions", forward_httpx)
    else:
        app[SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        app.router.add_post("/v1/chat/completions", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    print(f"listening on http://{host}:{runner.addresses[0][1]}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client", choices=["aiohttp", "httpx"], default="aiohttp")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.upstream, args.host, args.port, args.client))
    except ImportError:
        asyncio.run(main(args.upstream, args.host, args.port, args.client))
    except KeyboardInterrupt:
        sys.exit(0)
