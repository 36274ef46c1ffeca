"""Unit tests of the health loop with a fake host (short intervals, waits on conditions)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from endpoint_desk.core.config import BreakerSettings, HealthSettings, Settings
from endpoint_desk.core.errors import AuthFailed, DeskError, Unreachable, UpstreamError
from endpoint_desk.core.models import EndpointKind, EndpointSpec, EndpointState, ProbeResult
from endpoint_desk.engine.events import Alert, EventBus, HealthChecked
from endpoint_desk.engine.guards import Breaker
from endpoint_desk.engine.health import AlertWebhook, HealthMonitor
from endpoint_desk.engine.position import Position
from endpoint_desk.store.records import HealthRecord


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for ``cond`` (polling the loop), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def pos(name: str, state: EndpointState = EndpointState.ON, interval: float = 0.05) -> Position:
    spec = EndpointSpec(
        name=name,
        kind=EndpointKind.OPENAI,
        base_url="http://127.0.0.1:9/v1",
        limits={"health_check_interval": interval, "timeout_seconds": 1.0},  # type: ignore[arg-type]
    )
    return Position(spec, state)


class FakeHost:
    """Probes answer by a per-position script; records everything."""

    def __init__(self, *positions: Position) -> None:
        self.settings = Settings(
            breaker=BreakerSettings(cooldown_seconds=0.05, max_cooldown_seconds=0.2),
            health=HealthSettings(jitter=0.1),
        )
        self.bus = EventBus()
        self.positions = {p.name: p for p in positions}
        self.breakers = {p.name: Breaker(self.settings.breaker) for p in positions}
        self.fail: dict[str, DeskError | None] = {}
        self.probe_delay = 0.0
        self.running: dict[str, int] = {}
        self.overlaps = 0
        self.probed: list[tuple[str, bool]] = []
        self.restarts: list[str] = []
        self.samples: list[HealthRecord] = []
        self.states: list[tuple[str, EndpointState, float | None]] = []
        self.on_probe: Callable[[Position], Awaitable[None]] | None = None

    def health_positions(self) -> Iterable[Position]:
        return list(self.positions.values())

    def health_breaker(self, pos: Position) -> Breaker:
        return self.breakers[pos.name]

    async def health_probe(self, pos: Position, deep: bool) -> ProbeResult:
        self.running[pos.name] = self.running.get(pos.name, 0) + 1
        if self.running[pos.name] > 1:
            self.overlaps += 1
        try:
            self.probed.append((pos.name, deep))
            if self.on_probe is not None:
                await self.on_probe(pos)
            await asyncio.sleep(self.probe_delay)
            err = self.fail.get(pos.name)
            if err is not None:
                raise err
            return ProbeResult(ok=True, latency_ms=1.0)
        finally:
            self.running[pos.name] -= 1

    async def health_restart(self, pos: Position) -> None:
        self.restarts.append(pos.name)

    async def health_set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None
    ) -> None:
        pos.state, pos.reason, pos.until = state, reason, until
        self.states.append((pos.name, state, None if until is None else until - time.time()))

    def health_record(self, rec: HealthRecord) -> None:
        self.samples.append(rec)


async def running(host: FakeHost) -> asyncio.Task[None]:
    monitor = HealthMonitor(host, rng=random.Random(1))
    return asyncio.create_task(monitor.run())


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_probes_on_interval_never_overlapping_and_records_samples() -> None:
    a, off, err = pos("a"), pos("off", EndpointState.OFF), pos("err", EndpointState.ERROR)
    host = FakeHost(a, off, err)
    host.probe_delay = 0.08  # longer than the interval: must still never overlap
    events: list[Any] = []

    async def listen() -> None:
        async for e in host.bus.subscribe():
            events.append(e)

    listener = asyncio.create_task(listen())
    task = await running(host)
    try:
        await until(lambda: len(host.samples) >= 5)
    finally:
        await stop(task)
        listener.cancel()
    assert host.overlaps == 0
    assert {name for name, _ in host.probed} == {"a"}  # OFF and ERROR are never probed
    assert all(not deep for _, deep in host.probed)
    assert all(s.ok and s.endpoint == "a" for s in host.samples)
    assert a.metrics.uptime == 1.0
    assert any(isinstance(e, HealthChecked) and e.name == "a" for e in events)
    assert off.state == EndpointState.OFF and err.state == EndpointState.ERROR


async def test_deep_probe_per_endpoint() -> None:
    a = pos("a")
    a.spec = a.spec.model_copy(update={"health_probe": "chat"})
    host = FakeHost(a)
    task = await running(host)
    try:
        await until(lambda: len(host.probed) >= 1)
    finally:
        await stop(task)
    assert host.probed[0] == ("a", True)


async def test_failing_probe_trips_backs_off_and_recovers() -> None:
    a = pos("a")
    host = FakeHost(a)
    host.fail["a"] = Unreachable("connection refused")
    alerts: list[Alert] = []

    async def listen() -> None:
        async for e in host.bus.subscribe():
            if isinstance(e, Alert):
                alerts.append(e)

    listener = asyncio.create_task(listen())
    task = await running(host)
    try:
        await until(lambda: sum(1 for s in host.states if s[1] == EndpointState.TRIPPED) >= 3)
        # backoff: each failed probe of the tripped endpoint waits longer (capped)
        waits = [w for _, st, w in host.states if st == EndpointState.TRIPPED]
        assert [round(w or 0, 2) for w in waits[:3]] == [0.05, 0.1, 0.2]
        assert "a" in host.restarts  # a broken connection gets a restart first
        host.fail["a"] = None
        await until(lambda: a.state == EndpointState.ON)
        await until(lambda: any(al.title == "Recovered" for al in alerts))
    finally:
        await stop(task)
        listener.cancel()
    assert host.breakers["a"].trips == 0
    assert [al.title for al in alerts].count("Tripped") == 1
    assert not host.samples[0].ok and host.samples[-1].ok
    assert a.metrics.uptime is not None and 0 < a.metrics.uptime < 1


async def test_auth_failure_needs_a_person() -> None:
    a = pos("a")
    host = FakeHost(a)
    host.fail["a"] = AuthFailed("401 invalid key")
    task = await running(host)
    try:
        await until(lambda: a.state == EndpointState.ERROR)
        n = len(host.probed)
        await asyncio.sleep(0.2)  # several intervals: an ERROR endpoint is left alone
    finally:
        await stop(task)
    assert len(host.probed) == n


async def test_a_person_switching_off_during_a_probe_wins() -> None:
    a = pos("a", EndpointState.TRIPPED)
    a.until = time.time()
    host = FakeHost(a)

    async def person_stops(p: Position) -> None:
        p.state = EndpointState.OFF
        p.spec = p.spec.model_copy(update={"enabled": False})

    host.on_probe = person_stops
    task = await running(host)
    try:
        await until(lambda: len(host.samples) >= 1)
        await asyncio.sleep(0.15)
    finally:
        await stop(task)
    assert a.state == EndpointState.OFF
    assert host.states == []  # the desk changed nothing
    assert len(host.probed) == 1


async def test_webhook_gets_alerts_as_json() -> None:
    got: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    bus = EventBus()
    webhook = AlertWebhook(f"http://127.0.0.1:{port}/hook", timeout=2.0)
    task = asyncio.create_task(webhook.run(bus))
    try:
        await until(lambda: bus.subscriber_count == 1)
        bus.publish(HealthChecked("a", True, 1.0))  # not an alert: not sent
        bus.publish(Alert("warning", "a", "Tripped", "a taken out", {"cooldown": 1.0}))
        await until(lambda: webhook.sent == 1)
    finally:
        await stop(task)
        await runner.cleanup()
    assert got[0]["type"] == "alert" and got[0]["title"] == "Tripped"
    assert got[0]["name"] == "a" and got[0]["data"] == {"cooldown": 1.0}
    assert webhook.sent == 1


async def test_dead_webhook_never_blocks() -> None:
    bus = EventBus()
    webhook = AlertWebhook("http://127.0.0.1:9/nothing", timeout=0.5)
    task = asyncio.create_task(webhook.run(bus))
    try:
        await until(lambda: bus.subscriber_count == 1)
        for i in range(3):
            bus.publish(Alert("error", "a", "Error", f"n{i}"))
        # publishing is synchronous and sends nothing itself: the webhook task does it
        assert webhook.failed == 0 and webhook.sent == 0
        await until(lambda: webhook.failed == 3)
    finally:
        await stop(task)


async def test_a_recovered_endpoint_waits_a_full_interval_for_its_next_probe() -> None:
    a = pos("a", interval=30.0)
    host = FakeHost(a)
    host.fail["a"] = UpstreamError("503")
    monitor = HealthMonitor(host, rng=random.Random(1))
    task = asyncio.create_task(monitor.run())
    try:
        await until(lambda: a.state == EndpointState.TRIPPED)
        host.fail["a"] = None
        await until(lambda: a.state == EndpointState.ON)
        probes = len(host.probed)
        monitor.poke()  # the loop plans again, as it does after any state change
        await until(lambda: not monitor._wake.is_set())
        due = monitor._slots["a"].due
        assert due is not None and due - time.monotonic() > 25.0  # not at once again
        assert len(host.probed) == probes
    finally:
        await stop(task)
