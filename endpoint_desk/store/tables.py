"""SQLModel rows: the database's shape, kept apart from the domain types.

The repository (``Store``, one module per table family) converts rows to and from
``core.models`` and the dataclasses of ``records.py``; nothing above the store sees
these classes.

Schema versions (``meta.schema_version``; migrations live in ``migrations.py``):

- 1: the first layout.
- 2: ``requests.attempts``, ``patterns.last_used_at``, ``rollups.ttft_count`` and the
  ``requests(ts)`` index.
- 3: ``requests.kind`` (``chat`` or ``embeddings``).

Secrets never appear here: an endpoint's ``spec_json`` holds secret *references*
(``env:NAME``...), and ``requests.error`` holds the desk's own error messages.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Column, Index, Integer, MetaData, Table, Text
from sqlmodel import Field, SQLModel

SCHEMA_VERSION = 3
"""The schema version this code writes."""

# One metadata object for the desk's own tables, apart from SQLModel's global one, so
# nothing else that happens to define a SQLModel table lands in the desk's database.
desk_metadata = MetaData()


class DeskTable(SQLModel):
    """Base of the desk's tables (their own ``MetaData``)."""

    metadata = desk_metadata


class MetaRow(DeskTable, table=True):
    """Key/value facts about the database itself (``schema_version``)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True)
    value: str


class EndpointRow(DeskTable, table=True):
    """One position of the portfolio: its spec (as JSON) and its state."""

    __tablename__ = "endpoints"

    name: str = Field(primary_key=True)
    kind: str
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    state: str = "off"
    state_reason: str = ""
    state_until: float | None = None
    created_at: float
    updated_at: float


class RequestRow(DeskTable, table=True):
    """One served request (the request log)."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_endpoint_ts", "endpoint", "ts"),
        Index("ix_requests_ts", "ts"),
    )

    id: str = Field(primary_key=True)
    ts: float
    endpoint: str
    model: str = ""
    status: str = "ok"
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


class HealthSampleRow(DeskTable, table=True):
    """One health probe result."""

    __tablename__ = "health_samples"
    __table_args__ = (Index("ix_health_samples_endpoint_ts", "endpoint", "ts"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    ts: float
    endpoint: str
    ok: bool
    latency_ms: float = 0.0
    error_kind: str | None = None
    detail: str = ""


class RollupRow(DeskTable, table=True):
    """Per-minute totals of one endpoint (``minute`` = epoch seconds // 60)."""

    __tablename__ = "rollups"

    minute: int = Field(primary_key=True)
    endpoint: str = Field(primary_key=True)
    requests: int = 0
    errors: int = 0
    latency_ms_sum: float = 0.0
    ttft_ms_sum: float = 0.0
    ttft_count: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0


class PatternRow(DeskTable, table=True):
    """A learned configuration (web chat selectors...) with its track record."""

    __tablename__ = "patterns"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    fingerprint: str = Field(sa_column=Column(Text, nullable=False))
    framework: str = Field(sa_column=Column(Text, nullable=False))
    config_json: str = Field(sa_column=Column(Text, nullable=False))
    successes: int = 0
    failures: int = 0
    created_at: float
    updated_at: float
    last_used_at: float | None = None


class AlertRow(DeskTable, table=True):
    """An alert the engine raised (tripped, degraded, recovered, error, budget)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_endpoint_ts", "endpoint", "ts"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True))
    ts: float
    endpoint: str | None = None
    level: str
    title: str
    message: str


def _table(row: type[SQLModel]) -> Table:
    return cast(Table, row.__table__)  # type: ignore[attr-defined]


META = _table(MetaRow)
ENDPOINTS = _table(EndpointRow)
REQUESTS = _table(RequestRow)
HEALTH_SAMPLES = _table(HealthSampleRow)
ROLLUPS = _table(RollupRow)
PATTERNS = _table(PatternRow)
ALERTS = _table(AlertRow)

ALL_TABLES = [META, ENDPOINTS, REQUESTS, HEALTH_SAMPLES, ROLLUPS, PATTERNS, ALERTS]
"""Every table the desk creates, in creation order."""
