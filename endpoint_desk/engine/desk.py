"""The desk: the portfolio of positions, their lifecycle, and request execution.

``Desk`` is the one object every front end drives (CLI, TUI, server, Python)::

    async with Desk() as desk:
        await desk.add(EndpointSpec(name="sim", kind="openai", base_url=url))
        result = await desk.chat(ChatRequest.from_text("hello"))
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import replace
from typing import Any

from endpoint_desk.adapters.base import Adapter, close_shared_resources, create_adapter
from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    BudgetExceeded,
    ConfigError,
    DeskError,
    Duplicate,
    NoEndpointAvailable,
    NotFound,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import (
    Attempt,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EndpointKind,
    EndpointSpec,
    EndpointState,
    ProbeResult,
    Usage,
    slugify,
)
from endpoint_desk.core.paths import Paths, get_paths
from endpoint_desk.engine.cache import ReplyCache, cache_key, wants_cache
from endpoint_desk.engine.cost import cost_of, estimate_tokens
from endpoint_desk.engine.events import (
    Alert,
    EndpointChanged,
    Event,
    EventBus,
    RequestDone,
)
from endpoint_desk.engine.guards import Breaker, DeskBudget, Guard, wait_any_free
from endpoint_desk.engine.health import AlertWebhook, HealthMonitor
from endpoint_desk.engine.logs import setup_logging
from endpoint_desk.engine.metrics import EndpointMetrics, day_start
from endpoint_desk.engine.position import EndpointView, Position
from endpoint_desk.engine.router import Router
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import AlertRecord, HealthRecord, RequestRecord
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import SecretStore

log = logging.getLogger(__name__)

_RID_PREFIX = "chatcmpl-" + secrets.token_hex(6)
_rid_counter = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))


def _request_id() -> str:
    """A request id shaped like ``new_id()`` (``chatcmpl-`` and 24 hex digits), far
    cheaper than a uuid4 per attempt: a random per-process prefix and a counter. Ids of
    one process sort in issue order, so the request log's primary key grows at its end."""
    return f"{_RID_PREFIX}{next(_rid_counter) & 0xFFFFFFFFFFFF:012x}"


class ChatStream:
    """A request being served: iterate it for chunks; afterwards ``result`` holds the
    standardized result. ``endpoint`` names the serving endpoint once the first chunk
    arrived (failover happens only before that)."""

    def __init__(self, desk: Desk, request: ChatRequest, pinned: str | None) -> None:
        self._desk = desk
        self._request = request
        self._pinned = pinned
        self.result: ChatResult | None = None
        self.endpoint: str | None = None
        self._gen: AsyncIterator[ChatChunk] | None = None

    def __aiter__(self) -> AsyncIterator[ChatChunk]:
        if self._gen is None:
            self._gen = self._desk._serve(self._request, self, self._pinned)
        return self._gen

    async def aclose(self) -> None:
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]

    async def collect(self) -> ChatResult:
        async for _ in self:
            pass
        assert self.result is not None
        return self.result


class Desk:
    """The engine. Owns its background tasks; runs with or without a UI.

    Args:
        settings: typed settings; default: loaded from file and environment.
        autostart: open the adapters of enabled endpoints on ``open()`` and run the
            background loops (``desk serve`` and the TUI); one-shot CLI commands pass
            ``False`` and touch only what they need.
    """

    def __init__(self, settings: Settings | None = None, *, autostart: bool = True) -> None:
        self.settings = settings or load_settings()
        self.paths: Paths = get_paths()
        self.autostart = autostart
        self.bus = EventBus()
        self.router = Router(self.settings.routing)
        self.totals = EndpointMetrics(window=2048)
        self.guards: dict[str, Guard] = {}
        self.desk_budget = DeskBudget(self.settings.budget.daily_desk_budget)
        self.cache = ReplyCache(self.settings.cache.ttl_seconds, self.settings.cache.max_entries)
        self.health = HealthMonitor(self)
        self._budget_alerts: set[tuple[str, float]] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._positions: dict[str, Position] = {}
        self._store: Store | None = None
        self._recorder: Recorder | None = None
        self.secrets = SecretStore(self.paths)
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._opened = False
        self._lock = asyncio.Lock()
        """Held while the portfolio (positions and their stored rows) changes."""
        self._seen_specs: dict[str, str] = {}
        """The stored spec JSON of each endpoint as the portfolio sync last saw it."""

    # ------------------------------------------------------------------ lifecycle

    @property
    def store(self) -> Store:
        if self._store is None:
            raise DeskError("the desk is not open")
        return self._store

    async def open(self) -> Desk:
        if self._opened:
            return self
        setup_logging(self.settings, self.paths, self.secrets)
        self.paths.ensure()
        self._store = await Store.open(self.settings.store, self.paths)
        self._recorder = Recorder(
            self._store,
            flush_interval=self.settings.store.flush_interval,
            batch_size=self.settings.store.batch_size,
        )
        for rec in await self._store.list_endpoints():
            pos = Position(rec.spec, rec.state, rec.state_reason, rec.state_until)
            self._positions[rec.spec.name] = pos
        try:
            await self._seed_metrics()
        except DeskError as exc:  # metrics are a nicety; the desk must open
            log.warning("could not read stored metrics: %s", exc.one_line())
        self._opened = True
        from endpoint_desk.engine.api import install_web_chat_repair

        self._remove_repair = install_web_chat_repair(self)
        self._alerts_waiting: list[AlertRecord] = []
        self._alerts_wake = asyncio.Event()
        self.bus.listen(Alert, self._keep_alert)
        self._runner = asyncio.create_task(self._run(), name="desk-runner")
        if self.autostart:
            await asyncio.gather(
                *(self._start_position(p) for p in self._positions.values() if p.spec.enabled),
                return_exceptions=True,
            )
        return self

    async def _run(self) -> None:
        """Background loops, in one task group."""
        assert self._recorder is not None
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._recorder.run(), name="desk-recorder")
            for loop in self._background_loops():
                tg.create_task(loop)
            await self._stopping.wait()
            raise _Stop

    def _keep_alert(self, event: Event) -> None:
        assert isinstance(event, Alert)
        self._alerts_waiting.append(
            AlertRecord(event.ts, event.name, event.level, event.title, event.message)
        )
        self._alerts_wake.set()

    async def _alert_writer(self) -> None:
        """Store every alert (rare: one write each, off the request path)."""
        try:
            while True:
                await self._alerts_wake.wait()
                self._alerts_wake.clear()
                await self._write_alerts()
        finally:
            await self._write_alerts()

    async def _write_alerts(self) -> None:
        while self._alerts_waiting and self._store is not None:
            alert = self._alerts_waiting.pop(0)
            try:
                await self._store.add_alert(alert)
            except DeskError as exc:
                log.warning("could not store an alert: %s", exc.one_line())

    async def alert_history(self, name: str | None = None, limit: int = 50) -> list[AlertRecord]:
        """The newest stored alerts (of one endpoint when named), oldest first."""
        await self._write_alerts()
        return await self.store.alerts(name, limit)

    def _background_loops(self) -> list[Any]:
        """Coroutines run beside the recorder while the desk is open: the alert writer,
        the health loop (with ``autostart`` and ``health.enabled``), the alert webhook
        and the portfolio sync."""
        loops: list[Any] = [self._alert_writer()]
        if self.autostart and self.settings.health.enabled:
            loops.append(self.health.run())
        if self.settings.health.webhook_url:
            loops.append(AlertWebhook(self.settings.health.webhook_url).run(self.bus))
        if self.autostart and self.settings.store.sync_interval > 0:
            loops.append(self._sync_loop(self.settings.store.sync_interval))
        return loops

    async def _sync_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sync_portfolio()
            except DeskError as exc:
                log.warning("could not read the portfolio back: %s", exc.one_line())
            except Exception:  # a bug must not stop the desk
                log.warning("portfolio sync failed", exc_info=True)

    async def sync_portfolio(self) -> list[str]:
        """Pick up what another desk process (``desk add``, ``rm``, ``start``, ``stop``
        in another terminal) changed in the stored portfolio: new endpoints join (and
        start when enabled), removed ones leave, changed ones take their new
        configuration, switched ON or OFF as stored. Runs every
        ``store.sync_interval`` seconds in ``desk serve`` and the TUI.

        Returns:
            The names of the endpoints that changed here.
        """
        changed: list[str] = []
        to_start: list[Position] = []
        async with self._lock:
            stored = await self.store.endpoint_specs()
            for name in [n for n in self._positions if n not in stored]:
                pos = self._positions.pop(name)
                self._seen_specs.pop(name, None)
                self.guards.pop(name, None)
                await self._close_adapter(pos)
                self.bus.publish(EndpointChanged(name, "removed", removed=True))
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
                known = self._positions.get(name)
                if known is None:
                    rec = await self.store.get_endpoint(name)
                    new = Position(spec, rec.state, rec.state_reason, rec.state_until)
                    self._positions[name] = new
                    self._publish_state(new)
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
                    await self._close_adapter(pos)
                    await self._set_state(pos, EndpointState.OFF, "switched off")
                elif spec.enabled and (not was_enabled or pos.opened):
                    await self._close_adapter(pos)
                    self._guard(pos).breaker.reset()
                    to_start.append(pos)
                else:
                    self._publish_state(pos)
        if self.autostart and to_start:
            await asyncio.gather(*(self._start_position(p) for p in to_start))
        if changed:
            log.info("picked up portfolio changes from another desk: %s", ", ".join(changed))
        return changed

    async def _seed_metrics(self) -> None:
        """Seed every position's metrics from the store, cheaply: one aggregate over the
        per-minute rollups (totals, spend today), the newest requests (success rate,
        latency) and the last day's health samples (uptime) per endpoint."""
        from sqlalchemy import case, func, select

        from endpoint_desk.store.tables import ROLLUPS

        store = self.store
        today_minute = int(day_start() // 60)
        r = ROLLUPS.c
        q = select(
            r.endpoint,
            func.sum(r.requests),
            func.sum(r.errors),
            func.sum(r.input_tokens),
            func.sum(r.output_tokens),
            func.sum(r.cost),
            func.sum(case((r.minute >= today_minute, r.cost), else_=0.0)),
        ).group_by(r.endpoint)
        try:
            async with store.engine.connect() as conn:
                rows = (await conn.execute(q)).all()
        except Exception as exc:
            raise DeskError(f"cannot read rollups: {exc}") from exc
        now = time.time()
        for name, requests, errors, tin, tout, cost, cost_today in rows:
            for m in (self.totals, *([p.metrics] if (p := self._positions.get(name)) else [])):
                m.requests += int(requests or 0)
                m.errors += int(errors or 0)
                m.input_tokens += int(tin or 0)
                m.output_tokens += int(tout or 0)
                m.add_cost(float(cost_today or 0.0), now)
                m.add_cost(float((cost or 0.0) - (cost_today or 0.0)), 0.0)

        async def one(pos: Position) -> None:
            recent = await store.recent_requests(pos.name, limit=pos.metrics.window.maxlen or 256)
            pos.metrics.seed_window(
                [(x.ts, x.ok, x.latency_ms, x.ttft_ms) for x in reversed(recent) if not x.cached],
                0,
                0,
            )
            for h in await store.health_samples(pos.name, since=now - 86400, limit=5000):
                pos.metrics.record_health(h.ok, h.ts)
                self.totals.record_health(h.ok, h.ts)

        await asyncio.gather(*(one(p) for p in self._positions.values()))

    async def close(self) -> None:
        """Stop loops, close adapters, flush pending writes, close the store."""
        if not self._opened:
            return
        self._opened = False
        self._stopping.set()
        if getattr(self, "_remove_repair", None) is not None:
            self._remove_repair()
        if self._runner is not None:
            with contextlib.suppress(_Stop, asyncio.CancelledError, BaseExceptionGroup):
                await self._runner
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.gather(
            *(self._close_adapter(p) for p in self._positions.values()), return_exceptions=True
        )
        if self._recorder is not None:
            await self._recorder.aclose()
        await close_shared_resources()
        if self._store is not None:
            await self._store.close()
        self.bus.close()

    async def __aenter__(self) -> Desk:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ portfolio

    def endpoints(self) -> list[EndpointView]:
        return [p.view() for p in self._positions.values()]

    def endpoint(self, name: str) -> EndpointView:
        return self._position(name).view()

    def _position(self, name: str) -> Position:
        pos = self._positions.get(name) or self._positions.get(slugify(name))
        if pos is None:
            known = ", ".join(sorted(self._positions)) or "none yet (desk add URL)"
            raise NotFound(f"no endpoint named {name!r}; endpoints: {known}")
        return pos

    def events(self) -> AsyncIterator[Event]:
        return self.bus.subscribe()

    async def add(
        self,
        spec: EndpointSpec,
        *,
        prove: bool = True,
        start: bool = True,
    ) -> EndpointView:
        """Add an endpoint: prove it with a live call (unless ``prove=False``), save it,
        and switch it ON (unless ``start=False``).

        Raises:
            Duplicate: the name is taken.
            DeskError: the proof failed; nothing is saved.
        """
        if spec.name in self._positions:
            raise Duplicate(f"an endpoint named {spec.name!r} already exists")
        if "limits" not in spec.model_fields_set:
            # an endpoint that sets no limits gets the desk's [defaults]
            spec = spec.model_copy(update={"limits": self.settings.defaults.model_copy()})
        pos = Position(spec, EndpointState.OFF)
        if prove:
            await self._prove(pos)
        state = EndpointState.ON if start and pos.opened else EndpointState.OFF
        if not start:
            pos.spec = pos.spec.model_copy(update={"enabled": False})
        spec = pos.spec
        async with self._lock:
            await self.store.add_endpoint(spec, state=state)
            pos.state = state
            self._positions[spec.name] = pos
        self._publish_state(pos)
        if start and not pos.opened:
            await self._start_position(pos)
        elif not start:
            await self._close_adapter(pos)
        return pos.view()

    async def _prove(self, pos: Position) -> None:
        """Open the adapter, list models if it can, and make one real chat call."""
        adapter = await self._open_adapter(pos)
        try:
            if adapter.capabilities.list_models:
                models = await adapter.list_models()
                if models and not pos.spec.models:
                    pos.spec = pos.spec.model_copy(update={"models": models[:200]})
            model = pos.spec.upstream_model(None) or ""
            request = ChatRequest.from_text("Reply with the word OK.", model=model, max_tokens=8)
            request.stream = True
            async with contextlib.aclosing(self._attempt(pos, request, model)) as chunks:
                async for _ in chunks:
                    pass
        except BaseException:
            await self._close_adapter(pos)
            raise

    async def update(self, name: str, **changes: Any) -> EndpointView:
        """Change an endpoint's configuration (validated); restarts its adapter."""
        pos = self._position(name)
        if "name" in changes and slugify(str(changes["name"])) != pos.name:
            raise BadRequest("an endpoint cannot be renamed; add a new one instead")
        try:
            data = pos.spec.model_dump()
            data.update(changes)
            spec = EndpointSpec.model_validate(data)
        except ValueError as exc:
            raise ConfigError(f"invalid change to {name!r}: {exc}") from exc
        async with self._lock:
            await self.store.update_endpoint(spec)
            pos.spec = spec
        if pos.opened:
            await self._close_adapter(pos)
            if pos.state.serving:
                await self._start_position(pos)
        self._publish_state(pos)
        return pos.view()

    async def remove(self, name: str) -> None:
        pos = self._position(name)
        await self._close_adapter(pos)
        async with self._lock:
            await self.store.delete_endpoint(pos.name)
            self._positions.pop(pos.name, None)
        for ref in (pos.spec.api_key, pos.spec.password, pos.spec.username):
            if ref and ref.startswith(("file:", "keyring:")):
                with contextlib.suppress(DeskError):
                    self.secrets.delete(ref)
        self.guards.pop(pos.name, None)
        self.bus.publish(EndpointChanged(pos.name, "removed", removed=True))

    async def start(self, name: str) -> EndpointView:
        """A person switches an endpoint ON."""
        pos = self._position(name)
        if not pos.spec.enabled:
            async with self._lock:
                pos.spec = pos.spec.model_copy(update={"enabled": True})
                await self.store.update_endpoint(pos.spec)
        self._guard(pos).breaker.reset()
        await self._start_position(pos)
        return pos.view()

    async def stop(self, name: str) -> EndpointView:
        """A person switches an endpoint OFF; it stays OFF until a person starts it."""
        pos = self._position(name)
        if pos.spec.enabled:
            async with self._lock:
                pos.spec = pos.spec.model_copy(update={"enabled": False})
                await self.store.update_endpoint(pos.spec)
        await self._close_adapter(pos)
        await self._set_state(pos, EndpointState.OFF, "switched off")
        return pos.view()

    async def _start_position(self, pos: Position) -> None:
        await self._set_state(pos, EndpointState.STARTING, "")
        try:
            await self._open_adapter(pos)
        except DeskError as exc:
            if exc.retryable and not isinstance(exc, AuthFailed):
                # Down for now (connection refused, browser crashed): the health loop
                # retries it with backoff and brings it back.
                wait = self._guard(pos).breaker.next_cooldown()
                reason = f"cannot open: {exc.one_line()}"
                await self._set_state(pos, EndpointState.TRIPPED, reason, time.time() + wait)
                self.bus.publish(Alert("warning", pos.name, "Tripped", reason, {"cooldown": wait}))
                return
            await self._set_state(pos, EndpointState.ERROR, exc.one_line())
            self.bus.publish(Alert("error", pos.name, exc.title, exc.one_line()))
            return
        await self._set_state(pos, EndpointState.ON, "")

    async def _open_adapter(self, pos: Position) -> Adapter:
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

    async def _close_adapter(self, pos: Position) -> None:
        adapter, pos.adapter, pos.opened = pos.adapter, None, False
        if adapter is not None:
            try:
                await adapter.aclose()
            except Exception as exc:  # closing must never fail the caller
                log.warning("closing %s failed: %s", pos.name, exc)

    async def _set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None = None
    ) -> None:
        if pos.state == state and pos.reason == reason and pos.until == until:
            return
        pos.state, pos.reason, pos.until = state, reason, until
        pos.state_since = time.time()
        if pos.name in self._positions and self._store is not None:
            await self._store.set_state(pos.name, state, reason, until)
        self._publish_state(pos)
        self.health.poke()

    def _set_state_soon(
        self, pos: Position, state: EndpointState, reason: str, until: float | None = None
    ) -> None:
        """Change a state from the request path: memory and event now, the store write
        in the background (never awaited by a request)."""
        if self._positions.get(pos.name) is not pos:
            return  # not (or no longer) in the portfolio: a proof, a removed endpoint
        pos.state, pos.reason, pos.until = state, reason, until
        pos.state_since = time.time()
        self._publish_state(pos)
        self.health.poke()
        if self._store is not None:
            task = asyncio.get_running_loop().create_task(
                self._persist_state(pos.name, state, reason, until)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _persist_state(
        self, name: str, state: EndpointState, reason: str, until: float | None
    ) -> None:
        try:
            if self._store is not None and name in self._positions:
                await self._store.set_state(name, state, reason, until)
        except DeskError as exc:
            log.warning("could not save the state of %s: %s", name, exc.one_line())

    def _guard(self, pos: Position) -> Guard:
        guard = self.guards.get(pos.name)
        if guard is None:
            guard = self.guards[pos.name] = Guard(self.settings.breaker)
        return guard

    def _judge(self, pos: Position, error: DeskError | None) -> None:
        """Feed one outcome to the position's breaker and act on its verdict."""
        guard = self._guard(pos)
        state = pos.state
        if error is None:
            guard.breaker.record(None)
            if state == EndpointState.DEGRADED:
                if guard.breaker.healthy():
                    self._set_state_soon(pos, EndpointState.ON, "")
                return
            if state == EndpointState.TRIPPED and pos.spec.enabled:
                # the fallback request to a cooling endpoint passed: it is back
                guard.breaker.reset()
                self._set_state_soon(pos, EndpointState.ON, "")
                self.bus.publish(
                    Alert("info", pos.name, "Recovered", f"{pos.name} served a request; back ON")
                )
            return
        verdict = guard.breaker.record(error)
        if verdict is None or not pos.spec.enabled or state == EndpointState.OFF:
            return
        if verdict.action == "error":
            if state != EndpointState.ERROR:
                self._set_state_soon(pos, EndpointState.ERROR, verdict.reason)
                self.bus.publish(Alert("error", pos.name, error.title, verdict.reason))
            return
        if state == EndpointState.TRIPPED or state == EndpointState.ERROR:
            return
        if verdict.action == "degrade":
            if state == EndpointState.ON:
                self._set_state_soon(pos, EndpointState.DEGRADED, verdict.reason)
                self.bus.publish(
                    Alert("warning", pos.name, "Degraded", f"{pos.name}: {verdict.reason}")
                )
            return
        until = time.time() + verdict.cooldown
        self._set_state_soon(pos, EndpointState.TRIPPED, verdict.reason, until)
        title = "Tripped" if verdict.action == "trip" else "Cooling down"
        self.bus.publish(
            Alert(
                "warning",
                pos.name,
                title,
                f"{pos.name} taken out for {verdict.cooldown:g} s: {verdict.reason}",
                {"cooldown": verdict.cooldown},
            )
        )

    def _budget_alert(self, scope: str, error: BudgetExceeded) -> None:
        """One "budget reached" alert per scope and day."""
        key = (scope, day_start())
        if key not in self._budget_alerts:
            self._budget_alerts.add(key)
            self.bus.publish(
                Alert("warning", error.endpoint, "Budget reached", error.message, {"scope": scope})
            )

    # ---- the health loop's view of the desk (engine/health.py HealthHost) -------

    def health_positions(self) -> list[Position]:
        """Every position (the health loop picks the ones to probe)."""
        return list(self._positions.values())

    def health_breaker(self, pos: Position) -> Breaker:
        """The position's breaker (the health loop's backoff)."""
        return self._guard(pos).breaker

    async def health_probe(self, pos: Position, deep: bool) -> ProbeResult:
        """Probe one position, opening its adapter when needed."""
        adapter = await self._open_adapter(pos)
        if not pos.spec.enabled or self._positions.get(pos.name) is not pos:
            # a person switched it off (or removed it) while it was opening
            await self._close_adapter(pos)
            raise DeskError(f"{pos.name} was switched off during its probe", endpoint=pos.name)
        return await adapter.probe(deep=deep)

    async def health_restart(self, pos: Position) -> None:
        """Restart a position's adapter (a broken connection or browser)."""
        if pos.adapter is not None and pos.opened:
            await pos.adapter.restart()
        else:
            await self._open_adapter(pos)

    async def health_set_state(
        self, pos: Position, state: EndpointState, reason: str, until: float | None
    ) -> None:
        """Change a position's state for the health loop."""
        if self._positions.get(pos.name) is pos:
            await self._set_state(pos, state, reason, until)

    def health_record(self, rec: HealthRecord) -> None:
        """Queue a health sample for the store (and count it in the desk's uptime)."""
        self.totals.record_health(rec.ok, rec.ts)
        if self._recorder is not None:
            self._recorder.record_health(rec)

    def _publish_state(self, pos: Position) -> None:
        self.bus.publish(EndpointChanged(pos.name, pos.state.value, pos.reason))

    # ------------------------------------------------------------------ requests

    def stream(self, request: ChatRequest, *, endpoint: str | None = None) -> ChatStream:
        """Serve ``request``; iterate the returned stream for chunks."""
        return ChatStream(self, request, endpoint)

    async def chat(self, request: ChatRequest, *, endpoint: str | None = None) -> ChatResult:
        """Serve ``request`` and return the standardized result."""
        return await self.stream(request, endpoint=endpoint).collect()

    async def test(self, name: str, message: str, model: str | None = None) -> ChatResult:
        """Send one message to one endpoint, whatever its state (a person asked)."""
        request = ChatRequest.from_text(message, model=model or "", stream=True)
        return await self.stream(request, endpoint=name).collect()

    async def probe(self, name: str, deep: bool = False) -> ProbeResult:
        pos = self._position(name)
        adapter = await self._open_adapter(pos)
        return await adapter.probe(deep=deep)

    async def _serve(
        self, request: ChatRequest, stream: ChatStream, pinned: str | None
    ) -> AsyncIterator[ChatChunk]:
        """Route, guard, fail over, cache: the request path."""
        t0 = time.perf_counter()
        refusal = self.desk_budget.check(self.totals.spend_today())
        if refusal is not None:
            self._budget_alert("desk", refusal)
            raise refusal
        if pinned is not None:
            candidates = [self._position(pinned)]
            asked = request.model
        else:
            candidates, asked = self.router.plan(request.model, self._positions)
        first = candidates[0]
        key: bytes | None = None
        if wants_cache(request, first.spec.cache):
            key = cache_key(request, pinned or "")
            hit = self.cache.get(key)
            if hit is not None:
                async for chunk in self._replay(hit, request, stream):
                    yield chunk
                return
        attempts: list[Attempt] = []
        max_tries = 1 + max(0, first.spec.limits.retry_attempts)
        deadline = time.monotonic() + first.spec.limits.timeout_seconds
        tried: set[str] = set()
        refusals: list[DeskError] = []
        last_error: DeskError | None = None
        while True:
            busy: list[Guard] = []
            refusals.clear()
            for pos in candidates:
                if len(attempts) >= max_tries:
                    break
                if pos.name in tried:
                    continue
                guard = self._guard(pos)
                refused = guard.admit(pos.name, pos.spec.limits, pos.metrics.spend_today())
                if refused is not None:
                    refusals.append(refused)
                    if isinstance(refused, Overloaded):
                        busy.append(guard)
                    elif isinstance(refused, BudgetExceeded):
                        self._budget_alert(pos.name, refused)
                    continue
                tried.add(pos.name)
                upstream_model = pos.spec.upstream_model(asked) or ""
                started = time.perf_counter()
                attempt = Attempt(endpoint=pos.name, started=time.time())
                attempts.append(attempt)
                sent_any = False
                guard.enter()
                try:
                    async with contextlib.aclosing(
                        self._attempt(pos, request, upstream_model, stream, t0, len(attempts))
                    ) as chunks:
                        async for chunk in chunks:
                            if chunk.delta:
                                sent_any = True
                            yield chunk
                    attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                    result = stream.result
                    if result is not None:
                        result.attempts = attempts
                        if key is not None and wants_cache(request, pos.spec.cache):
                            self.cache.put(key, result)
                    return
                except DeskError as exc:
                    attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                    attempt.error_kind, attempt.error = exc.kind, exc.one_line()
                    last_error = exc
                    if sent_any or pinned is not None or not _fails_over(exc):
                        raise
                finally:
                    guard.leave()
            if len(attempts) >= max_tries or not busy:
                break
            # Every candidate left is busy: wait for a free slot, up to the timeout.
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await wait_any_free(busy, remaining):
                break
        if last_error is not None:
            raise last_error
        raise _refusal(refusals, request.model)

    async def _replay(
        self, hit: ChatResult, request: ChatRequest, stream: ChatStream
    ) -> AsyncIterator[ChatChunk]:
        """Serve a cache hit: the whole reply as one chunk, then the final chunk."""
        stream.endpoint = hit.endpoint
        stream.result = hit
        pos = self._positions.get(hit.endpoint)
        usage = hit.usage
        if pos is not None:
            pos.metrics.record(True, 0.0, 0.0, usage.input_tokens, usage.output_tokens, 0.0, True)
        self.totals.record(True, 0.0, 0.0, usage.input_tokens, usage.output_tokens, 0.0, True)
        if self._recorder is not None:
            self._recorder.record_request(
                RequestRecord(
                    id=hit.id,
                    ts=time.time(),
                    endpoint=hit.endpoint,
                    model=hit.model,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    estimated=usage.estimated,
                    cached=True,
                    stream=request.stream,
                    attempts=0,
                )
            )
        self.bus.publish(
            RequestDone(
                request_id=hit.id,
                endpoint=hit.endpoint,
                model=hit.model,
                ok=True,
                latency_ms=0.0,
                ttft_ms=0.0,
                cached=True,
            )
        )
        if hit.content:
            yield ChatChunk(delta=hit.content, model=hit.model)
        yield ChatChunk(
            finish_reason=hit.finish_reason,
            usage=hit.usage,
            model=hit.model,
            session_id=hit.session_id,
        )

    async def _attempt(
        self,
        pos: Position,
        request: ChatRequest,
        upstream_model: str,
        stream: ChatStream | None = None,
        t0: float | None = None,
        attempt_no: int = 1,
    ) -> AsyncGenerator[ChatChunk, None]:
        """One try at one position: timeouts, metrics, cost, breaker, request log."""
        t0 = t0 if t0 is not None else time.perf_counter()
        adapter = pos.adapter if pos.opened and pos.adapter is not None else None
        if adapter is None:
            try:
                adapter = await self._open_adapter(pos)
            except DeskError as exc:
                self._judge(pos, exc)
                raise
        req = request if request.model == upstream_model else replace(request, model=upstream_model)
        timeout = pos.spec.limits.timeout_seconds
        ttft: float | None = None
        parts: list[str] = []
        final: ChatChunk | None = None
        session_id: str | None = None
        pos.metrics.in_flight += 1
        ok = False
        error: DeskError | None = None
        rid = _request_id()
        it = adapter.chat(req).__aiter__()
        watch = _Silence(timeout)
        try:
            while True:
                watch.resume()
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                except (TimeoutError, asyncio.CancelledError) as exc:
                    if isinstance(exc, TimeoutError) or watch.expired():
                        raise UpstreamTimeout(
                            f"{pos.name} sent nothing for {timeout:g} s", endpoint=pos.name
                        ) from exc
                    raise
                watch.pause()
                if chunk.delta:
                    if ttft is None:
                        ttft = (time.perf_counter() - t0) * 1000
                        if stream is not None:
                            stream.endpoint = pos.name
                    parts.append(chunk.delta)
                if chunk.session_id:
                    session_id = chunk.session_id
                if chunk.finish_reason is not None or chunk.usage is not None:
                    final = chunk
                yield chunk
            ok = True
        except DeskError as exc:
            error = exc
            raise
        except Exception as exc:  # an adapter bug must not take the desk down
            error = UpstreamError(f"{pos.name}: {type(exc).__name__}: {exc}", endpoint=pos.name)
            raise error from exc
        finally:
            watch.close()
            with contextlib.suppress(Exception):
                await it.aclose()  # type: ignore[attr-defined]
            pos.metrics.in_flight -= 1
            latency = (time.perf_counter() - t0) * 1000
            content = "".join(parts)
            usage = final.usage if final and final.usage else None
            if usage is None:
                usage = Usage(
                    input_tokens=estimate_tokens(request.prompt_text()),
                    output_tokens=estimate_tokens(content),
                    estimated=True,
                )
            if not ok:
                usage = usage if content else Usage()
            cost_of(usage, upstream_model, pos.spec.prices)
            self._account(
                pos, rid, request, upstream_model, ok, error, latency, ttft, usage, attempt_no
            )
            if ok and stream is not None:
                stream.endpoint = pos.name
                stream.result = ChatResult(
                    id=rid,
                    provider=pos.spec.kind.value,
                    model=(final.model if final and final.model else upstream_model),
                    content=content,
                    endpoint=pos.name,
                    finish_reason=final.finish_reason if final else "stop",
                    usage=usage,
                    session_id=session_id,
                    session_persistent=bool(session_id),
                    latency_ms=latency,
                    ttft_ms=ttft,
                    metadata=(final.metadata or {}) if final else {},
                )
            if ok or error is not None:  # a caller who went away says nothing of it
                self._judge(pos, error)

    def _account(
        self,
        pos: Position,
        rid: str,
        request: ChatRequest,
        model: str,
        ok: bool,
        error: DeskError | None,
        latency: float,
        ttft: float | None,
        usage: Usage,
        attempt_no: int = 1,
    ) -> None:
        pos.metrics.record(ok, latency, ttft, usage.input_tokens, usage.output_tokens, usage.cost)
        self.totals.record(ok, latency, ttft, usage.input_tokens, usage.output_tokens, usage.cost)
        if self._recorder is not None:
            self._recorder.record_request(
                RequestRecord(
                    id=rid,
                    ts=time.time(),
                    endpoint=pos.name,
                    model=model,
                    status="ok" if ok else "error",
                    error_kind=error.kind if error else None,
                    error=error.one_line()[:500] if error else None,
                    latency_ms=latency,
                    ttft_ms=ttft,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    cost=usage.cost,
                    estimated=usage.estimated,
                    cached=False,
                    stream=request.stream,
                    attempts=attempt_no,
                )
            )
        self.bus.publish(
            RequestDone(
                request_id=rid,
                endpoint=pos.name,
                model=model,
                ok=ok,
                latency_ms=latency,
                ttft_ms=ttft,
                error_kind=error.kind if error else None,
                error=error.one_line() if error else None,
                cost=usage.cost,
            )
        )

    # ------------------------------------------------------------------ helpers

    async def recent_requests(
        self, name: str | None = None, limit: int = 100
    ) -> list[RequestRecord]:
        """The newest stored requests (of one endpoint, or of the whole desk)."""
        return await self.store.recent_requests(name, limit=limit)

    async def health_history(self, name: str, limit: int = 200) -> list[HealthRecord]:
        """The newest stored health samples of one endpoint, oldest first."""
        return await self.store.health_samples(name, limit=limit)

    def store_secret(self, endpoint: str, field: str, value: str) -> str:
        """Store a secret value for an endpoint; returns its reference."""
        return self.secrets.put(f"{endpoint}.{field}", value)

    def kinds(self) -> list[str]:
        return [k.value for k in EndpointKind]


class _Stop(Exception):
    """Ends the runner's task group."""


class _Silence:
    """The per-chunk timeout of an attempt, cheaply: one timer for the whole attempt
    instead of an ``asyncio.timeout`` (a timer scheduled and cancelled) per chunk.

    Between ``resume()`` (awaiting the upstream) and ``pause()`` (a chunk came) the
    clock runs; the timer, when it fires, looks at how long the current wait has lasted
    and either cancels the task (``expired()`` then says so) or sleeps until the wait
    could reach ``timeout``. While paused (the consumer holds a chunk) nothing expires.
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_loop", "_since", "_task", "_timeout")

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task(self._loop)
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._timeout = timeout
        self._fired = False
        self._since: float | None = None
        self._handle = self._loop.call_at(self._loop.time() + timeout, self._check)

    def resume(self) -> None:
        """The attempt waits for the upstream again (in the task now iterating it)."""
        task = asyncio.current_task(self._loop)
        if task is not self._task and task is not None:
            self._task = task
            self._cancelling = task.cancelling()
        self._since = self._loop.time()

    def pause(self) -> None:
        """A chunk came: the clock stops while the consumer has it."""
        self._since = None

    def _check(self) -> None:
        now = self._loop.time()
        since = self._since
        if since is not None and now - since >= self._timeout:
            self._fired = True
            self._task.cancel()
        else:
            base = now if since is None else since
            self._handle = self._loop.call_at(base + self._timeout, self._check)

    def expired(self) -> bool:
        """After a ``CancelledError``: whether it was this timeout (and only it) that
        cancelled the task; if so the cancellation is withdrawn."""
        return self._fired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self._handle.cancel()


def _fails_over(exc: DeskError) -> bool:
    """Whether another endpoint may take a request that failed with ``exc``."""
    return not isinstance(exc, BadRequest) or exc.status is not None


def _refusal(refusals: list[DeskError], model: str) -> DeskError:
    """The error for a request no candidate would take: the refusal itself when all
    agree (one kind), else a summary naming each endpoint's reason."""
    if not refusals:
        return NoEndpointAvailable(f"no endpoint available for {model!r}")
    kinds = {type(r) for r in refusals}
    if len(kinds) == 1:
        return refusals[0]
    reasons = "; ".join(r.one_line() for r in refusals[:5])
    retry = min((r.retry_after for r in refusals if r.retry_after), default=None)
    return NoEndpointAvailable(
        f"no endpoint could take a request for {model!r}: {reasons}", retry_after=retry
    )
