"""The portfolio's rows: endpoints, their specs (as JSON) and their states.

Removing an endpoint also removes its health samples, rollups and alerts; the request
log, which spend totals read, stays.
"""

from __future__ import annotations

import difflib
import time
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from endpoint_desk.core.errors import Duplicate, NotFound, StoreError
from endpoint_desk.core.models import EndpointSpec, EndpointState
from endpoint_desk.store.database import Database
from endpoint_desk.store.records import EndpointRecord
from endpoint_desk.store.tables import ALERTS, ENDPOINTS, HEALTH_SAMPLES, ROLLUPS

__all__ = ["PortfolioRepo"]


class PortfolioRepo(Database):
    """Add, read, change and remove the portfolio's endpoints."""

    def _endpoint(self, row: Any) -> EndpointRecord:
        try:
            spec = EndpointSpec.model_validate_json(row.spec_json)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise StoreError(
                f"stored endpoint {row.name!r} in {self._where} is not a valid spec "
                f"({where}: {first['msg']})"
            ) from exc
        try:
            state = EndpointState(row.state)
        except ValueError:
            state = EndpointState.OFF
        return EndpointRecord(
            spec=spec,
            state=state,
            state_reason=row.state_reason or "",
            state_until=row.state_until,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def _not_found(self, conn: AsyncConnection, name: str) -> NotFound:
        names = list((await conn.scalars(select(ENDPOINTS.c.name))).all())
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
        msg = f"no endpoint named {name!r}"
        if close:
            msg += f"; did you mean {', '.join(close)}?"
        elif names:
            shown = ", ".join(sorted(names)[:10])
            msg += f"; the portfolio has {shown}" + (" ..." if len(names) > 10 else "")
        else:
            msg += "; the portfolio is empty"
        return NotFound(msg, endpoint=name)

    async def list_endpoints(self) -> list[EndpointRecord]:
        """Every endpoint, by name."""
        async with self._read() as conn:
            rows = (await conn.execute(select(ENDPOINTS).order_by(ENDPOINTS.c.name))).all()
        return [self._endpoint(r) for r in rows]

    async def endpoint_specs(self) -> dict[str, str]:
        """Every endpoint's name and its spec as stored JSON (cheap: nothing parsed)."""
        async with self._read() as conn:
            rows = (await conn.execute(select(ENDPOINTS.c.name, ENDPOINTS.c.spec_json))).all()
        return {name: raw for name, raw in rows}

    async def get_endpoint(self, name: str) -> EndpointRecord:
        """One endpoint by name.

        Raises:
            NotFound: naming ``name`` and the closest existing names.
        """
        async with self._read() as conn:
            row = (await conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.name == name))).first()
            if row is None:
                raise await self._not_found(conn, name)
        return self._endpoint(row)

    async def add_endpoint(
        self, spec: EndpointSpec, state: EndpointState = EndpointState.OFF
    ) -> EndpointRecord:
        """Add a new endpoint.

        Raises:
            Duplicate: an endpoint with this name exists.
        """
        now = time.time()
        values = {
            "name": spec.name,
            "kind": spec.kind.value,
            "spec_json": spec.model_dump_json(),
            "state": EndpointState(state).value,
            "state_reason": "",
            "state_until": None,
            "created_at": now,
            "updated_at": now,
        }
        try:
            async with self._write() as conn:
                await conn.execute(ENDPOINTS.insert().values(**values))
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise Duplicate(
                    f"an endpoint named {spec.name!r} already exists", endpoint=spec.name
                ) from None
            raise
        return EndpointRecord(spec, EndpointState(state), "", None, now, now)

    async def update_endpoint(self, spec: EndpointSpec) -> EndpointRecord:
        """Replace an endpoint's spec (its state stays).

        Raises:
            NotFound: no endpoint has this name.
        """
        return await self._update(spec.name, kind=spec.kind.value, spec_json=spec.model_dump_json())

    async def set_state(
        self,
        name: str,
        state: EndpointState,
        reason: str = "",
        until: float | None = None,
    ) -> EndpointRecord:
        """Record an endpoint's state, why, and (for ``tripped``) when to retry.

        Raises:
            NotFound: no endpoint has this name.
        """
        return await self._update(
            name, state=EndpointState(state).value, state_reason=reason, state_until=until
        )

    async def _update(self, name: str, **values: Any) -> EndpointRecord:
        """Change columns of one endpoint's row (and its ``updated_at``); the row after.

        Raises:
            NotFound: no endpoint has this name.
        """
        now = time.time()
        async with self._write() as conn:
            result = await conn.execute(
                update(ENDPOINTS).where(ENDPOINTS.c.name == name).values(**values, updated_at=now)
            )
            if result.rowcount == 0:
                raise await self._not_found(conn, name)
            row = (await conn.execute(select(ENDPOINTS).where(ENDPOINTS.c.name == name))).one()
        return self._endpoint(row)

    async def delete_endpoint(self, name: str) -> None:
        """Remove an endpoint with its health samples, rollups and alerts (the request log,
        which spend totals read, stays).

        Raises:
            NotFound: no endpoint has this name.
        """
        async with self._write() as conn:
            result = await conn.execute(delete(ENDPOINTS).where(ENDPOINTS.c.name == name))
            if result.rowcount == 0:
                raise await self._not_found(conn, name)
            await conn.execute(delete(HEALTH_SAMPLES).where(HEALTH_SAMPLES.c.endpoint == name))
            await conn.execute(delete(ALERTS).where(ALERTS.c.endpoint == name))
            await conn.execute(delete(ROLLUPS).where(ROLLUPS.c.endpoint == name))
