"""Portfolio sync: pick up what another desk process changed in the stored portfolio.

``desk add``, ``rm``, ``start`` and ``stop`` in another terminal (or another ``desk
serve`` replica on a shared PostgreSQL) change the stored portfolio; a running desk
reads it back every ``store.sync_interval`` seconds (``desk serve`` and the TUI) and
follows: new endpoints join (and start when enabled), removed ones leave, changed ones
take their new configuration, switched ON or OFF as stored.
"""

from __future__ import annotations

import asyncio
import logging

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import EndpointSpec, EndpointState
from endpoint_desk.engine.events import EndpointChanged
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import Position

log = logging.getLogger(__name__)


class PortfolioSync:
    """Reads the stored portfolio back into one desk's :class:`Portfolio`."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self._seen_specs: dict[str, str] = {}
        """The stored spec JSON of each endpoint as the sync last saw it."""

    async def loop(self, interval: float) -> None:
        """Sync every ``interval`` seconds until cancelled; a failure is logged."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync()
            except DeskError as exc:
                log.warning("could not read the portfolio back: %s", exc.one_line())
            except Exception:  # a bug must not stop the desk
                log.warning("portfolio sync failed", exc_info=True)

    async def sync(self) -> list[str]:
        """Follow the stored portfolio once.

        Returns:
            The names of the endpoints that changed here.
        """
        portfolio = self.portfolio
        positions = portfolio.positions
        changed: list[str] = []
        to_start: list[Position] = []
        async with portfolio.lock:
            stored = await portfolio.store.endpoint_specs()
            for name in [n for n in positions if n not in stored]:
                pos = positions.pop(name)
                self._seen_specs.pop(name, None)
                portfolio.guards.pop(name, None)
                await portfolio.close_adapter(pos)
                portfolio.bus.publish(EndpointChanged(name, "removed", removed=True))
                changed.append(name)
            for name, raw in stored.items():
                if self._seen_specs.get(name) == raw:
                    continue
                self._seen_specs[name] = raw
                try:
                    spec = EndpointSpec.model_validate_json(raw)
                except ValueError as exc:
                    log.warning("endpoint %s has an unreadable stored spec: %s", name, exc)
                    continue
                known = positions.get(name)
                if known is None:
                    rec = await portfolio.store.get_endpoint(name)
                    new = Position(spec, rec.state, rec.state_reason, rec.state_until)
                    positions[name] = new
                    portfolio.publish_state(new)
                    if spec.enabled:
                        to_start.append(new)
                    changed.append(name)
                    continue
                pos = known
                if spec == pos.spec:
                    continue  # this desk's own write
                was_enabled, pos.spec = pos.spec.enabled, spec
                changed.append(name)
                if was_enabled and not spec.enabled:
                    await portfolio.close_adapter(pos)
                    await portfolio.set_state(pos, EndpointState.OFF, "switched off")
                elif spec.enabled and (not was_enabled or pos.opened):
                    await portfolio.close_adapter(pos)
                    portfolio.guard(pos).breaker.reset()
                    to_start.append(pos)
                else:
                    portfolio.publish_state(pos)
        if portfolio.autostart and to_start:
            await asyncio.gather(*(portfolio.start_position(p) for p in to_start))
        if changed:
            log.info("picked up portfolio changes from another desk: %s", ", ".join(changed))
        return changed
