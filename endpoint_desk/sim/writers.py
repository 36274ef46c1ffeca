"""How the sim writes an answer: whole or streamed, with the timing and damage knobs.

``ttft``, ``chunk_delay`` and ``drip`` pace the bytes; ``garbage`` cuts a body (or one
content frame) in half; ``truncate`` stops half-way and closes the connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.sim.knobs import Knobs

__all__ = ["JSON", "NDJSON", "SSE", "json_response", "send_body", "send_stream"]

JSON = "application/json"
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """``data`` as an immediate JSON answer (no knobs applied)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


async def send_body(
    request: web.Request,
    knobs: Knobs,
    body: bytes,
    pieces: int,
    content_type: str = JSON,
) -> web.StreamResponse:
    """A complete (non-stream) answer, after the simulated generation time."""
    wait = knobs.ttft + knobs.chunk_delay * max(0, pieces - 1)
    if wait:
        await asyncio.sleep(wait)
    if knobs.garbage:
        body = body[: max(1, len(body) // 2)]
    if not knobs.drip and not knobs.truncate:
        return web.Response(body=body, content_type=content_type)
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    resp.content_length = len(body)
    await resp.prepare(request)
    end = max(1, len(body) // 2) if knobs.truncate else len(body)
    try:
        await _write(resp, body[:end], knobs.drip)
        if knobs.truncate:
            _cut(request)
        else:
            await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def send_stream(
    request: web.Request,
    knobs: Knobs,
    frames: list[bytes],
    first: int,
    last: int,
    content_type: str,
) -> web.StreamResponse:
    """A streamed answer; ``frames[first:last]`` are the content frames."""
    resp = web.StreamResponse(headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
    await resp.prepare(request)
    if knobs.garbage and frames:
        i = first if last > first else 0
        frame = frames[i]
        sep = b"\n" if content_type == NDJSON else b"\n\n"
        frames[i] = frame[: max(1, len(frame.rstrip()) // 2)] + sep
    end = len(frames)
    if knobs.truncate:
        end = first + max(1, (last - first) // 2) if last > first else max(1, end // 2)
    try:
        if not (knobs.ttft or knobs.chunk_delay or knobs.drip):
            await resp.write(b"".join(frames[:end]))
        else:
            if knobs.ttft:
                await asyncio.sleep(knobs.ttft)
            for i in range(end):
                if knobs.chunk_delay and first < i < last:
                    await asyncio.sleep(knobs.chunk_delay)
                await _write(resp, frames[i], knobs.drip)
        if knobs.truncate:
            _cut(request)
        else:
            await resp.write_eof()
    except ConnectionError:
        pass
    return resp


async def _write(resp: web.StreamResponse, data: bytes, drip: float) -> None:
    if not drip:
        await resp.write(data)
        return
    for i in range(len(data)):
        await resp.write(data[i : i + 1])
        await asyncio.sleep(drip)


def _cut(request: web.Request) -> None:
    """Close the connection after what was written (a truncated body)."""
    transport = request.transport
    if transport is not None:
        transport.close()
