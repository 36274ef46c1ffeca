"""The demo portfolio ("paper trading"): simulated upstreams inside the desk.

:func:`start_demo` starts a few ``desk sim`` servers in this process, each with its own
latency, price and failure rate, adds them as endpoints marked ``spec.demo=True`` (or
points existing demo endpoints at the new servers), and sends a trickle of requests
through the router so every figure moves and the breaker and health loop can be watched.
:func:`remove_demo` removes every demo endpoint; :func:`stop_demo_servers` stops the
servers and the traffic (the desk's front end calls it before closing the desk).

No Textual here: the engine layer serves the TUI, the CLI and Python alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import weakref
from dataclasses import dataclass, field

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import (
    ChatRequest,
    EndpointKind,
    EndpointSpec,
    Limits,
    Prices,
)
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.sim import SimConfig, SimServer

log = logging.getLogger(__name__)

DEMO_MODEL = "paper"
"""The model name demo traffic asks for; every demo endpoint maps it to its sim model."""

DEMO_PROMPTS = (
    "Summarise today's market in one line.",
    "What is 17 times 23?",
    "Name a colour of the sea.",
    "Reply with the word OK.",
    "Write a haiku about latency.",
)


@dataclass(frozen=True)
class DemoEndpoint:
    """One simulated endpoint of the demo portfolio."""

    name: str
    kind: EndpointKind
    note: str
    latency: float
    ttft: float
    chunk_delay: float
    fail_rate: float
    input_price: float
    output_price: float
    tier: int = 0


DEMO_ENDPOINTS: tuple[DemoEndpoint, ...] = (
    DemoEndpoint(
        "demo-swift", EndpointKind.OPENAI, "fast and cheap", 0.02, 0.02, 0.01, 0.02, 0.15, 0.6
    ),
    DemoEndpoint(
        "demo-steady", EndpointKind.OPENAI, "middle of the road", 0.15, 0.05, 0.02, 0.05, 1.0, 3.0
    ),
    DemoEndpoint(
        "demo-premium",
        EndpointKind.ANTHROPIC,
        "slow, dear, reliable",
        0.4,
        0.1,
        0.04,
        0.0,
        5.0,
        15.0,
    ),
    DemoEndpoint(
        "demo-flaky",
        EndpointKind.OPENAI,
        "fails about half the time",
        0.1,
        0.03,
        0.02,
        0.5,
        0.5,
        1.5,
    ),
    DemoEndpoint(
        "demo-local", EndpointKind.OLLAMA, "a local model, free", 0.25, 0.1, 0.03, 0.03, 0.0, 0.0
    ),
)


@dataclass
class _DemoRun:
    servers: dict[str, SimServer] = field(default_factory=dict)
    traffic: asyncio.Task[None] | None = None


_RUNS: weakref.WeakKeyDictionary[Desk, _DemoRun] = weakref.WeakKeyDictionary()


def _base_url(kind: EndpointKind, url: str) -> str:
    return url + "/v1" if kind is EndpointKind.OPENAI else url


def demo_spec(demo: DemoEndpoint, url: str) -> EndpointSpec:
    """The endpoint specification of one demo endpoint served at ``url``."""
    return EndpointSpec(
        name=demo.name,
        kind=demo.kind,
        base_url=_base_url(demo.kind, url),
        models=["sim-model", "sim-large"],
        model_mapping={DEMO_MODEL: "sim-model"},
        default_model="sim-model",
        prices=Prices(input_per_mtok=demo.input_price, output_per_mtok=demo.output_price),
        limits=Limits(timeout_seconds=10.0, retry_attempts=2, health_check_interval=15.0),
        tier=demo.tier,
        note=f"demo: {demo.note}",
        demo=True,
    )


def demo_names(desk: Desk) -> list[str]:
    """Names of the desk's demo endpoints."""
    return [v.name for v in desk.endpoints() if v.spec.demo]


async def start_demo(
    desk: Desk, *, traffic: bool = True, interval: float = 0.4
) -> list[EndpointView]:
    """Start the simulated upstreams and add (or re-point) the demo endpoints.

    Idempotent: called again (or after a restart of the desk, when the stored demo
    endpoints point at servers that are gone) it starts servers for the endpoints that
    have none and updates their addresses.

    Args:
        desk: an open desk.
        traffic: also send a trickle of requests through the router.
        interval: seconds between two demo requests.
    """
    run = _RUNS.setdefault(desk, _DemoRun())
    existing = {v.name: v for v in desk.endpoints()}
    views: list[EndpointView] = []
    for demo in DEMO_ENDPOINTS:
        view = existing.get(demo.name)
        if view is not None and not view.spec.demo:
            log.warning("an endpoint named %s exists and is not a demo; skipped", demo.name)
            continue
        server = run.servers.get(demo.name)
        if server is None:
            config = SimConfig(
                latency=demo.latency,
                ttft=demo.ttft,
                chunks=6,
                chunk_delay=demo.chunk_delay,
                fail_rate=demo.fail_rate,
                fail_status=503,
            )
            server = SimServer(config)
            await server.start()
            run.servers[demo.name] = server
        spec = demo_spec(demo, server.url)
        if view is None:
            views.append(await desk.add(spec, prove=False, start=True))
        else:
            if view.spec.base_url != spec.base_url:
                await desk.update(demo.name, base_url=spec.base_url)
            views.append(await desk.start(demo.name))
    if traffic and (run.traffic is None or run.traffic.done()):
        run.traffic = asyncio.create_task(_traffic(desk, interval), name="demo-traffic")
    return views


async def _traffic(desk: Desk, interval: float, concurrency: int = 4) -> None:
    """Send demo requests through the router until stopped (a few at a time)."""
    rng = random.Random()
    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()

    async def one(pinned: str | None) -> None:
        request = ChatRequest.from_text(rng.choice(DEMO_PROMPTS), model=DEMO_MODEL, stream=True)
        try:
            await desk.chat(request, endpoint=pinned)
        except DeskError:
            pass  # failures are the point: the breaker and the log show them
        except Exception as exc:  # keep the demo alive whatever happens
            log.warning("demo request failed: %s", exc)
        finally:
            slots.release()

    try:
        while True:
            await asyncio.sleep(interval * (0.5 + rng.random()))
            names = demo_names(desk)
            if not names:
                return
            others = [v for v in desk.endpoints() if not v.spec.demo and v.spec.serves(DEMO_MODEL)]
            pinned = rng.choice(names) if others else None  # never spend a real endpoint's money
            await slots.acquire()
            task = asyncio.create_task(one(pinned))
            pending.add(task)
            task.add_done_callback(pending.discard)
    finally:
        for task in list(pending):
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


async def stop_demo_servers(desk: Desk) -> None:
    """Stop the demo traffic and the simulated upstreams (the endpoints stay)."""
    run = _RUNS.pop(desk, None)
    if run is None:
        return
    if run.traffic is not None:
        run.traffic.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await run.traffic
    for server in run.servers.values():
        with contextlib.suppress(Exception):
            await server.stop()


async def remove_demo(desk: Desk) -> list[str]:
    """Remove every endpoint marked ``demo`` and stop the demo servers; returns names."""
    await stop_demo_servers(desk)
    names = demo_names(desk)
    for name in names:
        await desk.remove(name)
    return names


def demo_running(desk: Desk) -> bool:
    """Whether this process serves the desk's demo upstreams right now."""
    run = _RUNS.get(desk)
    return bool(run and run.servers)
