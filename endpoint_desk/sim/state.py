"""What one sim app holds: its live config, the counters tests read, jobs, the dice.

The state sits under ``app[STATE_KEY]``; :class:`endpoint_desk.sim.SimServer` reads
``stats`` from it and ``POST /sim/reset`` resets it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from endpoint_desk.sim.knobs import Knobs, SimConfig

__all__ = ["STATE_KEY", "Job", "SimState", "SimStats"]


@dataclass
class SimStats:
    """Counters the tests read (also served as JSON by ``GET /sim/stats``)."""

    requests: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    simulated_failures: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    last: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Requests served on all API routes (``/sim/*`` not counted)."""
        return sum(self.requests.values())

    def count(self, route: str) -> int:
        """Requests served on one route, e.g. ``"POST /v1/chat/completions"``."""
        return self.requests.get(route, 0)

    def reset(self) -> None:
        """Zero every counter (requests still in flight stay counted in ``in_flight``)."""
        self.requests.clear()
        self.statuses.clear()
        self.simulated_failures = 0
        self.max_in_flight = self.in_flight
        self.last.clear()

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON-able dict."""
        return {
            "total": self.total,
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "simulated_failures": self.simulated_failures,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "last": self.last,
        }


@dataclass
class Job:
    """One submitted ``/jobs`` job: its answer, and when (and how) it ends."""

    text: str
    usage: dict[str, int]
    ready_at: float
    fail: bool


@dataclass
class SimState:
    """Everything one sim app holds: its (mutable) config, counters, jobs, random state."""

    config: SimConfig
    stats: SimStats = field(default_factory=SimStats)
    jobs: dict[str, Job] = field(default_factory=dict)
    script_index: int = 0
    _rng: random.Random = field(default_factory=random.Random)
    _rng_seed: int | None = None
    _seeded: dict[int, random.Random] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reseed()

    def reseed(self) -> None:
        """Restart the failure dice from the config's seed (and forget per-request seeds)."""
        self._rng_seed = self.config.seed
        self._rng = random.Random(self.config.seed)
        self._seeded.clear()

    def roll(self, knobs: Knobs) -> float:
        """One draw in [0, 1) from the generator of this request's seed."""
        if knobs is not self.config and knobs.seed is not None and knobs.seed != self.config.seed:
            rng = self._seeded.get(knobs.seed)
            if rng is None:
                rng = self._seeded[knobs.seed] = random.Random(knobs.seed)
            return rng.random()
        if self.config.seed != self._rng_seed:
            self.reseed()
        return self._rng.random()

    def reset(self) -> None:
        """Zero the counters, forget jobs, restart the script and the dice."""
        self.stats.reset()
        self.jobs.clear()
        self.script_index = 0
        self.reseed()


STATE_KEY = web.AppKey("sim_state", SimState)
