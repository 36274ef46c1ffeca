"""Which positions may take a request, in which order."""

from __future__ import annotations

from collections.abc import Iterable

from endpoint_desk.core.errors import ModelNotFound, NoEndpointAvailable
from endpoint_desk.engine.position import Position


def split_pinned(model: str, names: Iterable[str]) -> tuple[str | None, str]:
    """``endpoint-name/model`` -> (endpoint-name, model) when the prefix is an endpoint."""
    if "/" in model:
        head, _, tail = model.partition("/")
        if head in set(names):
            return head, tail
    return None, model


class Router:
    """Orders candidates: priority tier first, then insertion order (the risk engine
    refines the order within a tier by its strategy)."""

    def plan(self, model: str, positions: dict[str, Position]) -> tuple[list[Position], str]:
        """Candidates for ``model`` and the model name to ask them for.

        Raises:
            ModelNotFound: no endpoint, on or off, answers to the name.
            NoEndpointAvailable: some do, but none is serving.
        """
        pinned, asked = split_pinned(model, positions)
        if pinned is not None:
            pool = [positions[pinned]]
        else:
            pool = [p for p in positions.values() if p.spec.serves(asked)] if asked else list(
                positions.values()
            )
        if not pool:
            raise ModelNotFound(f"no endpoint serves model {model!r}", param="model")
        serving = [p for p in pool if p.state.serving]
        if not serving:
            states = ", ".join(f"{p.name} is {p.state.value}" for p in pool[:5])
            raise NoEndpointAvailable(f"no endpoint available for {model!r} ({states})")
        serving.sort(key=lambda p: p.spec.tier)
        return serving, asked
