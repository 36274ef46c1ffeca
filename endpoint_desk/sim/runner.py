"""Running the sim: :class:`SimServer`, :func:`start_sim_in_thread`, :func:`run_sim`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from endpoint_desk.sim.app import create_app
from endpoint_desk.sim.control import PROTOCOLS
from endpoint_desk.sim.knobs import SimConfig
from endpoint_desk.sim.state import STATE_KEY, SimStats

__all__ = ["SimServer", "run_sim", "start_sim_in_thread"]


class SimServer:
    """The sim on a real TCP port, as an async context manager.

    ``async with SimServer(config, port=0) as sim:`` binds ``host:port`` (port 0 asks the
    OS for a free port) and gives ``sim.url`` (``"http://127.0.0.1:PORT"``), ``sim.port``,
    ``sim.stats`` (live :class:`SimStats`) and ``sim.config`` (the live, mutable
    :class:`SimConfig`: change a knob and the next request sees it).
    """

    def __init__(
        self, config: SimConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else SimConfig()
        self.host = host
        self.port = port
        self.app = create_app(self.config)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def stats(self) -> SimStats:
        """The live request counters."""
        return self.app[STATE_KEY].stats

    def reset(self) -> None:
        """Zero the counters, forget jobs, restart the script and the failure dice."""
        self.app[STATE_KEY].reset()

    async def start(self) -> None:
        """Bind and start serving."""
        runner = web.AppRunner(
            self.app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        for addr in runner.addresses:
            if isinstance(addr, tuple):
                self.port = int(addr[1])
                break

    async def stop(self) -> None:
        """Stop serving; requests still hanging are cancelled."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def start_sim_in_thread(
    config: SimConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float = 10.0,
) -> tuple[str, Callable[[], None]]:
    """Run a sim on its own event loop in a daemon thread.

    Returns ``(url, stop)``; ``stop()`` shuts the server down and joins the thread (safe
    to call twice). For sync tests, other processes, and benchmarks.
    """
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        server = SimServer(config, host=host, port=port)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the caller
            box["error"] = exc
            ready.set()
            loop.close()
            return
        box["url"] = server.url
        stop_event = asyncio.Event()
        box["stop_event"] = stop_event
        ready.set()
        try:
            loop.run_until_complete(stop_event.wait())
            loop.run_until_complete(server.stop())
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="desk-sim", daemon=True)
    thread.start()
    if not ready.wait(timeout):
        raise TimeoutError(f"desk sim did not start within {timeout}s")
    if "error" in box:
        raise box["error"]

    def stop() -> None:
        loop: asyncio.AbstractEventLoop = box["loop"]
        if thread.is_alive():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(box["stop_event"].set)
            thread.join(timeout)

    return str(box["url"]), stop


def run_sim(host: str = "127.0.0.1", port: int = 8765, config: SimConfig | None = None) -> None:
    """Serve the sim until Ctrl-C (the body of ``desk sim``); prints URL and protocols."""

    async def main() -> None:
        async with SimServer(config, host=host, port=port) as sim:
            print(f"desk sim listening on {sim.url}  (Ctrl-C to stop)", flush=True)
            print(f"models: {', '.join(sim.config.models)}", flush=True)
            if sim.config.api_key:
                print("api key required", flush=True)
            for proto in [*sim.config.served(), "control"]:
                routes = PROTOCOLS[proto]
                print(f"  {proto:<9} {'  '.join(routes)}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
