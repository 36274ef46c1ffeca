"""What a URL says about itself before any probe: host, path or port.

A hinted protocol is probed first, alone (see :mod:`endpoint_desk.discovery.probe`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from endpoint_desk.core.models import EndpointKind

__all__ = ["hint_for"]

_HOST_HINTS = (
    ("anthropic.com", EndpointKind.ANTHROPIC),
    ("generativelanguage.googleapis.com", EndpointKind.GEMINI),
    ("api.openai.com", EndpointKind.OPENAI),
    ("openrouter.ai", EndpointKind.OPENAI),
    ("api.groq.com", EndpointKind.OPENAI),
    ("api.deepseek.com", EndpointKind.OPENAI),
    ("api.deepinfra.com", EndpointKind.OPENAI),
    ("api.mistral.ai", EndpointKind.OPENAI),
)
_PATH_HINTS = (
    ("/api/tags", EndpointKind.OLLAMA),
    ("/api/chat", EndpointKind.OLLAMA),
    ("/api", EndpointKind.OLLAMA),
    ("/v1/messages", EndpointKind.ANTHROPIC),
    ("/v1beta", EndpointKind.GEMINI),
    ("/v1beta/models", EndpointKind.GEMINI),
    ("/chat/completions", EndpointKind.OPENAI),
)


def hint_for(url: str) -> tuple[EndpointKind, str] | None:
    """What the URL itself suggests, and why (host, port or path), or ``None``."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for needle, kind in _HOST_HINTS:
        if host == needle or host.endswith("." + needle) or needle in host:
            return kind, f"the host name {host} belongs to {kind.value}"
    path = parts.path.rstrip("/")
    for suffix, kind in _PATH_HINTS:
        if path.endswith(suffix):
            return kind, f"the path {path} is {kind.value}'s"
    if parts.port == 11434:
        return EndpointKind.OLLAMA, "port 11434 is Ollama's default port"
    return None
