"""Records and rows: which columns each record of ``records.py`` fills, read off the
tables of ``tables.py`` (the one schema), so that no writer or reader spells a column
list of its own.

A record's fields are exactly its table's columns, less a key the database numbers
itself (``health_samples.id``, ``alerts.id``). A record and a table that drift apart
fail at import, naming the difference, instead of losing a column on the way to disk.
(Endpoints and patterns keep a JSON document in a column; ``portfolio.py`` and
``patterns.py`` convert those themselves.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import Row, Select, Table, select

from endpoint_desk.store.records import AlertRecord, HealthRecord, RequestRecord, Rollup
from endpoint_desk.store.tables import ALERTS, HEALTH_SAMPLES, REQUESTS, ROLLUPS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["ALERT", "HEALTH", "REQUEST", "ROLLUP", "ROLLUP_KEYS", "ROLLUP_SUMS", "RecordColumns"]

R = TypeVar("R", bound="DataclassInstance")


@dataclass(frozen=True, slots=True)
class RecordColumns(Generic[R]):
    """The columns of ``table`` that a record of type ``kind`` fills, in the table's
    order, and the conversions between the two."""

    table: Table
    kind: type[R]
    names: tuple[str, ...]
    values: Callable[[R], tuple[Any, ...]]
    """A record's values as a tuple, in the order of ``names``."""

    @classmethod
    def of(cls, table: Table, kind: type[R]) -> RecordColumns[R]:
        """Read the column list off ``table``.

        Raises:
            TypeError: the record's fields are not the table's columns.
        """
        auto = table.autoincrement_column
        names = tuple(c.name for c in table.columns if c is not auto)
        have = {f.name for f in fields(kind)}
        if have != set(names):
            raise TypeError(
                f"{kind.__name__} does not match table {table.name}: "
                f"fields without a column {sorted(have - set(names))}, "
                f"columns without a field {sorted(set(names) - have)}"
            )
        return cls(table, kind, names, attrgetter(*names))

    def select(self) -> Select[Any]:
        """``SELECT`` of the record's columns (``record()`` reads its rows)."""
        return select(*(self.table.c[n] for n in self.names))

    def record(self, row: Row[Any]) -> R:
        """The record a row of ``select()`` (or of the whole table) holds."""
        data = row._mapping
        return self.kind(**{n: data[n] for n in self.names})

    def row(self, record: R) -> dict[str, Any]:
        """The record as column values, for an insert."""
        return dict(zip(self.names, self.values(record), strict=True))


REQUEST = RecordColumns.of(REQUESTS, RequestRecord)
HEALTH = RecordColumns.of(HEALTH_SAMPLES, HealthRecord)
ROLLUP = RecordColumns.of(ROLLUPS, Rollup)
ALERT = RecordColumns.of(ALERTS, AlertRecord)

ROLLUP_KEYS = tuple(c.name for c in ROLLUPS.primary_key)
"""What a rollup is of: the minute and the endpoint."""
ROLLUP_SUMS = tuple(n for n in ROLLUP.names if n not in ROLLUP_KEYS)
"""The totals a rollup adds up (a new batch adds to the stored minute)."""
