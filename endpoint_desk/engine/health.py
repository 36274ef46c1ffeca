"""The health loop: probes, recovery and alerts.

Every serving endpoint is probed on its own ``limits.health_check_interval`` plus a
random share (``Settings.health.jitter``) of it, never two probes of one endpoint at
once. The probe is cheap (``adapter.probe()``: list models, or page loads for a web
chat) unless the endpoint asks for a real one-token chat (``spec.health_probe =
"chat"``). A tripped endpoint is probed when its cooldown ends; a failing probe doubles
the cooldown (``Settings.breaker.cooldown_seconds`` up to ``max_cooldown_seconds``) and
a passing one switches it back ON. An adapter whose connection or browser broke is
restarted and probed once more before the endpoint is given up. Only the desk's own
states (on, degraded, tripped) are touched: ``off`` (a person's) and ``error`` (needs a
person) are never probed or changed.

Every probe becomes a health sample (the store's uptime), a ``HealthChecked`` event and
the position's in-memory uptime. Alerts go out on the event bus and, with
``Settings.health.webhook_url``, to a webhook (:class:`AlertWebhook`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Protocol

import aiohttp

from endpoint_desk.core.config import Settings
from endpoint_desk.core.errors import (
    AuthFailed,
    BrowserError,
    DeskError,
    ProtocolError,
    RateLimited,
    Unreachable,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import EndpointState, ProbeResult
from endpoint_desk.engine.events import Alert, EventBus, HealthChecked
from endpoint_desk.engine.guards import Breaker
from endpoint_desk.engine.position import Position
from endpoint_desk.store.records import HealthRecord

log = logging.getLogger(__name__)

_RESTART_ON = (Unreachable, BrowserError, ProtocolError)
_IDLE = 5.0


class HealthHost(Protocol):
    """What the health loop needs from the desk."""

    settings: Settings
    bus: EventBus

    def health_positions(self) -> Iterable[Position]:
        """Every position (the loop picks the ones to probe)."""

    def health_breaker(self, pos: Position) -> Breaker:
        """The position's breaker (its backoff)."""

    async def health_probe(self, pos: Position, deep: bool) -> ProbeResult:
        """Probe one position (opening its adapter if needed); raises ``DeskError``."""

    async def health_restart(self, pos: Position) -> None:
        """Restart the position's adapter (broken connection or browser)."""

    async def health_set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None
    ) -> None:
        """Change a position's state (persisted and published)."""

    def health_record(self, rec: HealthRecord) -> None:
        """Queue one health sample for the store (non-blocking)."""


@dataclass(slots=True)
class _Slot:
    due: float | None = None  # monotonic time of the next probe of a serving endpoint
    task: asyncio.Task[None] | None = None
    serving: bool = False


class HealthMonitor:
    """Runs the health loop of one desk: ``await monitor.run()`` until cancelled."""

    def __init__(self, host: HealthHost, rng: random.Random | None = None) -> None:
        self.host = host
        self._rng = rng or random.Random()
        self._slots: dict[str, _Slot] = {}
        self._wake = asyncio.Event()
        self.probes = 0

    def poke(self) -> None:
        """Re-plan now (an endpoint was added, started or changed)."""
        self._wake.set()

    async def run(self) -> None:
        """Probe what is due, sleep until the next due time or a poke; forever."""
        try:
            while True:
                self._wake.clear()
                try:
                    delay = self._tick()
                except Exception:  # a bug must not stop every probe for good
                    log.exception("health loop: planning failed")
                    delay = _IDLE
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancellation that races with the wake-up, and the loop never ends.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
        finally:
            tasks = [s.task for s in self._slots.values() if s.task and not s.task.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _tick(self) -> float:
        """Start due probes; seconds until the next one is due."""
        host = self.host
        now = time.monotonic()
        wall = time.time()
        next_due = now + _IDLE
        seen: set[str] = set()
        jitter = host.settings.health.jitter
        for pos in host.health_positions():
            name = pos.name
            seen.add(name)
            slot = self._slots.get(name)
            if slot is None:
                slot = self._slots[name] = _Slot()
            if slot.task is not None and not slot.task.done():
                continue
            state = pos.state
            interval = pos.spec.limits.health_check_interval
            due: float | None
            if state.serving and pos.spec.enabled:
                # newly serving: probe soon; unless a probe just passed and set the
                # next one a full interval away (a tripped endpoint that recovered)
                slot.serving = True
                if slot.due is None:
                    slot.due = now + interval * jitter * self._rng.random()
                due = slot.due
            elif state == EndpointState.TRIPPED and pos.spec.enabled:
                slot.serving = False
                slot.due = None
                due = now + max(0.0, (pos.until or wall) - wall)
            else:
                slot.serving = False
                slot.due = None
                continue
            if due <= now:
                slot.task = asyncio.create_task(self._guarded(pos, slot), name=f"health-{name}")
                slot.task.add_done_callback(lambda _t: self._wake.set())
            else:
                next_due = min(next_due, due)
        for gone in set(self._slots) - seen:
            slot = self._slots.pop(gone)
            if slot.task is not None and not slot.task.done():
                slot.task.cancel()
        return max(0.0, next_due - now)

    async def _probe(self, pos: Position) -> tuple[ProbeResult | None, DeskError | None]:
        deep = pos.spec.health_probe == "chat"
        timeout = pos.spec.limits.timeout_seconds
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                result = await self.host.health_probe(pos, deep)
        except TimeoutError:
            return None, UpstreamTimeout(
                f"{pos.name}: health probe got no answer in {timeout:g} s", endpoint=pos.name
            )
        except DeskError as exc:
            return None, exc
        except Exception as exc:  # an adapter bug is a failed probe, not a dead loop
            return None, UpstreamError(
                f"{pos.name}: probe failed: {type(exc).__name__}: {exc}", endpoint=pos.name
            )
        if not result.ok:
            return None, UpstreamError(
                f"{pos.name}: probe failed: {result.detail or 'not ok'}", endpoint=pos.name
            )
        if not result.latency_ms:
            result.latency_ms = (time.perf_counter() - t0) * 1000
        return result, None

    async def check(self, pos: Position) -> bool:
        """Probe one position now and act on the result; whether the probe passed."""
        slot = self._slots.setdefault(pos.name, _Slot())
        await self._check(pos, slot)
        return bool(pos.metrics.health_count) and pos.state.serving

    async def _guarded(self, pos: Position, slot: _Slot) -> None:
        """``_check`` that never ends in an exception (the loop must outlive bugs and a
        database that cannot be written)."""
        try:
            await self._check(pos, slot)
        except DeskError as exc:
            log.warning("health check of %s failed: %s", pos.name, exc.one_line())
        except Exception:
            log.exception("health check of %s failed", pos.name)

    async def _check(self, pos: Position, slot: _Slot) -> None:
        host = self.host
        state0 = pos.state
        t0 = time.perf_counter()
        result, error = await self._probe(pos)
        if isinstance(error, _RESTART_ON) and pos.state == state0:
            try:
                await host.health_restart(pos)
            except DeskError as exc:
                log.info("restarting %s failed: %s", pos.name, exc.one_line())
            except Exception as exc:
                log.warning("restarting %s failed: %s", pos.name, exc)
            else:
                result, error = await self._probe(pos)
        self.probes += 1
        latency = result.latency_ms if result else (time.perf_counter() - t0) * 1000
        ok = error is None
        detail = "ok" if ok else error.one_line() if error else ""
        ts = time.time()
        pos.metrics.record_health(ok, ts)
        host.health_record(
            HealthRecord(
                ts=ts,
                endpoint=pos.name,
                ok=ok,
                latency_ms=latency,
                error_kind=error.kind if error else None,
                detail=detail[:500],
            )
        )
        host.bus.publish(HealthChecked(pos.name, ok, latency, detail))
        interval = pos.spec.limits.health_check_interval
        slot.due = time.monotonic() + interval * (
            1 + host.settings.health.jitter * self._rng.random()
        )
        # A person (or a request) changed the state meanwhile: their word stands.
        if pos.state != state0 or not pos.spec.enabled:
            return
        await self._apply(pos, state0, error)

    async def _apply(self, pos: Position, state0: EndpointState, error: DeskError | None) -> None:
        host = self.host
        breaker = host.health_breaker(pos)
        if error is None:
            if state0 == EndpointState.TRIPPED:
                breaker.reset()
                await host.health_set_state(pos, EndpointState.ON, "", None)
                host.bus.publish(
                    Alert("info", pos.name, "Recovered", f"{pos.name} passed its probe; back ON")
                )
            return
        if isinstance(error, AuthFailed):
            await host.health_set_state(pos, EndpointState.ERROR, error.one_line(), None)
            host.bus.publish(Alert("error", pos.name, error.title, error.one_line()))
            return
        if isinstance(error, RateLimited):
            wait = error.retry_after or host.settings.breaker.cooldown_seconds
            wait = min(wait, host.settings.breaker.max_cooldown_seconds)
            reason = f"rate limited by the upstream; retry in {wait:g} s"
        else:
            wait = breaker.next_cooldown()
            reason = f"health probe failed: {error.one_line()}"
        await host.health_set_state(pos, EndpointState.TRIPPED, reason, time.time() + wait)
        if state0 != EndpointState.TRIPPED:
            host.bus.publish(
                Alert(
                    "warning",
                    pos.name,
                    "Tripped",
                    f"{pos.name} taken out for {wait:g} s: {reason}",
                    {"cooldown": wait},
                )
            )


class AlertWebhook:
    """POSTs every ``Alert`` event as JSON to a URL, one at a time, off the request path.

    A slow or dead webhook loses alerts (the subscription queue is bounded and each POST
    has a timeout), never the engine's time.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.sent = 0
        self.failed = 0

    async def run(self, bus: EventBus) -> None:
        """Forward alerts from ``bus`` until it closes or the task is cancelled."""
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async for event in bus.subscribe():
                if isinstance(event, Alert):
                    await self._post(session, event)

    async def _post(self, session: aiohttp.ClientSession, alert: Alert) -> None:
        body = {"type": "alert", **asdict(alert)}
        try:
            async with session.post(self.url, json=body) as resp:
                await resp.read()
                if resp.status >= 400:
                    raise aiohttp.ClientResponseError(
                        resp.request_info, (), status=resp.status, message=resp.reason or ""
                    )
            self.sent += 1
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.failed += 1
            log.info("alert webhook %s failed: %s", self.url, exc)
