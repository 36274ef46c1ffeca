"""What a free-text description of an endpoint says about it.

``add_endpoint(url, description="Add DeepSeek web chat with my credentials")`` keeps
the description as the endpoint's note and uses its hints: the kind ("web chat",
"Anthropic API"...), a name ("Add DeepSeek web chat" -> ``deepseek-web-chat``), that
credentials are needed ("with my credentials", "log in"), and an environment variable
holding a key ("key in DEEPSEEK_API_KEY").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from endpoint_desk.core.models import EndpointKind, slugify

_STOP = {"add", "my", "the", "a", "an", "our", "to", "with", "please", "new", "use", "connect"}
_KIND_WORDS: list[tuple[re.Pattern[str], EndpointKind]] = [
    (
        re.compile(
            r"\b(web ?chat|chat ?page|chat (ui|interface|website|site)|browser|website)\b", re.I
        ),
        EndpointKind.WEB_CHAT,
    ),
    (re.compile(r"\banthropic\b|\bclaude\b.*\bapi\b", re.I), EndpointKind.ANTHROPIC),
    (re.compile(r"\bgemini\b.*\bapi\b|\bgoogle ai\b", re.I), EndpointKind.GEMINI),
    (re.compile(r"\bollama\b", re.I), EndpointKind.OLLAMA),
    (
        re.compile(r"\bopenai[- ]?(style|compatible)?\b.*\bapi\b|\bopenai\b", re.I),
        EndpointKind.OPENAI,
    ),
]
_CREDS = re.compile(
    r"\b(credentials?|log ?in|login|sign ?in|password|account|my (user|email))\b", re.I
)
_KEY_ENV = re.compile(r"\b([A-Z][A-Z0-9_]*(?:API_KEY|_KEY|_TOKEN))\b")


@dataclass(slots=True)
class DescriptionHints:
    """What a free-text description says about the endpoint."""

    kind: EndpointKind | None = None
    name: str | None = None
    needs_credentials: bool = False
    key_env: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "kind": self.kind.value if self.kind else None,
            "name": self.name,
            "needs_credentials": self.needs_credentials,
            "key_env": self.key_env,
        }


def parse_description(description: str | None) -> DescriptionHints:
    """Hints from a description such as ``"Add DeepSeek web chat with my credentials"``.

    Returns kind ``web_chat``, name ``deepseek-web-chat`` and ``needs_credentials``
    for that one. Nothing is guessed when the text says nothing.
    """
    hints = DescriptionHints()
    if not description:
        return hints
    text = description.strip()
    for pattern, kind in _KIND_WORDS:
        if pattern.search(text):
            hints.kind = kind
            break
    hints.needs_credentials = bool(_CREDS.search(text))
    m = _KEY_ENV.search(text)
    if m:
        hints.key_env = m.group(1)
    words = re.findall(r"[A-Za-z][\w.-]*", text)
    proper = [w for w in words if w[0].isupper() and w.lower() not in _STOP]
    proper = [w for w in proper if not _KEY_ENV.fullmatch(w)]
    if proper:
        base = proper[0]
        suffix = "-web-chat" if hints.kind == EndpointKind.WEB_CHAT else ""
        hints.name = slugify(base + suffix) or None
    return hints
