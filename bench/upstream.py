"""A fast local OpenAI-style upstream for the gateway benchmark.

Answers ``POST /v1/chat/completions`` from precomputed bytes: a plain completion, or a
stream of 20 content chunks plus a usage chunk and ``[DONE]``. A model name ending in
``-slow`` waits 50 ms before answering (the "real upstream" case). A request that
offers ``tools`` gets a tool call instead: plain, or streamed as a first chunk with the
call's id and name and then 20 argument fragments (OpenAI's ``delta.tool_calls``),
``finish_reason: tool_calls``, usage and ``[DONE]``. ``GET /v1/models`` lists the two
model names.

Run: ``python bench/upstream.py --port 0`` (prints ``listening on http://...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from aiohttp import web

MODEL = "gpt-4o-mini"
SLOW = MODEL + "-slow"
CHUNKS = 20
DELAY = 0.05


def _chunk(
    content: str | None, finish: str | None = None, delta: dict[str, object] | None = None
) -> bytes:
    if delta is None:
        delta = {} if content is None else {"content": content}
    obj = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


WORDS = [f"word{i} " for i in range(CHUNKS)]
PLAIN = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(WORDS)},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS},
    },
    separators=(",", ":"),
).encode()
STREAM_CHUNKS = [_chunk(w) for w in WORDS]
STREAM_TAIL = (
    _chunk(None, "stop")
    + b"data: "
    + json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": MODEL,
            "choices": [],
            "usage": {
                "prompt_tokens": 12,
                "completion_tokens": CHUNKS,
                "total_tokens": 12 + CHUNKS,
            },
        },
        separators=(",", ":"),
    ).encode()
    + b"\n\n"
    + b"data: [DONE]\n\n"
)
ARGS = ['{"query":"'] + [f"word{i} " for i in range(CHUNKS - 2)] + ['"}']
CALL = {"id": "call_bench", "type": "function", "function": {"name": "lookup"}}
_PLAIN_OBJ = json.loads(PLAIN)
_PLAIN_OBJ["choices"][0]["message"] = {
    "role": "assistant",
    "content": None,
    "tool_calls": [{**CALL, "function": {"name": "lookup", "arguments": "".join(ARGS)}}],
}
_PLAIN_OBJ["choices"][0]["finish_reason"] = "tool_calls"
PLAIN_TOOLS = json.dumps(_PLAIN_OBJ, separators=(",", ":")).encode()
TOOL_CHUNKS = [
    _chunk(None, delta={"tool_calls": [{"index": 0, **CALL, "function": {"name": "lookup"}}]})
] + [_chunk(None, delta={"tool_calls": [{"index": 0, "function": {"arguments": a}}]}) for a in ARGS]
TOOL_TAIL = STREAM_TAIL.replace(b'"finish_reason":"stop"', b'"finish_reason":"tool_calls"', 1)
MODELS = json.dumps(
    {
        "object": "list",
        "data": [{"id": m, "object": "model", "owned_by": "bench"} for m in (MODEL, SLOW)],
    }
).encode()


async def chat(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    if b'-slow"' in body:
        await asyncio.sleep(DELAY)
    tools = b'"tools"' in body
    if b'"stream":true' not in body.replace(b" ", b""):
        return web.Response(body=PLAIN_TOOLS if tools else PLAIN, content_type="application/json")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for chunk in TOOL_CHUNKS if tools else STREAM_CHUNKS:
        await resp.write(chunk)
    await resp.write(TOOL_TAIL if tools else STREAM_TAIL)
    await resp.write_eof()
    return resp


async def models(request: web.Request) -> web.Response:
    return web.Response(body=MODELS, content_type="application/json")


async def main(host: str, port: int) -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"listening on http://{host}:{bound}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(args.host, args.port))
    except ImportError:
        asyncio.run(main(args.host, args.port))
    except KeyboardInterrupt:
        sys.exit(0)
