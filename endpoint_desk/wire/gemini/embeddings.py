"""Gemini embeddings both ways: ``models/{m}:batchEmbedContents`` (what the adapter
sends, one request per text) and ``:embedContent`` (one text), and their replies."""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.errors import BadRequest, ProtocolError


def batch_body(inputs: list[str], model: str, dimensions: int | None = None) -> dict[str, Any]:
    """The ``batchEmbedContents`` body for ``inputs`` (model without ``models/``)."""
    requests = []
    for text in inputs:
        one: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if dimensions is not None:
            one["outputDimensionality"] = dimensions
        requests.append(one)
    return {"requests": requests}


def parse_batch(data: Any, endpoint: str) -> list[list[float]]:
    """The vectors of a ``batchEmbedContents`` reply, in order."""
    items = data.get("embeddings") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ProtocolError(f"{endpoint} sent no 'embeddings' list", endpoint=endpoint)
    out: list[list[float]] = []
    for item in items:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list):
            raise ProtocolError(f"{endpoint} sent an embedding without 'values'", endpoint=endpoint)
        out.append([float(v) for v in values])
    return out


def _text(content: Any, where: str) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        raise BadRequest(f"{where}.content.parts is required", param=where)
    return "".join(str(p.get("text", "")) for p in parts if isinstance(p, dict))


def read_embed_request(body: Any, batch: bool) -> tuple[list[str], int | None]:
    """``(texts, dimensions)`` of an ``embedContent`` or ``batchEmbedContents`` body."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    if not batch:
        dims = body.get("outputDimensionality")
        return [_text(body.get("content"), "request")], dims if isinstance(dims, int) else None
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise BadRequest("requests must be a non-empty array", param="requests")
    texts = [
        _text(r.get("content") if isinstance(r, dict) else None, f"requests[{i}]")
        for i, r in enumerate(requests)
    ]
    first = requests[0] if isinstance(requests[0], dict) else {}
    dims = first.get("outputDimensionality")
    return texts, dims if isinstance(dims, int) else None


def embed_response(vectors: list[list[float]], batch: bool) -> dict[str, Any]:
    """An ``embedContent`` (one vector) or ``batchEmbedContents`` reply."""
    if batch:
        return {"embeddings": [{"values": v} for v in vectors]}
    return {"embedding": {"values": vectors[0]}}
