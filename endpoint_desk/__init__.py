"""endpoint-desk: a terminal trading desk for AI endpoints.

``from endpoint_desk import Desk`` gives the engine; nothing heavy is imported until
a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
    from endpoint_desk.core.models import ChatRequest, ChatResult, EndpointSpec
    from endpoint_desk.engine.api import add_endpoint, add_endpoint_async
    from endpoint_desk.engine.desk import Desk

__all__ = [
    "ChatRequest",
    "ChatResult",
    "Desk",
    "EmbeddingRequest",
    "EmbeddingResult",
    "EndpointSpec",
    "__version__",
    "add_endpoint",
    "add_endpoint_async",
]


def __getattr__(name: str) -> Any:
    if name == "Desk":
        from endpoint_desk.engine.desk import Desk

        return Desk
    if name in ("add_endpoint", "add_endpoint_async"):
        from endpoint_desk.engine import api

        return getattr(api, name)
    if name in ("EmbeddingRequest", "EmbeddingResult"):
        from endpoint_desk.core import embeddings

        return getattr(embeddings, name)
    if name in ("ChatRequest", "ChatResult", "EndpointSpec"):
        from endpoint_desk.core import models

        return getattr(models, name)
    raise AttributeError(name)
