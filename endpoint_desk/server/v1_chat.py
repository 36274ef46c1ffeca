"""The OpenAI front door: ``POST /v1/chat/completions``, plain or streamed.

The hot path does one ``orjson`` parse, validates into the engine's plain
``ChatRequest`` dataclass, and writes pre-assembled bytes (``wire/openai/encode.py``); no
thread hand-off, no pydantic models, no per-request logging beyond the engine's
write-behind request log. A streamed reply forwards the upstream's own server-sent
events when the adapter hands them over (``desk.stream(request, raw=True)``), one write
per network read; other replies are encoded here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from endpoint_desk.core.errors import BadRequest, DeskError
from endpoint_desk.core.models import ChatChunk, ChatRequest, new_id
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.request_path import ChatStream
from endpoint_desk.server.responses import desk_error_response, error_response, read_json_body
from endpoint_desk.server.streams import first_content, serve_events
from endpoint_desk.wire.openai import encode as wire


class ChatCompletions:
    """The handler of ``POST /v1/chat/completions`` for one desk.

    Args:
        desk: the open engine.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        server = desk.settings.server
        self.max_messages = server.max_messages
        self.extra_fields = frozenset(server.extra_fields)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``, plain or streamed."""
        t0 = time.perf_counter()
        body, invalid = await read_json_body(request)
        if invalid is not None:
            return invalid
        try:
            creq = ChatRequest.from_openai(body, extra_fields=self.extra_fields)
        except BadRequest as exc:
            return error_response(400, exc.message, param=exc.param, code="invalid_request")
        if len(creq.messages) > self.max_messages:
            return error_response(
                400,
                f"too many messages ({len(creq.messages)}; at most {self.max_messages})",
                param="messages",
                code="invalid_request",
            )
        stream = self.desk.stream(creq, raw=creq.stream)
        if creq.stream:
            return await self._stream(request, creq, stream, t0)
        try:
            result = await stream.collect()
        except DeskError as exc:
            return desk_error_response(self.desk, exc)
        upstream_ms = sum(a.elapsed_ms for a in result.attempts)
        overhead = max(0.0, (time.perf_counter() - t0) * 1000 - upstream_ms)
        return web.Response(
            body=wire.completion_body(result, int(result.created)),
            headers={
                "Content-Type": "application/json",
                "x-desk-endpoint": result.endpoint,
                "x-desk-overhead-ms": f"{overhead:.2f}",
            },
        )

    async def _stream(
        self, request: web.Request, creq: ChatRequest, stream: ChatStream, t0: float
    ) -> web.StreamResponse:
        """Answer with server-sent events once the first content chunk came (so that a
        failure before it is still a clean HTTP error and failover stays invisible).

        Adapters that can (OpenAI-style upstreams) hand over their upstream's own event
        bytes (the stream was asked with ``raw=True``); those are forwarded as received,
        one write per network read. Other chunks are encoded here."""
        t_engine = time.perf_counter()
        try:
            opening = await first_content(stream)
        except DeskError as exc:
            return desk_error_response(self.desk, exc)
        it, pending, ended = opening.it, opening.pending, opening.ended
        meta = pending[-1].metadata if pending else None
        raw = meta is not None and "raw_sse" in meta

        async def write(resp: web.StreamResponse) -> None:
            if raw:
                await _forward_raw(resp, it, pending, ended)
            else:
                await _encode(resp, creq, stream, it, pending, ended)

        return await serve_events(request, stream, (t_engine - t0) * 1000, write)


async def _encode(
    resp: web.StreamResponse,
    creq: ChatRequest,
    stream: ChatStream,
    it: AsyncIterator[ChatChunk],
    pending: list[ChatChunk],
    ended: bool,
) -> None:
    """Write the desk's own OpenAI chunks for adapters that give no raw events."""
    enc = wire.ChunkEncoder(new_id(), creq.model or "desk", int(time.time()))
    finish: str | None = None
    usage = None
    out = [enc.role()]
    for chunk in pending:
        if chunk.delta:
            out.append(enc.delta(chunk.delta))
        if chunk.tool_calls:
            out.append(enc.tool_calls(chunk.tool_calls))
        if chunk.finish_reason is not None:
            finish = chunk.finish_reason
        if chunk.usage is not None:
            usage = chunk.usage
    await resp.write(b"".join(out))
    if not ended:
        try:
            async for chunk in it:
                if chunk.delta:
                    await resp.write(enc.delta(chunk.delta))
                if chunk.tool_calls:
                    await resp.write(enc.tool_calls(chunk.tool_calls))
                if chunk.finish_reason is not None:
                    finish = chunk.finish_reason
                if chunk.usage is not None:
                    usage = chunk.usage
        except DeskError as exc:
            await resp.write(wire.stream_error_event(exc))
            return
    tail = [enc.finish(finish)]
    if creq.include_usage:
        result = stream.result
        if result is not None:
            tail.append(enc.usage(result.usage, wire.desk_extension(result)))
        elif usage is not None:
            tail.append(enc.usage(usage))
    tail.append(wire.DONE)
    await resp.write(b"".join(tail))
    await resp.write_eof()


async def _forward_raw(
    resp: web.StreamResponse,
    it: AsyncIterator[ChatChunk],
    pending: list[ChatChunk],
    ended: bool,
) -> None:
    """Forward the upstream's own events (``chunk.metadata["raw_sse"]``)."""
    first = b"".join(
        [c.metadata["raw_sse"] for c in pending if c.metadata and "raw_sse" in c.metadata]
    )
    # The event that ends the reply goes out with the end of the body in one write; the
    # iterator is still read to its end so that the engine sees the request complete.
    done = first.endswith(_DONE_TAIL)
    if done:
        await resp.write_eof(first)
    else:
        await resp.write(first)
    if not ended:
        try:
            async for chunk in it:
                meta = chunk.metadata
                if meta is not None and not done:
                    raw = meta.get("raw_sse")
                    if raw:
                        if raw.endswith(_DONE_TAIL):
                            done = True
                            await resp.write_eof(raw)
                        else:
                            await resp.write(raw)
        except DeskError as exc:
            if not done:
                await resp.write(wire.stream_error_event(exc))
            return
    if not done:
        await resp.write_eof(wire.DONE)


_DONE_TAIL = b"[DONE]\n\n"
