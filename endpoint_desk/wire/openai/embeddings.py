"""OpenAI's ``/v1/embeddings`` both ways: the body the adapter sends, the reply it reads
(float lists or base64 float32), and the reply the front door and the sim write.
Reading a request body is ``EmbeddingRequest.from_openai`` (``core/embeddings.py``)."""

from __future__ import annotations

import base64
import struct
from typing import Any

from endpoint_desk.core.embeddings import EmbeddingRequest
from endpoint_desk.core.errors import ProtocolError
from endpoint_desk.core.models import Usage


def embeddings_body(request: EmbeddingRequest) -> dict[str, Any]:
    """The upstream body (model already mapped); vectors are asked for as floats."""
    body: dict[str, Any] = {
        "model": request.model,
        "input": request.inputs,
        "encoding_format": "float",
    }
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def pack(vector: list[float]) -> str:
    """A vector as base64 little-endian float32 (OpenAI's ``encoding_format: base64``)."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def unpack(text: str) -> list[float]:
    """The inverse of :func:`pack`."""
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def parse_embeddings(
    data: Any, endpoint: str
) -> tuple[list[list[float]], Usage | None, str | None]:
    """``(vectors in input order, usage, model)`` of an embeddings reply."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProtocolError(f"{endpoint} sent embeddings without a 'data' list", endpoint=endpoint)
    vectors: list[tuple[int, list[float]]] = []
    for i, item in enumerate(items):
        vec = item.get("embedding") if isinstance(item, dict) else None
        if isinstance(vec, str):
            vec = unpack(vec)
        if not isinstance(vec, list):
            raise ProtocolError(
                f"{endpoint} sent an embedding that is not a list", endpoint=endpoint
            )
        index = item.get("index", i)
        vectors.append((index if isinstance(index, int) else i, [float(x) for x in vec]))
    usage_raw = data.get("usage")
    usage = None
    if isinstance(usage_raw, dict):
        usage = Usage(input_tokens=int(usage_raw.get("prompt_tokens") or 0))
    model = data.get("model")
    return [v for _, v in sorted(vectors)], usage, model if isinstance(model, str) else None


def embeddings_response(
    vectors: list[list[float]], model: str, usage: Usage, encoding_format: str = "float"
) -> dict[str, Any]:
    """An OpenAI embeddings reply."""
    return {
        "object": "list",
        "data": [
            {
                "object": "embedding",
                "index": i,
                "embedding": pack(v) if encoding_format == "base64" else v,
            }
            for i, v in enumerate(vectors)
        ],
        "model": model,
        "usage": {"prompt_tokens": usage.input_tokens, "total_tokens": usage.input_tokens},
    }
