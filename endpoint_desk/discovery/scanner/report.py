"""What ``desk scan`` reports: the findings, and the ready ``desk add`` line for each.

Nothing here holds a secret: a key finding names its environment variable only.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.core.models import EndpointKind

__all__ = ["KeyFinding", "ScanReport", "ServerFinding", "add_line"]


@dataclass(slots=True)
class KeyFinding:
    """A provider key found in the environment (by variable name; never its value)."""

    provider: str
    label: str
    env_var: str
    kind: EndpointKind
    base_url: str
    command: str
    also_set: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret: only the variable's name)."""
        return {
            "provider": self.provider,
            "label": self.label,
            "env_var": self.env_var,
            "kind": self.kind.value,
            "base_url": self.base_url,
            "command": self.command,
            "also_set": list(self.also_set),
        }


@dataclass(slots=True)
class ServerFinding:
    """A local server that answered on one of the scanned ports."""

    port: int
    url: str
    kind: EndpointKind
    product: str
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    needs_key: bool = False
    command: str = ""
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "port": self.port,
            "url": self.url,
            "kind": self.kind.value,
            "product": self.product,
            "models": list(self.models),
            "evidence": list(self.evidence),
            "needs_key": self.needs_key,
            "command": self.command,
            "name": self.name,
        }


@dataclass(slots=True)
class ScanReport:
    """What ``desk scan`` found."""

    keys: list[KeyFinding] = field(default_factory=list)
    servers: list[ServerFinding] = field(default_factory=list)
    scanned_ports: list[int] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (never a secret value)."""
        return {
            "keys": [k.to_dict() for k in self.keys],
            "servers": [s.to_dict() for s in self.servers],
            "scanned_ports": list(self.scanned_ports),
            "elapsed_ms": round(self.elapsed_ms, 1),
        }

    @property
    def commands(self) -> list[str]:
        """Every ready ``desk add`` line, keys first."""
        return [k.command for k in self.keys] + [s.command for s in self.servers if s.command]


def add_line(
    url: str,
    name: str,
    *,
    kind: EndpointKind | None = None,
    key_env: str | None = None,
) -> str:
    """The ``desk add`` command that adds ``url`` (shell-quoted), as the scan offers it."""
    parts = ["desk", "add", url, "--name", name]
    if kind is not None:
        parts += ["--kind", kind.value]
    if key_env:
        parts += ["--api-key-env", key_env]
    return " ".join(shlex.quote(p) for p in parts)
