"""A position: one endpoint as the engine holds it (spec, adapter, state, metrics)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from endpoint_desk.adapters.base import Adapter, Capabilities, capabilities_for
from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import EndpointSpec, EndpointState
from endpoint_desk.engine.metrics import EndpointMetrics, MetricsSnapshot


class Position:
    """Mutable engine-side record of one endpoint. Only the engine touches it."""

    __slots__ = (
        "_caps",
        "adapter",
        "metrics",
        "opened",
        "reason",
        "spec",
        "state",
        "state_since",
        "trips",
        "until",
    )

    def __init__(
        self,
        spec: EndpointSpec,
        state: EndpointState = EndpointState.OFF,
        reason: str = "",
        until: float | None = None,
    ) -> None:
        self.spec = spec
        self.state = state
        self.reason = reason
        self.until = until
        self.state_since = time.time()
        self.adapter: Adapter | None = None
        self.opened = False
        self.metrics = EndpointMetrics()
        self.trips = 0
        self._caps: tuple[EndpointSpec, frozenset[str]] | None = None

    def capabilities(self) -> frozenset[str]:
        """What the endpoint can do (``Capabilities.names()``), for its current spec."""
        caps = self._caps
        if caps is None or caps[0] is not self.spec:
            caps = self._caps = (self.spec, capabilities_of(self.spec).names())
        return caps[1]

    @property
    def name(self) -> str:
        return self.spec.name

    def view(self) -> EndpointView:
        return EndpointView(
            name=self.spec.name,
            spec=self.spec,
            capabilities=self.capabilities(),
            state=self.state,
            reason=self.reason,
            until=self.until,
            state_since=self.state_since,
            metrics=self.metrics.snapshot(),
        )


@dataclass(frozen=True, slots=True)
class EndpointView:
    """A read-only snapshot of a position for front ends."""

    name: str
    spec: EndpointSpec
    state: EndpointState
    reason: str
    until: float | None
    state_since: float
    metrics: MetricsSnapshot
    capabilities: frozenset[str] = frozenset()
    """What the endpoint can do (``streaming``, ``tools``, ``vision``, ``json_schema``,
    ``embeddings``)."""

    def to_dict(self) -> dict[str, Any]:
        spec = self.spec.model_dump(mode="json")
        return {
            "name": self.name,
            "display_name": self.spec.display_name,
            "kind": self.spec.kind.value,
            "state": self.state.value,
            "reason": self.reason,
            "until": self.until,
            "enabled": self.spec.enabled,
            "base_url": self.spec.base_url,
            "models": self.spec.answers_to(),
            "capabilities": sorted(self.capabilities),
            "spec": spec,
            "metrics": self.metrics.to_dict(),
        }


def capabilities_of(spec: EndpointSpec) -> Capabilities:
    """An endpoint's capabilities; a kind whose adapter cannot be loaded (Playwright
    missing, say) can do nothing until it can."""
    try:
        return capabilities_for(spec)
    except DeskError:
        return Capabilities(streaming=False, list_models=False, usage=False)
