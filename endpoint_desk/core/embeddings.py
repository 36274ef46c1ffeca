"""Embedding requests and results, in the desk's canonical (OpenAI-shaped) form."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import Attempt, Usage

MAX_INPUTS = 2048
"""Texts in one request, as OpenAI allows."""

NEEDS = frozenset({"embeddings"})
"""The capabilities an embedding request needs (the router's ``needs``)."""


@dataclass(slots=True)
class EmbeddingRequest:
    """Texts to embed with one model."""

    inputs: list[str]
    model: str = ""
    dimensions: int | None = None
    encoding_format: str = "float"
    """``float`` or ``base64`` (little-endian float32), how the front door answers."""

    @classmethod
    def from_openai(cls, body: Any) -> EmbeddingRequest:
        """Validate an OpenAI ``/v1/embeddings`` body.

        Raises:
            BadRequest: naming the offending field.
        """
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        model = body.get("model", "")
        if not isinstance(model, str):
            raise BadRequest("'model' must be a string", param="model")
        raw = body.get("input")
        if isinstance(raw, str):
            inputs = [raw]
        elif isinstance(raw, list) and raw and all(isinstance(x, str) for x in raw):
            inputs = list(raw)
        else:
            raise BadRequest(
                "'input' must be a string or a non-empty array of strings (token arrays are "
                "not supported)",
                param="input",
            )
        if len(inputs) > MAX_INPUTS:
            raise BadRequest(
                f"'input' has {len(inputs)} texts; at most {MAX_INPUTS}", param="input"
            )
        if any(not text for text in inputs):
            raise BadRequest("'input' must not contain empty strings", param="input")
        dims = body.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
            raise BadRequest("'dimensions' must be a positive integer", param="dimensions")
        fmt = body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise BadRequest(
                "'encoding_format' must be 'float' or 'base64'", param="encoding_format"
            )
        return cls(inputs=inputs, model=model, dimensions=dims, encoding_format=fmt)

    def needs(self) -> frozenset[str]:
        """The capabilities an endpoint must have to serve this request."""
        return NEEDS


@dataclass(slots=True)
class EmbeddingResult:
    """Vectors in input order, with usage and which endpoint served them.

    An adapter fills ``vectors``, ``model`` and ``usage`` (``Usage(estimated=True)``
    when the upstream reported no token count: the engine then estimates it); the
    engine fills the rest.
    """

    vectors: list[list[float]]
    model: str
    id: str = ""
    """The request log's id of the attempt that served it."""
    endpoint: str = ""
    provider: str = ""
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    attempts: list[Attempt] = field(default_factory=list)
    created: float = field(default_factory=time.time)
