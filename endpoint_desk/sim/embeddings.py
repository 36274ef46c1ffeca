"""The sim's embeddings: OpenAI ``POST /v1/embeddings`` (float or base64), Gemini
``:embedContent`` / ``:batchEmbedContents`` and Ollama ``POST /api/embed``.

Vectors are deterministic (the same text gives the same vector, on every protocol),
unit length, ``dimensions`` long when the request asks, else 16.
"""

from __future__ import annotations

import hashlib
import math
import time

import orjson
from aiohttp import web

from endpoint_desk.core.embeddings import EmbeddingRequest
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import Usage
from endpoint_desk.sim.errors import GEMINI, OLLAMA, OPENAI, fail
from endpoint_desk.sim.gate import Sim
from endpoint_desk.sim.text import count_tokens
from endpoint_desk.sim.writers import send_body
from endpoint_desk.wire.gemini import embeddings as gemini_wire
from endpoint_desk.wire.ollama import embeddings as ollama_wire
from endpoint_desk.wire.openai.embeddings import embeddings_response

__all__ = ["gemini_embed", "ollama_embed", "openai_embeddings", "vector"]

DEFAULT_DIMENSIONS = 16


def vector(text: str, dimensions: int | None = None) -> list[float]:
    """The sim's embedding of ``text``: a unit vector drawn from its SHA-256."""
    n = max(1, min(dimensions or DEFAULT_DIMENSIONS, 4096))
    raw = b""
    counter = 0
    while len(raw) < 2 * n:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [int.from_bytes(raw[2 * i : 2 * i + 2], "big") / 32768.0 - 1.0 for i in range(n)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


async def openai_embeddings(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /v1/embeddings``."""
    sim.auth(request, OPENAI)
    body = await sim.body(request, OPENAI)
    try:
        ereq = EmbeddingRequest.from_openai(body)
    except BadRequest as exc:
        raise fail(OPENAI, 400, exc.message, code="invalid_request_error") from None
    if not ereq.model:
        raise fail(OPENAI, 400, "you must provide a model parameter")
    knobs, model = await sim.gate(request, OPENAI, "POST /v1/embeddings", ereq.model, body)
    vectors = [vector(t, ereq.dimensions) for t in ereq.inputs]
    usage = Usage(input_tokens=sum(count_tokens(t) for t in ereq.inputs))
    data = embeddings_response(vectors, model, usage, ereq.encoding_format)
    return await send_body(request, knobs, orjson.dumps(data), 1)


async def gemini_embed(
    sim: Sim, request: web.Request, model_raw: str, method: str
) -> web.StreamResponse:
    """``POST /v1beta/models/{m}:embedContent`` and ``:batchEmbedContents``."""
    body = await sim.body(request, GEMINI)
    batch = method == "batchEmbedContents"
    try:
        texts, dims = gemini_wire.read_embed_request(body, batch)
    except BadRequest as exc:
        raise fail(GEMINI, 400, f"* {method}: {exc.message}") from None
    knobs, _ = await sim.gate(request, GEMINI, f"POST /v1beta/models:{method}", model_raw, body)
    data = gemini_wire.embed_response([vector(t, dims) for t in texts], batch)
    return await send_body(request, knobs, orjson.dumps(data), 1)


async def ollama_embed(sim: Sim, request: web.Request) -> web.StreamResponse:
    """``POST /api/embed``."""
    sim.auth(request, OLLAMA)
    body = await sim.body(request, OLLAMA)
    started = time.perf_counter_ns()
    try:
        model_raw, texts, dims = ollama_wire.read_embed_request(body)
    except BadRequest as exc:
        raise fail(OLLAMA, 400, exc.message) from None
    knobs, model = await sim.gate(request, OLLAMA, "POST /api/embed", model_raw, body)
    vectors = [vector(t, dims) for t in texts]
    tokens = sum(count_tokens(t) for t in texts)
    data = ollama_wire.embed_response(model, vectors, tokens, time.perf_counter_ns() - started)
    return await send_body(request, knobs, orjson.dumps(data), 1)
