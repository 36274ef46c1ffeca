"""Plain frozen records the store reads and writes (no SQLAlchemy in sight).

The engine builds ``RequestRecord`` and ``HealthRecord`` on the hot path and hands them
to the ``Recorder``; the repository returns ``EndpointRecord``, ``Rollup``,
``RollupTotals`` and ``PatternRecord`` when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from endpoint_desk.core.models import EndpointSpec, EndpointState


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """An endpoint's spec together with its stored state."""

    spec: EndpointSpec
    state: EndpointState
    state_reason: str
    state_until: float | None
    created_at: float
    updated_at: float

    @property
    def name(self) -> str:
        """The endpoint's name (its slug)."""
        return self.spec.name


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request, as the request log keeps it.

    ``error`` is the desk's own error message, never a secret or a prompt.
    """

    id: str
    ts: float
    endpoint: str
    model: str = ""
    status: Literal["ok", "error"] = "ok"
    error_kind: str | None = None
    error: str | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    estimated: bool = False
    cached: bool = False
    stream: bool = False
    attempts: int = 1
    kind: str = "chat"
    """What was asked: ``chat`` or ``embeddings``."""

    @property
    def ok(self) -> bool:
        """Whether the request succeeded."""
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One health probe result."""

    ts: float
    endpoint: str
    ok: bool
    latency_ms: float = 0.0
    error_kind: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Rollup:
    """Totals of one endpoint over one minute (``minute`` = epoch seconds // 60).

    ``ttft_count`` is how many of the requests reported a time to first token, so
    ``ttft_ms_sum / ttft_count`` is the mean.
    """

    minute: int
    endpoint: str
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    ttft_ms_sum: float = 0.0
    ttft_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    @property
    def mean_latency_ms(self) -> float | None:
        """Mean latency of the minute's requests, None without requests."""
        return self.latency_ms_sum / self.requests if self.requests else None

    @property
    def mean_ttft_ms(self) -> float | None:
        """Mean time to first token, None when no request reported one."""
        return self.ttft_ms_sum / self.ttft_count if self.ttft_count else None


@dataclass(frozen=True, slots=True)
class RollupTotals:
    """One endpoint's totals over every stored rollup (``Store.rollup_totals``), and its
    cost from a given minute on (the engine's "spend today")."""

    endpoint: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float
    cost_since: float


@dataclass(frozen=True, slots=True)
class PatternRecord:
    """A learned configuration from the pattern library and its track record."""

    id: int
    fingerprint: str
    framework: str
    config: dict[str, Any]
    successes: int
    failures: int
    created_at: float
    updated_at: float
    last_used_at: float | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A stored alert: when, which endpoint (None for the desk), how bad, what."""

    ts: float
    endpoint: str | None
    level: str
    title: str
    message: str


def rollups_from(records: list[RequestRecord]) -> list[Rollup]:
    """Sum request records into per-minute, per-endpoint rollups."""
    acc: dict[tuple[int, str], list[float]] = {}
    for r in records:
        key = (int(r.ts // 60), r.endpoint)
        a = acc.get(key)
        if a is None:
            a = acc[key] = [0, 0, 0.0, 0.0, 0, 0, 0, 0.0]
        a[0] += 1
        if r.status != "ok":
            a[1] += 1
        a[2] += r.latency_ms
        if r.ttft_ms is not None:
            a[3] += r.ttft_ms
            a[4] += 1
        a[5] += r.input_tokens
        a[6] += r.output_tokens
        a[7] += r.cost
    return [
        Rollup(
            minute=minute,
            endpoint=endpoint,
            requests=int(a[0]),
            errors=int(a[1]),
            latency_ms_sum=a[2],
            ttft_ms_sum=a[3],
            ttft_count=int(a[4]),
            input_tokens=int(a[5]),
            output_tokens=int(a[6]),
            cost=a[7],
        )
        for (minute, endpoint), a in acc.items()
    ]
