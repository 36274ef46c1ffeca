"""The desk: the one object every front end drives (CLI, TUI, server, Python)::

    async with Desk() as desk:
        await desk.add(EndpointSpec(name="sim", kind="openai", base_url=url))
        result = await desk.chat(ChatRequest.from_text("hello"))

``Desk`` opens and closes the engine and composes its parts; each behaviour lives in
its own module:

- ``portfolio.py``: the positions: add, update, remove, start, stop, states;
  ``sync.py``: picking up other desk processes' changes;
- ``request_path.py``: route, admit, fail over, cache; ``attempt.py``: one try at one
  position (the per-chunk timeout); ``embeddings.py``: the same for embeddings;
- ``verdicts.py``: breaker verdicts and budget alerts; ``alerts.py``: the alert log;
- ``ledger.py``: counting outcomes into metrics, the request log and events;
- ``loops.py``: the background loops; ``health.py``: the health loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from endpoint_desk.adapters.base import close_shared_resources
from endpoint_desk.adapters.transport.route import configure as configure_http
from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.embeddings import EmbeddingRequest, EmbeddingResult
from endpoint_desk.core.errors import DeskError, SwitchedOff
from endpoint_desk.core.models import (
    ChatRequest,
    ChatResult,
    EndpointKind,
    EndpointSpec,
    ProbeResult,
)
from endpoint_desk.core.paths import Paths, get_paths
from endpoint_desk.engine.alerts import AlertLog
from endpoint_desk.engine.attempt import AttemptRunner
from endpoint_desk.engine.embeddings import EmbeddingPath
from endpoint_desk.engine.events import Event, EventBus
from endpoint_desk.engine.ledger import Ledger
from endpoint_desk.engine.logs import setup_logging
from endpoint_desk.engine.loops import BackgroundLoops, desk_loops
from endpoint_desk.engine.metrics import EndpointMetrics
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.repair import install_web_chat_repair
from endpoint_desk.engine.request_path import ChatStream, RequestPath
from endpoint_desk.engine.settings import Configured, configure
from endpoint_desk.engine.sync import PortfolioSync
from endpoint_desk.engine.verdicts import Verdicts
from endpoint_desk.store.recorder import Recorder
from endpoint_desk.store.records import AlertRecord, HealthRecord, RequestRecord
from endpoint_desk.store.repo import Store
from endpoint_desk.store.secrets import SecretStore

log = logging.getLogger(__name__)


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
        self.secrets = SecretStore(self.paths)
        self.totals = EndpointMetrics(window=2048)
        self.ledger = Ledger(self.bus, self.totals)
        self.portfolio = Portfolio(
            self.settings, self.bus, self.secrets, self.ledger, autostart=autostart
        )
        self.sync = PortfolioSync(self.portfolio)
        self.verdicts = Verdicts(self.portfolio, self.bus)
        self.attempts = AttemptRunner(self.portfolio, self.verdicts, self.ledger)
        self.requests = RequestPath(
            self.settings, self.portfolio, self.attempts, self.verdicts, self.ledger
        )
        self.embeddings = EmbeddingPath(self.requests)
        self.alerts = AlertLog(self.bus)
        self.loops = BackgroundLoops()
        # the parts front ends and tests read by their own names
        self.guards = self.portfolio.guards
        self.health = self.portfolio.health
        self.router = self.requests.router
        self.cache = self.requests.cache
        self.desk_budget = self.requests.desk_budget
        self._store: Store | None = None
        self._opened = False
        self._remove_repair: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def store(self) -> Store:
        """The open store; ``DeskError`` before ``open()``."""
        return self.portfolio.store

    async def open(self) -> Desk:
        """Open the store, load the portfolio and its metrics, start the loops and
        (with ``autostart``) the enabled endpoints."""
        if self._opened:
            return self
        setup_logging(self.settings, self.paths, self.secrets)
        configure_http(self.settings.http)
        self.paths.ensure()
        store = self._store = await Store.open(self.settings.store, self.paths)
        recorder = self.ledger.recorder = Recorder(
            store,
            flush_interval=self.settings.store.flush_interval,
            batch_size=self.settings.store.batch_size,
        )
        self.portfolio.attach(store, await store.list_endpoints())
        try:
            await self.ledger.seed(store, self.portfolio.positions)
        except DeskError as exc:  # metrics are a nicety; the desk must open
            log.warning("could not read stored metrics: %s", exc.one_line())
        self._opened = True
        self._remove_repair = install_web_chat_repair(self)
        self.alerts.attach(store)
        loops = desk_loops(
            self.settings,
            autostart=self.autostart,
            alerts=self.alerts,
            health=self.health,
            bus=self.bus,
            sync=self.sync,
        )
        self.loops.start(recorder, loops)
        if self.autostart:
            await asyncio.gather(
                *(
                    self.portfolio.start_position(p)
                    for p in self.portfolio.positions.values()
                    if p.spec.enabled
                ),
                return_exceptions=True,
            )
        return self

    async def close(self) -> None:
        """Stop loops, close adapters, flush pending writes, close the store."""
        if not self._opened:
            return
        self._opened = False
        if self._remove_repair is not None:
            self._remove_repair()
        await self.loops.stop()
        if self.portfolio.background:
            await asyncio.gather(*self.portfolio.background, return_exceptions=True)
        await self.portfolio.close_all()
        if self.ledger.recorder is not None:
            await self.ledger.recorder.aclose()
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
        """Every endpoint with its state and metrics."""
        return self.portfolio.views()

    def endpoint(self, name: str) -> EndpointView:
        """One endpoint by name (or its slug); ``NotFound`` names the known ones."""
        return self.portfolio.position(name).view()

    def events(self) -> AsyncIterator[Event]:
        """The engine's events (state changes, requests, alerts...) as they happen."""
        return self.bus.subscribe()

    async def add(
        self, spec: EndpointSpec, *, prove: bool = True, start: bool = True
    ) -> EndpointView:
        """Add an endpoint: prove it with a live call (unless ``prove=False``), save it,
        and switch it ON (unless ``start=False``).

        Raises:
            Duplicate: the name is taken.
            DeskError: the proof failed; nothing is saved.
        """
        proof = self.attempts.prove if prove else None
        return await self.portfolio.add(spec, proof=proof, start=start)

    async def update(self, name: str, **changes: Any) -> EndpointView:
        """Change an endpoint's configuration (validated); restarts its adapter."""
        return await self.portfolio.update(name, **changes)

    async def configure(
        self,
        name: str,
        changes: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        text: bool = False,
    ) -> Configured:
        """Change an endpoint's settings by key, all or nothing: ``desk set``, ``PATCH
        /api/endpoints/NAME`` and the TUI's settings form (``engine/settings.py``).

        Args:
            changes: ``{"rpm": 100, "model_mapping.gpt-4": "sim-large", ...}`` or pairs.
            text: values are text to read (the CLI, the TUI); else JSON values.
        Raises:
            ConfigError: one line naming the bad key or value; nothing changed.
        """
        return await configure(self.portfolio, name, changes, text=text)

    async def remove(self, name: str) -> None:
        """Remove an endpoint and its stored secrets."""
        await self.portfolio.remove(name)

    async def start(self, name: str) -> EndpointView:
        """A person switches an endpoint ON."""
        return await self.portfolio.start(name)

    async def stop(self, name: str) -> EndpointView:
        """A person switches an endpoint OFF; it stays OFF until a person starts it."""
        return await self.portfolio.stop(name)

    async def sync_portfolio(self) -> list[str]:
        """Pick up what another desk process (``desk add``, ``rm``, ``start``, ``stop``
        in another terminal) changed in the stored portfolio (see ``engine/sync.py``).
        Runs every ``store.sync_interval`` seconds in ``desk serve`` and the TUI.

        Returns:
            The names of the endpoints that changed here.
        """
        return await self.sync.sync()

    # ------------------------------------------------------------------ requests

    def stream(
        self, request: ChatRequest, *, endpoint: str | None = None, raw: bool = False
    ) -> ChatStream:
        """Serve ``request``; iterate the returned stream for chunks.

        Args:
            endpoint: serve only at this endpoint (whatever the router would choose).
            raw: the caller forwards OpenAI server-sent events as they came: chunks of
                adapters that can give them carry the upstream's own event bytes as
                ``metadata["raw_sse"]`` (see ``ChatRequest.raw_sse``).
        """
        return self.requests.serve(request, endpoint, raw=raw)

    async def chat(self, request: ChatRequest, *, endpoint: str | None = None) -> ChatResult:
        """Serve ``request`` and return the standardized result."""
        return await self.stream(request, endpoint=endpoint).collect()

    async def embed(
        self, request: EmbeddingRequest, *, endpoint: str | None = None
    ) -> EmbeddingResult:
        """Embed ``request.inputs``: routed by model to an endpoint that can embed, with
        the same guards, failover, metrics, cost and request log as chat.

        Args:
            endpoint: serve only at this endpoint (whatever the router would choose).
        Raises:
            BadRequest: no model named, or no endpoint serving it can embed.
            DeskError: as :meth:`chat`.
        """
        return await self.embeddings.embed(request, endpoint)

    def test_stream(
        self, name: str, message: str, model: str | None = None, *, force: bool = False
    ) -> ChatStream:
        """Send one message to one endpoint (a person asked), streamed: whatever the
        desk made of its state (tripped, in error), but not when a person switched it
        OFF, unless ``force``.

        Raises:
            SwitchedOff: the endpoint is OFF and ``force`` is not set.
        """
        view = self.endpoint(name)
        if not view.spec.enabled and not force:
            raise SwitchedOff(
                f"{view.name} is switched OFF, so it is not tested; switch it ON first, "
                "or ask for the test with force",
                endpoint=view.name,
            )
        request = ChatRequest.from_text(message, model=model or "", stream=True)
        return self.stream(request, endpoint=view.name)

    async def test(
        self, name: str, message: str, model: str | None = None, *, force: bool = False
    ) -> ChatResult:
        """Send one message to one endpoint: :meth:`test_stream`, read to its end."""
        return await self.test_stream(name, message, model, force=force).collect()

    async def probe(self, name: str, deep: bool = False) -> ProbeResult:
        """Probe one endpoint now (a list of models, or a one-token chat when ``deep``)."""
        return await self.portfolio.probe(name, deep)

    # ------------------------------------------------------------------ history

    async def alert_history(self, name: str | None = None, limit: int = 50) -> list[AlertRecord]:
        """The newest stored alerts (of one endpoint when named), oldest first."""
        await self.alerts.flush()
        return await self.store.alerts(name, limit)

    async def recent_requests(
        self, name: str | None = None, limit: int = 100
    ) -> list[RequestRecord]:
        """The newest stored requests (of one endpoint, or of the whole desk)."""
        return await self.store.recent_requests(name, limit=limit)

    async def health_history(self, name: str, limit: int = 200) -> list[HealthRecord]:
        """The newest stored health samples of one endpoint, oldest first."""
        return await self.store.health_samples(name, limit=limit)

    # ------------------------------------------------------------------ helpers

    def store_secret(self, endpoint: str, field: str, value: str) -> str:
        """Store a secret value for an endpoint; returns its reference."""
        return self.secrets.put(f"{endpoint}.{field}", value)

    def kinds(self) -> list[str]:
        """Every endpoint kind the desk knows."""
        return [k.value for k in EndpointKind]
