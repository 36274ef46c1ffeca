"""The desk: the portfolio of positions, their lifecycle, and request execution.

``Desk`` is the one object every front end drives (CLI, TUI, server, Python)::

    async with Desk() as desk:
        await desk.add(EndpointSpec(name="sim", kind="openai", base_url=url))
        result = await desk.chat(ChatRequest.from_text("hello"))
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from endpoint_desk.adapters.base import Adapter, close_shared_resources, create_adapter
from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.errors import (
    AuthFailed,
    BadRequest,
    ConfigError,
    DeskError,
    Duplicate,
    NotFound,
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
    new_id,
    slugify,
)
from endpoint_desk.core.paths import Paths, get_paths
from endpoint_desk.engine.cost import cost_of, estimate_tokens
from endpoint_desk.engine.events import (
    Alert,
    EndpointChanged,
    Event,
    EventBus,
    RequestDone,
)
from endpoint_desk.engine.logs import setup_logging
from endpoint_desk.engine.metrics import EndpointMetrics
from endpoint_desk.engine.position import EndpointView, Position
from endpoint_desk.engine.router import Router
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import RequestRecord
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import SecretStore

log = logging.getLogger(__name__)


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
        self.router = Router()
        self.totals = EndpointMetrics(window=2048)
        self._positions: dict[str, Position] = {}
        self._store: Store | None = None
        self._recorder: Recorder | None = None
        self.secrets = SecretStore(self.paths)
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._opened = False
        self._lock = asyncio.Lock()

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
        self._opened = True
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

    def _background_loops(self) -> list[Any]:
        """Coroutines run beside the recorder while the desk is open (health loop...)."""
        return []

    async def close(self) -> None:
        """Stop loops, close adapters, flush pending writes, close the store."""
        if not self._opened:
            return
        self._opened = False
        self._stopping.set()
        if self._runner is not None:
            with contextlib.suppress(_Stop, asyncio.CancelledError, BaseExceptionGroup):
                await self._runner
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
        pos = Position(spec, EndpointState.OFF)
        if prove:
            await self._prove(pos)
        state = EndpointState.ON if start and pos.opened else EndpointState.OFF
        if not start:
            pos.spec = pos.spec.model_copy(update={"enabled": False})
        spec = pos.spec
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
        await self.store.delete_endpoint(pos.name)
        for ref in (pos.spec.api_key, pos.spec.password, pos.spec.username):
            if ref and ref.startswith(("file:", "keyring:")):
                with contextlib.suppress(DeskError):
                    self.secrets.delete(ref)
        del self._positions[pos.name]
        self.bus.publish(EndpointChanged(pos.name, "removed", removed=True))

    async def start(self, name: str) -> EndpointView:
        """A person switches an endpoint ON."""
        pos = self._position(name)
        if not pos.spec.enabled:
            pos.spec = pos.spec.model_copy(update={"enabled": True})
            await self.store.update_endpoint(pos.spec)
        await self._start_position(pos)
        return pos.view()

    async def stop(self, name: str) -> EndpointView:
        """A person switches an endpoint OFF; it stays OFF until a person starts it."""
        pos = self._position(name)
        if pos.spec.enabled:
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
            state = EndpointState.ERROR
            await self._set_state(pos, state, exc.one_line())
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
        t0 = time.perf_counter()
        if pinned is not None:
            candidates = [self._position(pinned)]
            asked = request.model
        else:
            candidates, asked = self.router.plan(request.model, self._positions)
        attempts: list[Attempt] = []
        last_error: DeskError | None = None
        for pos in candidates[: 1 + max(0, candidates[0].spec.limits.retry_attempts)]:
            upstream_model = pos.spec.upstream_model(asked) or ""
            started = time.perf_counter()
            attempt = Attempt(endpoint=pos.name, started=time.time())
            attempts.append(attempt)
            sent_any = False
            try:
                async with contextlib.aclosing(
                    self._attempt(pos, request, upstream_model, stream, t0)
                ) as chunks:
                    async for chunk in chunks:
                        if chunk.delta:
                            sent_any = True
                        yield chunk
                attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                if stream.result is not None:
                    stream.result.attempts = attempts
                return
            except DeskError as exc:
                attempt.elapsed_ms = (time.perf_counter() - started) * 1000
                attempt.error_kind, attempt.error = exc.kind, exc.one_line()
                last_error = exc
                if sent_any or pinned is not None or not _fails_over(exc):
                    raise
        assert last_error is not None
        raise last_error

    async def _attempt(
        self,
        pos: Position,
        request: ChatRequest,
        upstream_model: str,
        stream: ChatStream | None = None,
        t0: float | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """One try at one position: timeouts, metrics, cost, request log."""
        t0 = t0 if t0 is not None else time.perf_counter()
        adapter = pos.adapter if pos.opened and pos.adapter is not None else None
        if adapter is None:
            adapter = await self._open_adapter(pos)
        req = replace(request, model=upstream_model)
        timeout = pos.spec.limits.timeout_seconds
        ttft: float | None = None
        parts: list[str] = []
        final: ChatChunk | None = None
        session_id: str | None = None
        pos.metrics.in_flight += 1
        ok = False
        error: DeskError | None = None
        rid = new_id()
        it = adapter.chat(req).__aiter__()
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError as exc:
                    raise UpstreamTimeout(
                        f"{pos.name} sent nothing for {timeout:g} s", endpoint=pos.name
                    ) from exc
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
            self._account(pos, rid, request, upstream_model, ok, error, latency, ttft, usage)
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
            if error is not None and isinstance(error, AuthFailed):
                await self._set_state(pos, EndpointState.ERROR, error.one_line())
                self.bus.publish(Alert("error", pos.name, error.title, error.one_line()))

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
                    attempts=1,
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

    def store_secret(self, endpoint: str, field: str, value: str) -> str:
        """Store a secret value for an endpoint; returns its reference."""
        return self.secrets.put(f"{endpoint}.{field}", value)

    def kinds(self) -> list[str]:
        return [k.value for k in EndpointKind]


class _Stop(Exception):
    """Ends the runner's task group."""


def _fails_over(exc: DeskError) -> bool:
    """Whether another endpoint may take a request that failed with ``exc``."""
    return not isinstance(exc, BadRequest) or exc.status is not None
