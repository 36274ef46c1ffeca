"""A live desk for property and security tests: a sim, a desk and its gateway on their
own event loop in a background thread, spoken to over plain HTTP with ``http.client`` so
that a test can send any bytes, headers, paths and query strings."""

from __future__ import annotations

import asyncio
import http.client
import os
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

T = TypeVar("T")


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def assert_sane(reply: Reply) -> None:
    """What every answer to anything must be: never a 500, never a traceback."""
    assert reply.status != 500, reply.text
    assert 200 <= reply.status < 600
    assert "Traceback" not in reply.text
    assert 'File "' not in reply.text


@dataclass
class LiveDesk:
    """A desk serving on 127.0.0.1 from a background thread."""

    url: str
    sim_url: str
    home: Path
    loop: asyncio.AbstractEventLoop
    desk: Any
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the desk's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 20.0,
    ) -> Reply:
        """Send one raw request (no client-side validation of path or headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            hdrs = dict(headers or {})
            if body is not None:
                hdrs.setdefault("Content-Type", "application/json")
                hdrs["Content-Length"] = str(len(body))
            for k, v in hdrs.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def portfolio(self) -> list[dict[str, Any]]:
        """Every endpoint's spec and state, as the desk holds them (sorted by name)."""

        async def snap() -> list[dict[str, Any]]:
            return sorted(
                (
                    {
                        "name": v.name,
                        "spec": v.spec.model_dump(mode="json"),
                        "state": v.state.value,
                    }
                    for v in self.desk.endpoints()
                ),
                key=lambda d: str(d["name"]),
            )

        return self.run(snap())

    def requests_seen(self) -> int:
        """Requests the desk has served or tried (all endpoints)."""

        async def count() -> int:
            return int(self.desk.totals.requests)

        return self.run(count())


def _serve(home: Path, ready: threading.Event, box: dict[str, Any], **server_kw: Any) -> None:
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.core.models import EndpointSpec
    from endpoint_desk.engine.desk import Desk
    from endpoint_desk.server.app import start_server
    from endpoint_desk.sim import SimConfig, SimServer

    async def main() -> None:
        stop = asyncio.Event()
        box["stop"] = stop
        box["loop"] = asyncio.get_running_loop()
        settings_ = load_settings(health={"enabled": False}, store={"flush_interval": 0.05})
        async with SimServer(SimConfig()) as sim, Desk(settings_, autostart=True) as desk:
            for name, models in (("sim", ["sim-model", "sim-large"]), ("victim", ["other"])):
                spec = EndpointSpec.model_validate(
                    {
                        "name": name,
                        "kind": "openai",
                        "base_url": sim.url,
                        "models": models,
                        "limits": {
                            "max_requests_per_minute": 1_000_000,
                            "max_concurrent_requests": 64,
                            "timeout_seconds": 5,
                        },
                    }
                )
                await desk.add(spec, prove=False)
            server = await start_server(desk, port=0, grace=0.5, **server_kw)
            box["live"] = LiveDesk(server.url, sim.url, home, box["loop"], desk)
            ready.set()
            try:
                await stop.wait()
            finally:
                await server.aclose()

    try:
        asyncio.run(main())
    except BaseException as exc:  # reported to the fixture
        box["error"] = exc
        ready.set()


def live_desk(tmp_path_factory: pytest.TempPathFactory, **server_kw: Any) -> Iterator[LiveDesk]:
    """Run a desk with endpoints ``sim`` (sim-model, sim-large) and ``victim`` (other)
    until the generator is closed; ``server_kw`` go to ``start_server`` (keys)."""
    home = tmp_path_factory.mktemp("livedesk")
    old = {k: os.environ.get(k) for k in ("DESK_HOME", "DESK_API_KEY", "DATABASE_URL")}
    os.environ["DESK_HOME"] = str(home)
    os.environ.pop("DESK_API_KEY", None)
    os.environ.pop("DATABASE_URL", None)
    ready = threading.Event()
    box: dict[str, Any] = {}
    thread = threading.Thread(target=_serve, args=(home, ready, box), kwargs=server_kw, daemon=True)
    thread.start()
    try:
        assert ready.wait(30), "the desk did not start"
        if "error" in box:
            raise box["error"]
        yield box["live"]
    finally:
        if "stop" in box:
            box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(30)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
