"""The reference: a bare aiohttp pass-through proxy (no routing, metrics, logging or
cost). One pooled client session; request bytes forwarded as they are; streamed
responses forwarded chunk by chunk as they arrive.

Run: ``python bench/passthrough.py --upstream http://127.0.0.1:PORT --port 0``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

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


async def main(upstream: str, host: str, port: int) -> None:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/")
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
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.upstream, args.host, args.port))
    except ImportError:
        asyncio.run(main(args.upstream, args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)
