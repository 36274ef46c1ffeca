"""Ollama's ``/api/embed`` both ways (``input`` a string or a list; ``embeddings`` a
list of vectors; ``prompt_eval_count`` the input tokens)."""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.embeddings import EmbeddingRequest
from endpoint_desk.core.errors import BadRequest, ProtocolError
from endpoint_desk.core.models import Usage


def embed_body(request: EmbeddingRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "input": request.inputs}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def parse_embed(data: Any, endpoint: str) -> tuple[list[list[float]], Usage | None]:
    items = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(v, list) for v in items):
        raise ProtocolError(f"{endpoint} sent no 'embeddings' list", endpoint=endpoint)
    count = data.get("prompt_eval_count")
    usage = Usage(input_tokens=count) if isinstance(count, int) else None
    return [[float(x) for x in v] for v in items], usage


def read_embed_request(body: Any) -> tuple[str, list[str], int | None]:
    """``(model, texts, dimensions)`` of an ``/api/embed`` body."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        raise BadRequest("model is required", param="model")
    raw = body.get("input")
    if isinstance(raw, str):
        texts = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
        texts = list(raw)
    else:
        raise BadRequest("input must be a string or an array of strings", param="input")
    dims = body.get("dimensions")
    return body["model"], texts, dims if isinstance(dims, int) else None


def embed_response(
    model: str, vectors: list[list[float]], input_tokens: int, elapsed_ns: int
) -> dict[str, Any]:
    return {
        "model": model,
        "embeddings": vectors,
        "total_duration": max(1, elapsed_ns),
        "load_duration": 0,
        "prompt_eval_count": input_tokens,
    }
