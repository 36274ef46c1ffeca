"""What every streaming front door shares: holding the response back until the first
content chunk (:func:`first_content`), then serving the events (:func:`serve_events`)
in a response whose headers leave with its first data.

Holding back keeps failover invisible: until a chunk with content (text, a tool-call
fragment, a finish reason or usage) came, a failure is still a clean HTTP error in the
client's shape, and the request path may try the next endpoint without the client
seeing a started stream.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from endpoint_desk.core.models import ChatChunk
from endpoint_desk.engine.request_path import ChatStream
from endpoint_desk.wire.openai.encode import SSE_HEADERS


class EventStream(web.StreamResponse):
    """A stream response whose headers go out with its first data (one write less)."""

    _send_headers_immediately = False


class Opening:
    """The start of a stream: the iterator to read on, the chunks read so far (up to and
    including the first content chunk), and whether the stream already ended."""

    __slots__ = ("ended", "it", "pending")

    def __init__(self, it: AsyncIterator[ChatChunk], pending: list[ChatChunk], ended: bool) -> None:
        self.it = it
        self.pending = pending
        self.ended = ended


async def first_content(stream: ChatStream) -> Opening:
    """Read ``stream`` up to its first content chunk.

    Raises:
        DeskError: the request failed before any content (the stream is closed).
    """
    it = stream.__aiter__()
    pending: list[ChatChunk] = []
    try:
        while True:
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                return Opening(it, pending, True)
            pending.append(chunk)
            if (
                chunk.delta
                or chunk.tool_calls
                or chunk.finish_reason is not None
                or chunk.usage is not None
            ):
                return Opening(it, pending, False)
    except BaseException:
        await stream.aclose()
        raise


async def serve_events(
    request: web.Request,
    stream: ChatStream,
    overhead_ms: float,
    write: Callable[[web.StreamResponse], Awaitable[None]],
) -> web.StreamResponse:
    """Answer ``request`` with server-sent events written by ``write``; the headers say
    which endpoint serves and the desk's time before the engine (``overhead_ms``). A
    client that goes away ends the writing; the stream is closed in every case, which
    cancels an upstream call still running."""
    headers = dict(SSE_HEADERS)
    headers["x-desk-endpoint"] = stream.endpoint or ""
    headers["x-desk-overhead-ms"] = f"{overhead_ms:.2f}"
    resp = EventStream(headers=headers)
    try:
        await resp.prepare(request)
        await write(resp)
    except ConnectionResetError:
        pass  # the client went away; closing the stream cancels the upstream call
    finally:
        await stream.aclose()
    return resp
