"""Domain types: what an endpoint is (``core/spec.py``) and what a request and a result
are (``core/chat.py``), importable from here as one vocabulary.

``EndpointSpec`` and its parts are pydantic models (they come from config files, the
CLI and the management API and must be validated). The request/response types on
the hot path are plain slotted dataclasses.
"""

from __future__ import annotations

from endpoint_desk.core.chat import (
    OPENAI_CHAT_FIELDS,
    Attempt,
    ChatChunk,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ProbeResult,
    Usage,
    new_id,
    number_field,
)
from endpoint_desk.core.spec import (
    BrowserConfig,
    EndpointKind,
    EndpointSpec,
    EndpointState,
    Limits,
    Prices,
    ProxyConfig,
    Viewport,
    check_proxy_url,
    mask_proxy,
    slugify,
)

__all__ = [
    "OPENAI_CHAT_FIELDS",
    "Attempt",
    "BrowserConfig",
    "ChatChunk",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "EndpointKind",
    "EndpointSpec",
    "EndpointState",
    "Limits",
    "Prices",
    "ProbeResult",
    "ProxyConfig",
    "Usage",
    "Viewport",
    "check_proxy_url",
    "mask_proxy",
    "new_id",
    "number_field",
    "slugify",
]
