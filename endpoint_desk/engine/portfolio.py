"""The portfolio: the positions of one desk, their lifecycle and their states.

Adding, changing, removing, switching ON and OFF; opening and closing adapters; state
changes (saved to the store and published on the bus); the guard (limits and breaker)
of each position; and the health loop's view of the positions (the ``HealthHost`` of
``engine/health.py``). Changes made by another desk process are picked up by
``engine/sync.py``; the request path (``engine/request_path.py``) reads the positions
and their guards, and changes states only through :meth:`Portfolio.set_state_soon`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from endpoint_desk.adapters.base import Adapter, create_adapter
from endpoint_desk.core.config import Settings
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    ConfigError,
    DeskError,
    Duplicate,
    NotFound,
    UpstreamError,
)
from endpoint_desk.core.models import EndpointSpec, EndpointState, ProbeResult, slugify
from endpoint_desk.engine.credentials import stored_refs
from endpoint_desk.engine.events import Alert, EndpointChanged, EventBus
from endpoint_desk.engine.guards import Breaker, Guard
from endpoint_desk.engine.health import HealthMonitor
from endpoint_desk.engine.position import EndpointView, Position
from endpoint_desk.store.records import EndpointRecord, HealthRecord
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import SecretStore

if TYPE_CHECKING:
    from endpoint_desk.engine.ledger import Ledger

log = logging.getLogger(__name__)

Proof = Callable[[Position], Awaitable[None]]
"""A live proof of a new position before it is saved (``AttemptRunner.prove``)."""


class Portfolio:
    """The positions of one desk and everything that changes them.

    Args:
        settings: the desk's settings (limits by default, the breaker's settings).
        bus: where state changes and alerts are published.
        secrets: resolves the secret references of specs; removal deletes stored ones.
        ledger: where health samples are counted (``Ledger.record_health``).
        autostart: whether positions picked up from the store start at once.
    """

    def __init__(
        self,
        settings: Settings,
        bus: EventBus,
        secrets: SecretStore,
        ledger: Ledger,
        *,
        autostart: bool,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.secrets = secrets
        self.ledger = ledger
        self.autostart = autostart
        self.positions: dict[str, Position] = {}
        self.guards: dict[str, Guard] = {}
        self.lock = asyncio.Lock()
        """Held while the portfolio (positions and their stored rows) changes."""
        self.background: set[asyncio.Task[Any]] = set()
        """State writes started from the request path (awaited when the desk closes)."""
        self.health = HealthMonitor(self)
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        """The open store; ``DeskError`` before the desk opened."""
        if self._store is None:
            raise DeskError("the desk is not open")
        return self._store

    def attach(self, store: Store, records: list[EndpointRecord]) -> None:
        """Take the open store and the positions stored in it (when the desk opens)."""
        self._store = store
        for rec in records:
            pos = Position(rec.spec, rec.state, rec.state_reason, rec.state_until)
            self.positions[rec.spec.name] = pos

    # ------------------------------------------------------------------ lookup

    def views(self) -> list[EndpointView]:
        """Every endpoint as the front ends see it."""
        return [p.view() for p in self.positions.values()]

    def position(self, name: str) -> Position:
        """The position named ``name`` (or its slug).

        Raises:
            NotFound: no such endpoint (the message lists the known ones).
        """
        pos = self.positions.get(name) or self.positions.get(slugify(name))
        if pos is None:
            known = ", ".join(sorted(self.positions)) or "none yet (desk add URL)"
            raise NotFound(f"no endpoint named {name!r}; endpoints: {known}")
        return pos

    def guard(self, pos: Position) -> Guard:
        """The position's guard (rate and concurrency limits, budget, breaker)."""
        guard = self.guards.get(pos.name)
        if guard is None:
            guard = self.guards[pos.name] = Guard(self.settings.breaker)
        return guard

    # ------------------------------------------------------------------ changes

    async def add(self, spec: EndpointSpec, *, proof: Proof | None, start: bool) -> EndpointView:
        """Add an endpoint: run ``proof`` (a live call) unless ``None``, save it, and
        switch it ON (unless ``start=False``).

        Raises:
            Duplicate: the name is taken.
            DeskError: the proof failed; nothing is saved.
        """
        if spec.name in self.positions:
            raise Duplicate(f"an endpoint named {spec.name!r} already exists")
        # the desk's [defaults] fill every limit the endpoint does not set itself
        own = spec.limits
        limits = self.settings.defaults.model_copy(
            update={k: getattr(own, k) for k in own.model_fields_set}
        )
        spec = spec.model_copy(update={"limits": limits})
        pos = Position(spec, EndpointState.OFF)
        if proof is not None:
            await proof(pos)
        state = EndpointState.ON if start and pos.opened else EndpointState.OFF
        if not start:
            pos.spec = pos.spec.model_copy(update={"enabled": False})
        spec = pos.spec
        async with self.lock:
            await self.store.add_endpoint(spec, state=state)
            pos.state = state
            self.positions[spec.name] = pos
        self.publish_state(pos)
        if start and not pos.opened:
            await self.start_position(pos)
        elif not start:
            await self.close_adapter(pos)
        return pos.view()

    async def update(self, name: str, **changes: Any) -> EndpointView:
        """Change an endpoint's configuration (validated); restarts its adapter."""
        pos = self.position(name)
        if "name" in changes and slugify(str(changes["name"])) != pos.name:
            raise BadRequest("an endpoint cannot be renamed; add a new one instead")
        try:
            data = pos.spec.model_dump()
            data.update(changes)
            spec = EndpointSpec.model_validate(data)
        except ValueError as exc:
            raise ConfigError(f"invalid change to {name!r}: {exc}") from exc
        async with self.lock:
            await self.store.update_endpoint(spec)
            pos.spec = spec
        if pos.opened:
            await self.close_adapter(pos)
            if pos.state.serving:
                await self.start_position(pos)
        self.publish_state(pos)
        return pos.view()

    async def remove(self, name: str) -> None:
        """Close, delete from the store, and delete every secret the endpoint's spec
        refers to (in any field: ``engine/credentials.py``) that no other endpoint
        still uses."""
        pos = self.position(name)
        await self.close_adapter(pos)
        async with self.lock:
            await self.store.delete_endpoint(pos.name)
            self.positions.pop(pos.name, None)
            shared = {ref for p in self.positions.values() for ref in stored_refs(p.spec)}
        for ref in sorted(stored_refs(pos.spec) - shared):
            with contextlib.suppress(DeskError):
                self.secrets.delete(ref)
        self.guards.pop(pos.name, None)
        self.bus.publish(EndpointChanged(pos.name, "removed", removed=True))

    async def start(self, name: str) -> EndpointView:
        """A person switches an endpoint ON."""
        pos = self.position(name)
        if not pos.spec.enabled:
            async with self.lock:
                pos.spec = pos.spec.model_copy(update={"enabled": True})
                await self.store.update_endpoint(pos.spec)
        self.guard(pos).breaker.reset()
        await self.start_position(pos)
        return pos.view()

    async def stop(self, name: str) -> EndpointView:
        """A person switches an endpoint OFF; it stays OFF until a person starts it."""
        pos = self.position(name)
        if pos.spec.enabled:
            async with self.lock:
                pos.spec = pos.spec.model_copy(update={"enabled": False})
                await self.store.update_endpoint(pos.spec)
        await self.close_adapter(pos)
        await self.set_state(pos, EndpointState.OFF, "switched off")
        return pos.view()

    async def probe(self, name: str, deep: bool = False) -> ProbeResult:
        """Probe one endpoint now (opening its adapter when needed)."""
        pos = self.position(name)
        adapter = await self.open_adapter(pos)
        return await adapter.probe(deep=deep)

    # ------------------------------------------------------------------ adapters

    async def start_position(self, pos: Position) -> None:
        """Open the adapter and switch ON; a failure trips the position (to be retried
        by the health loop) or, when a person must act, marks it ``error``."""
        await self.set_state(pos, EndpointState.STARTING, "")
        try:
            await self.open_adapter(pos)
        except DeskError as exc:
            if exc.retryable and not isinstance(exc, AuthFailed):
                # Down for now (connection refused, browser crashed): the health loop
                # retries it with backoff and brings it back.
                wait = self.guard(pos).breaker.next_cooldown()
                reason = f"cannot open: {exc.one_line()}"
                await self.set_state(pos, EndpointState.TRIPPED, reason, time.time() + wait)
                self.bus.publish(Alert("warning", pos.name, "Tripped", reason, {"cooldown": wait}))
                return
            await self.set_state(pos, EndpointState.ERROR, exc.one_line())
            self.bus.publish(Alert("error", pos.name, exc.title, exc.one_line()))
            return
        await self.set_state(pos, EndpointState.ON, "")

    async def open_adapter(self, pos: Position) -> Adapter:
        """The position's open adapter (opened now when it is not)."""
        if pos.adapter is not None and pos.opened:
            return pos.adapter
        adapter = create_adapter(pos.spec, self.secrets.resolve)
        try:
            await adapter.open()
        except DeskError:
            raise
        except Exception as exc:
            raise UpstreamError(f"{pos.name}: cannot open adapter: {exc}") from exc
        pos.adapter = adapter
        pos.opened = True
        return adapter

    async def close_adapter(self, pos: Position) -> None:
        """Close the position's adapter, if any; never fails the caller."""
        adapter, pos.adapter, pos.opened = pos.adapter, None, False
        if adapter is not None:
            try:
                await adapter.aclose()
            except Exception as exc:  # closing must never fail the caller
                log.warning("closing %s failed: %s", pos.name, exc)

    async def close_all(self) -> None:
        """Close every adapter (the desk closes)."""
        await asyncio.gather(
            *(self.close_adapter(p) for p in self.positions.values()), return_exceptions=True
        )

    # ------------------------------------------------------------------ states

    async def set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None = None
    ) -> None:
        """Change a state: memory, store, event, and a nudge to the health loop."""
        if pos.state == state and pos.reason == reason and pos.until == until:
            return
        pos.state, pos.reason, pos.until = state, reason, until
        pos.state_since = time.time()
        if pos.name in self.positions and self._store is not None:
            await self._store.set_state(pos.name, state, reason, until)
        self.publish_state(pos)
        self.health.poke()

    def set_state_soon(
        self, pos: Position, state: EndpointState, reason: str, until: float | None = None
    ) -> None:
        """Change a state from the request path: memory and event now, the store write
        in the background (never awaited by a request)."""
        if self.positions.get(pos.name) is not pos:
            return  # not (or no longer) in the portfolio: a proof, a removed endpoint
        pos.state, pos.reason, pos.until = state, reason, until
        pos.state_since = time.time()
        self.publish_state(pos)
        self.health.poke()
        if self._store is not None:
            task = asyncio.get_running_loop().create_task(
                self._persist_state(pos.name, state, reason, until)
            )
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def _persist_state(
        self, name: str, state: EndpointState, reason: str, until: float | None
    ) -> None:
        try:
            if self._store is not None and name in self.positions:
                await self._store.set_state(name, state, reason, until)
        except DeskError as exc:
            log.warning("could not save the state of %s: %s", name, exc.one_line())

    def publish_state(self, pos: Position) -> None:
        """Tell the front ends a position's state (``EndpointChanged``)."""
        self.bus.publish(EndpointChanged(pos.name, pos.state.value, pos.reason))

    # ---- the health loop's view of the portfolio (engine/health.py HealthHost) ----

    def health_positions(self) -> list[Position]:
        """Every position (the health loop picks the ones to probe)."""
        return list(self.positions.values())

    def health_breaker(self, pos: Position) -> Breaker:
        """The position's breaker (the health loop's backoff)."""
        return self.guard(pos).breaker

    async def health_probe(self, pos: Position, deep: bool) -> ProbeResult:
        """Probe one position, opening its adapter when needed."""
        adapter = await self.open_adapter(pos)
        if not pos.spec.enabled or self.positions.get(pos.name) is not pos:
            # a person switched it off (or removed it) while it was opening
            await self.close_adapter(pos)
            raise DeskError(f"{pos.name} was switched off during its probe", endpoint=pos.name)
        return await adapter.probe(deep=deep)

    async def health_restart(self, pos: Position) -> None:
        """Restart a position's adapter (a broken connection or browser)."""
        if pos.adapter is not None and pos.opened:
            await pos.adapter.restart()
        else:
            await self.open_adapter(pos)

    async def health_set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None
    ) -> None:
        """Change a position's state for the health loop."""
        if self.positions.get(pos.name) is pos:
            await self.set_state(pos, state, reason, until)

    def health_record(self, rec: HealthRecord) -> None:
        """Queue a health sample for the store (and count it in the desk's uptime)."""
        self.ledger.record_health(rec)
