"""What web chat discovery hands back: the steps as they finish and the final record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from endpoint_desk.core.models import EndpointSpec

__all__ = ["ProgressFn", "Step", "WebChatDiscovery"]

ProgressFn = Callable[["Step"], Any]
"""Called with every step as it finishes (may be a coroutine function)."""


@dataclass(slots=True)
class Step:
    """One step of discovery, as shown to the user."""

    name: str
    ok: bool
    detail: str
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1)}


@dataclass(slots=True)
class WebChatDiscovery:
    """What discovery found: the spec ready to save, the evidence and how sure it is.

    Attributes:
        spec: a ``web_chat`` ``EndpointSpec`` with ``options`` filled in.
        confidence: 0..1, from the evidence (see ``evidence``).
        evidence: one line per finding, for the user.
        steps: every step with its outcome and duration.
        timings: milliseconds per phase and ``total``.
        fingerprint: the page's fingerprint (framework markers, DOM shape).
        pattern_id: the pattern-library entry used or learned (``None`` without a store).
        from_pattern: the configuration came from the pattern library (no analysis).
        assisted: an endpoint of the user's portfolio helped choose.
    """

    spec: EndpointSpec
    confidence: float
    evidence: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    pattern_id: int | None = None
    from_pattern: bool = False
    assisted: bool = False

    @property
    def options(self) -> dict[str, Any]:
        """The web chat selector configuration (``spec.options``)."""
        return self.spec.options

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret: credentials appear only as references)."""
        return {
            "spec": self.spec.model_dump(mode="json"),
            "confidence": round(self.confidence, 3),
            "evidence": list(self.evidence),
            "steps": [s.to_dict() for s in self.steps],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "fingerprint": self.fingerprint,
            "pattern_id": self.pattern_id,
            "from_pattern": self.from_pattern,
            "assisted": self.assisted,
        }
