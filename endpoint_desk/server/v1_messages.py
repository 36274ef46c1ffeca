"""The Anthropic front door: ``POST /v1/messages`` (plain or streamed named events) and
``POST /v1/messages/count_tokens``, so that Anthropic-SDK tools (Claude Code among them:
``ANTHROPIC_BASE_URL=http://127.0.0.1:8765``) can use any position of the desk.

A Messages body is read into the engine's canonical request
(``wire.anthropic.read.parse_messages_request``: system, tools, ``tool_use`` /
``tool_result`` blocks, images, ``tool_choice``) and served by ``desk.stream`` like any
``/v1/chat/completions`` request: the same routing by model name (an endpoint's
``model_mapping`` maps Anthropic model names), capability routing, failover, metrics,
cost and request log. The reply is written back in Anthropic's shape
(``wire.anthropic.encode``): a whole ``message``, or ``message_start`` ...
``message_stop`` events with text and ``tool_use`` blocks (``input_json_delta``). The
reply's ``model`` is the name the client asked for.

Errors are Anthropic's ``{"type": "error", "error": {"type", "message"}}`` with the
status the OpenAI door would give (the middleware answers its own errors on these paths
in the same shape). ``count_tokens`` answers an estimate (about four characters a
token, a flat count per image) and says so: ``"estimated": true`` and the header
``x-desk-estimated: true``.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from aiohttp import web

from endpoint_desk.core.errors import BadRequest, DeskError
from endpoint_desk.core.models import ChatRequest
from endpoint_desk.engine.cost import estimate_tokens
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.request_path import ChatStream
from endpoint_desk.server.responses import (
    anthropic_desk_error_response,
    anthropic_error_response,
    json_response,
)
from endpoint_desk.server.streams import Opening, first_content, serve_events
from endpoint_desk.wire.anthropic.encode import StreamEncoder, error_event, message_body
from endpoint_desk.wire.anthropic.read import parse_messages_request
from endpoint_desk.wire.openai.encode import desk_extension

IMAGE_TOKENS = 1600
"""What ``count_tokens`` counts for one image: about what Anthropic charges for an image
at the largest size it keeps (about 1.15 megapixels); smaller images cost less."""


class Messages:
    """The handlers of ``POST /v1/messages`` and ``.../count_tokens`` for one desk.

    Args:
        desk: the open engine.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.max_messages = desk.settings.server.max_messages

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/messages``, plain or streamed."""
        t0 = time.perf_counter()
        try:
            creq = self._read(await request.read())
        except BadRequest as exc:
            return anthropic_error_response(400, exc.message)
        # ``raw``: an OpenAI-style adapter then yields one chunk per network read (text
        # and tool calls still parsed; its raw bytes are not used here), so a burst of
        # upstream events becomes one write to the client instead of one each
        stream = self.desk.stream(creq, raw=creq.stream)
        if creq.stream:
            return await self._stream(request, creq, stream, t0)
        try:
            result = await stream.collect()
        except DeskError as exc:
            return anthropic_desk_error_response(self.desk, exc)
        body = message_body(
            new_message_id(),
            creq.model,
            result.content,
            finish=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
        )
        body["desk"] = desk_extension(result)
        upstream_ms = sum(a.elapsed_ms for a in result.attempts)
        overhead = max(0.0, (time.perf_counter() - t0) * 1000 - upstream_ms)
        return web.Response(
            body=orjson.dumps(body),
            headers={
                "Content-Type": "application/json",
                "x-desk-endpoint": result.endpoint,
                "x-desk-overhead-ms": f"{overhead:.2f}",
            },
        )

    async def count_tokens(self, request: web.Request) -> web.Response:
        """``POST /v1/messages/count_tokens``: the body of a Messages request (``max_tokens``
        may be left out), checked as one; the answer is an estimate, marked as such."""
        try:
            creq = self._read(await request.read(), counting=True)
        except BadRequest as exc:
            return anthropic_error_response(400, exc.message)
        return json_response(
            {"input_tokens": estimate_input_tokens(creq), "estimated": True},
            headers={"x-desk-estimated": "true"},
        )

    def _read(self, raw: bytes, *, counting: bool = False) -> ChatRequest:
        """The canonical request of a Messages body.

        Raises:
            BadRequest: an empty body, invalid JSON, or a field that is wrong (named).
        """
        if not raw:
            raise BadRequest("the request body is empty; send a JSON object")
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"the request body is not valid JSON ({exc})") from None
        if counting and isinstance(body, dict) and "max_tokens" not in body:
            body = {**body, "max_tokens": 1}
        creq = parse_messages_request(body)
        if len(creq.messages) > self.max_messages:
            raise BadRequest(
                f"messages: too many messages ({len(creq.messages)}; at most {self.max_messages})"
            )
        return creq

    async def _stream(
        self, request: web.Request, creq: ChatRequest, stream: ChatStream, t0: float
    ) -> web.StreamResponse:
        """Answer with named events once the first content chunk came (a failure before it
        is still a clean HTTP error, and failover stays invisible)."""
        t_engine = time.perf_counter()
        try:
            opening = await first_content(stream)
        except DeskError as exc:
            return anthropic_desk_error_response(self.desk, exc)

        async def write(resp: web.StreamResponse) -> None:
            await _write_events(resp, creq, stream, opening)

        return await serve_events(request, stream, (t_engine - t0) * 1000, write)


async def _write_events(
    resp: web.StreamResponse, creq: ChatRequest, stream: ChatStream, opening: Opening
) -> None:
    """The reply as Anthropic's events: ``message_start`` (input tokens estimated, as
    the upstream's count comes only at the end), the blocks as chunks arrive, then
    ``message_delta`` with the final usage and ``message_stop``. A failure after the
    first chunk ends the stream with an ``error`` event (the SDK raises it)."""
    enc = StreamEncoder(new_message_id(), creq.model)
    out = [enc.start(estimate_input_tokens(creq))]
    out.extend(enc.feed(chunk) for chunk in opening.pending)
    await resp.write(b"".join(out))
    if not opening.ended:
        try:
            async for chunk in opening.it:
                data = enc.feed(chunk)
                if data:
                    await resp.write(data)
        except DeskError as exc:
            await resp.write_eof(error_event(exc.http_status, exc.one_line()))
            return
    result = stream.result
    finish, usage = (result.finish_reason, result.usage) if result is not None else (None, None)
    await resp.write_eof(enc.end(finish, usage, with_input=True))


def new_message_id() -> str:
    """A fresh message id in Anthropic's style (``msg_...``)."""
    return "msg_" + uuid.uuid4().hex[:24]


def estimate_input_tokens(request: ChatRequest) -> int:
    """The input tokens of ``request``, estimated: its texts, tool calls and tool
    definitions at about four characters a token, plus :data:`IMAGE_TOKENS` per image."""
    pieces: list[str] = []
    images = 0
    for m in request.messages:
        pieces.append(m.text)
        for call in m.tool_calls or ():
            fn = call["function"]
            pieces.append(f"{fn['name']} {fn.get('arguments', '')}")
        if not isinstance(m.content, str):
            images += len(m.images)
    if request.tools:
        pieces.append(orjson.dumps(request.tools).decode())
    return estimate_tokens("\n".join(pieces)) + IMAGE_TOKENS * images
