"""Which positions may take a request, in which order.

Candidates are the serving endpoints (ON or DEGRADED) that answer to the asked model
(directly, by ``model_mapping``, or pinned as ``endpoint-name/model``). Lower priority
tiers (``spec.tier``) come first; the strategy orders endpoints within a tier:

- ``success_rate``: highest moving success rate first; near-equal ones (within
  ``SUCCESS_BAND``) take turns.
- ``latency``: lowest moving average of time to first token first; endpoints within
  ``latency_tolerance`` of the fastest (or ``LATENCY_SLACK_MS``) take turns; unmeasured
  ones go first (to learn).
- ``round_robin``: everyone takes turns.
- ``weighted``: smooth weighted round robin by ``spec.weight`` (exact shares over many
  requests; weight 0 serves only when nobody else can).
- ``least_busy``: fewest requests in flight first; ties take turns.
- ``cost``: cheapest price (per-endpoint override, else the price table; unknown = 0)
  first; ties take turns.

``success_rate`` and ``latency`` send ``EXPLORE`` of requests to another endpoint of
the tier first, so an endpoint that recovered (or got faster) is noticed.

When no candidate serves but some are tripped, the one whose cooldown ends first is
returned instead of refusing the request.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from endpoint_desk.core.config import RoutingSettings
from endpoint_desk.core.errors import BadRequest, ModelNotFound, NoEndpointAvailable
from endpoint_desk.core.models import EndpointState
from endpoint_desk.engine.cost import prices_for
from endpoint_desk.engine.position import Position

SUCCESS_BAND = 0.05
"""Success rates this close to the best share load."""

EXPLORE = 0.05
"""Share of requests where success_rate/latency try another endpoint of the tier first."""

LATENCY_SLACK_MS = 5.0
"""Time-to-first-token differences below this many ms always count as a tie (noise)."""


def split_pinned(model: str, names: Iterable[str]) -> tuple[str | None, str]:
    """``endpoint-name/model`` -> (endpoint-name, model) when the prefix is an endpoint."""
    if "/" in model:
        head, _, tail = model.partition("/")
        if head in set(names):
            return head, tail
    return None, model


class Router:
    """Orders candidates by tier, then by the strategy of the asked model.

    Args:
        settings: ``Settings.routing`` (strategy, per-model overrides, latency tolerance).
        rng: random source for exploration (tests pass a seeded one).
    """

    def __init__(
        self, settings: RoutingSettings | None = None, rng: random.Random | None = None
    ) -> None:
        self.settings = settings or RoutingSettings()
        self._rng = rng or random.Random()
        self._turns: dict[tuple[str, int], int] = {}
        self._swrr: dict[tuple[str, int], dict[str, float]] = {}

    def strategy_for(self, asked: str) -> str:
        """The strategy for an asked model name (per-model override, else desk-wide)."""
        return self.settings.per_model.get(asked, self.settings.strategy)

    def plan(
        self,
        model: str,
        positions: dict[str, Position],
        needs: frozenset[str] = frozenset(),
    ) -> tuple[list[Position], str]:
        """Candidates for ``model`` in the order to try them, and the model name to ask.

        Args:
            needs: capabilities the request needs (``ChatRequest.needs()``); only
                endpoints that have them all are candidates.
        Raises:
            ModelNotFound: no endpoint, on or off, answers to the name.
            BadRequest: some do, but none has a capability the request needs.
            NoEndpointAvailable: some do, but none is serving or cooling down.
        """
        pinned, asked = split_pinned(model, positions)
        if pinned is not None:
            pool = [positions[pinned]]
        elif asked:
            pool = [p for p in positions.values() if p.spec.serves(asked)]
        else:
            pool = list(positions.values())
        if not pool:
            raise ModelNotFound(f"no endpoint serves model {model!r}", param="model")
        if needs:
            pool = able(pool, needs, model)
        serving = [p for p in pool if p.state.serving]
        if not serving:
            tripped = [p for p in pool if p.state == EndpointState.TRIPPED]
            if tripped:
                return [min(tripped, key=lambda p: p.until or 0.0)], asked
            states = ", ".join(f"{p.name} is {p.state.value}" for p in pool[:5])
            raise NoEndpointAvailable(f"no endpoint available for {model!r} ({states})")
        if len(serving) == 1:
            return serving, asked
        strategy = self.strategy_for(asked)
        tiers: dict[int, list[Position]] = {}
        for p in serving:
            tiers.setdefault(p.spec.tier, []).append(p)
        ordered: list[Position] = []
        for tier in sorted(tiers):
            ordered.extend(self._order(strategy, tiers[tier], asked, tier))
        return ordered, asked

    # ---- strategies --------------------------------------------------------------

    def _turn(self, asked: str, tier: int) -> int:
        key = (asked, tier)
        n = self._turns.get(key, 0)
        self._turns[key] = n + 1
        return n

    def _order(self, strategy: str, group: list[Position], asked: str, tier: int) -> list[Position]:
        if len(group) == 1:
            return group
        turn = self._turn(asked, tier)
        if strategy == "round_robin":
            return _rotate(group, turn)
        if strategy == "weighted":
            return self._weighted(group, asked, tier)
        if strategy == "least_busy":
            return _banded(group, [float(p.metrics.in_flight) for p in group], 0.0, turn)
        if strategy == "cost":
            return _banded(group, [_price(p, asked) for p in group], 0.0, turn)
        if strategy == "latency":
            keys = [p.metrics.ttft_ewma or 0.0 for p in group]
            best = min(keys)
            band = max(best * self.settings.latency_tolerance, LATENCY_SLACK_MS)
            order = _banded(group, keys, band, turn)
        else:  # success_rate
            order = _banded(group, [-p.metrics.ok_ewma for p in group], SUCCESS_BAND, turn)
        if self._rng.random() < EXPLORE:
            order.insert(0, order.pop(self._rng.randrange(1, len(order))))
        return order

    def _weighted(self, group: list[Position], asked: str, tier: int) -> list[Position]:
        """Smooth weighted round robin (nginx): exact shares, evenly interleaved."""
        current = self._swrr.setdefault((asked, tier), {})
        live = [p for p in group if p.spec.weight > 0]
        if not live:
            return list(group)
        total = 0.0
        best: Position | None = None
        for p in live:
            w = p.spec.weight
            total += w
            c = current.get(p.name, 0.0) + w
            current[p.name] = c
            if best is None or c > current[best.name]:
                best = p
        assert best is not None
        current[best.name] -= total
        rest = sorted((p for p in group if p is not best), key=lambda p: -p.spec.weight)
        return [best, *rest]


def able(pool: list[Position], needs: frozenset[str], model: str) -> list[Position]:
    """The positions of ``pool`` that have every capability in ``needs``.

    Raises:
        BadRequest: none has them; the message names what each one lacks.
    """
    fit = [p for p in pool if needs <= p.capabilities()]
    if fit:
        return fit
    anywhere: set[str] = set()
    for p in pool:
        anywhere |= p.capabilities()
    lacking = sorted(needs - anywhere or needs)
    shown = "; ".join(
        f"{p.name} ({p.spec.kind.value}) lacks {', '.join(sorted(needs - p.capabilities()))}"
        for p in pool[:5]
    )
    raise BadRequest(
        f"no endpoint that serves {model or 'this request'!r} can handle "
        f"{' and '.join(lacking)}: {shown} (an endpoint's capabilities can be set with "
        "its 'capabilities' option when it can do more than its kind declares)",
        param=lacking[0],
    )


def _rotate(group: list[Position], turn: int) -> list[Position]:
    k = turn % len(group)
    return group[k:] + group[:k]


def _banded(group: list[Position], keys: list[float], band: float, turn: int) -> list[Position]:
    """Lowest key first; those within ``band`` of the lowest take turns at the front."""
    best = min(keys)
    front = [p for p, k in zip(group, keys, strict=True) if k <= best + band]
    back = sorted(((k, i) for i, k in enumerate(keys) if k > best + band), key=lambda item: item[0])
    return _rotate(front, turn) + [group[i] for _, i in back]


def _price(pos: Position, asked: str) -> float:
    prices = prices_for(pos.spec.upstream_model(asked) or "", pos.spec.prices)
    return 0.0 if prices is None else prices[0] + prices[1]
