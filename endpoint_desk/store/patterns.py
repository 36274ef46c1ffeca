"""The pattern library's rows: learned configurations (web chat selectors...) and
their track records, which discovery tries first on similar pages."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import Row, select, update

from endpoint_desk.core.errors import NotFound, StoreError
from endpoint_desk.store.database import Database
from endpoint_desk.store.records import PatternRecord
from endpoint_desk.store.tables import PATTERNS

__all__ = ["PatternsRepo"]


class PatternsRepo(Database):
    """Keep learned patterns, list them best first, count their results."""

    async def save_pattern(self, fingerprint: str, framework: str, config: dict[str, Any]) -> int:
        """Keep a learned configuration; returns its id."""
        try:
            config_json = json.dumps(config, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise StoreError(f"pattern config is not JSON data: {exc}") from exc
        now = time.time()
        async with self._write() as conn:
            result = await conn.execute(
                PATTERNS.insert()
                .values(
                    fingerprint=fingerprint,
                    framework=framework,
                    config_json=config_json,
                    successes=0,
                    failures=0,
                    created_at=now,
                    updated_at=now,
                    last_used_at=None,
                )
                .returning(PATTERNS.c.id)
            )
            return int(result.scalar_one())

    async def list_patterns(
        self, fingerprint: str | None = None, framework: str | None = None
    ) -> list[PatternRecord]:
        """Learned patterns, best track record first (most successes, fewest failures)."""
        q = select(PATTERNS)
        if fingerprint is not None:
            q = q.where(PATTERNS.c.fingerprint == fingerprint)
        if framework is not None:
            q = q.where(PATTERNS.c.framework == framework)
        q = q.order_by(PATTERNS.c.successes.desc(), PATTERNS.c.failures, PATTERNS.c.id)
        async with self._read() as conn:
            rows = (await conn.execute(q)).all()
        return [_pattern(r) for r in rows]

    async def record_pattern_result(self, id: int, ok: bool) -> None:
        """Count one success or failure of a pattern.

        Raises:
            NotFound: no pattern has this id.
        """
        now = time.time()
        column = PATTERNS.c.successes if ok else PATTERNS.c.failures
        async with self._write() as conn:
            result = await conn.execute(
                update(PATTERNS)
                .where(PATTERNS.c.id == id)
                .values({column: column + 1, "updated_at": now, "last_used_at": now})
            )
            if result.rowcount == 0:
                raise NotFound(f"no pattern with id {id}")


def _pattern(row: Row[Any]) -> PatternRecord:
    """A pattern row as a record: its columns, with the config parsed from its JSON."""
    data = dict(row._mapping)
    data["config"] = json.loads(data.pop("config_json"))
    return PatternRecord(**data)
