"""The desk itself as a real ``desk serve`` process: SIGKILL during heavy writes (the
database opens again, the portfolio is intact, at most the in-flight batch of request
log rows is lost, and how much is measured), SIGTERM under load (in-flight requests
finish within the grace period, nothing written is lost), and a corrupt or unreadable
config file (a clear message, nothing changes)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.sim import SimConfig, SimServer

from .kit import child_env, children, start_serve_process

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

FLUSH_INTERVAL = 0.5
"""``[store] flush_interval``'s default: the recorder's write-behind period."""


def db_file(home: Path) -> Path:
    found = list(home.rglob("*.db")) + list(home.rglob("*.sqlite*"))
    found = [p for p in found if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert len(found) == 1, found
    return found[0]


def request_ids(home: Path) -> set[str]:
    with sqlite3.connect(db_file(home)) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM requests")}


def integrity(home: Path) -> str:
    with sqlite3.connect(db_file(home)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def add_endpoint(http: aiohttp.ClientSession, url: str, name: str, sim_url: str) -> None:
    body = {
        "name": name,
        "kind": "openai",
        "base_url": sim_url,
        "models": ["sim-model"],
        "max_concurrent_requests": 256,
        "max_requests_per_minute": 1_000_000,
        "timeout_seconds": 5,
    }
    async with http.post(url + "/api/endpoints", json=body) as resp:
        assert resp.status == 201, await resp.text()


async def portfolio(http: aiohttp.ClientSession, url: str) -> list[dict[str, Any]]:
    async with http.get(url + "/api/endpoints") as resp:
        assert resp.status == 200
        data = orjson.loads(await resp.read())
        return list(data["endpoints"])


class Load:
    """Closed-loop clients against a desk; remembers every completed request id and
    when it completed."""

    def __init__(self, http: aiohttp.ClientSession, url: str, concurrency: int) -> None:
        self.http = http
        self.url = url
        self.concurrency = concurrency
        self.done: list[tuple[float, str]] = []
        self.failed: list[str] = []
        self.stop = False
        self.tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._client(i)) for i in range(self.concurrency)]

    async def _client(self, i: int) -> None:
        n = 0
        while not self.stop:
            n += 1
            payload = {
                "model": "sim-model",
                "messages": [{"role": "user", "content": f"c{i} r{n}"}],
            }
            try:
                async with self.http.post(self.url + "/v1/chat/completions", json=payload) as resp:
                    raw = await resp.read()
                    if resp.status == 200:
                        data = orjson.loads(raw)
                        assert data["choices"][0]["message"]["content"] == f"Echo: c{i} r{n}"
                        self.done.append((time.monotonic(), data["id"]))
                    else:
                        self.failed.append(f"{resp.status} {raw[:200]!r}")
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.failed.append(f"{type(exc).__name__}: {exc}")
                if self.stop:
                    return
                await asyncio.sleep(0.01)

    async def finish(self) -> None:
        self.stop = True
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def test_sigkill_during_heavy_writes_loses_at_most_the_inflight_batch(
    tmp_path: Path,
) -> None:
    home = tmp_path / "desk"
    async with SimServer(SimConfig()) as sim, aiohttp.ClientSession() as http:
        with children() as procs:
            desk, url = start_serve_process(home)
            procs.append(desk)
            await add_endpoint(http, url, "alpha", sim.url)
            await add_endpoint(http, url, "beta", sim.url)
            load = Load(http, url, concurrency=32)
            load.start()
            # heavy writes for a few flush intervals, so that "recent" below is a
            # real window and not everything
            started = time.monotonic()
            while time.monotonic() - started < 3.0 or len(load.done) < 1500:
                await asyncio.sleep(0.05)
                assert time.monotonic() - started < 20, "the load did not get going"
            killed_at = time.monotonic()
            desk.signal(signal.SIGKILL)
            assert desk.wait(5) == -signal.SIGKILL
            await load.finish()
            answered = {rid for _, rid in load.done}
            assert len(answered) >= 300, f"only {len(answered)} requests before the kill"

            assert integrity(home) == "ok"
            stored = request_ids(home)
            lost = answered - stored
            # What was written is a prefix: only the tail still waiting in the
            # write-behind queue when the process died is lost, never an older row.
            # (Client-side times are a little later than the desk's own and requests
            # overlap, hence the slack.)
            times = dict((rid, t) for t, rid in load.done)
            newest_stored = max((times[r] for r in answered & stored), default=0.0)
            older = {r for r in lost if times[r] < newest_stored - 0.5}
            assert not older, f"{len(older)} rows older than the newest stored row lost"
            tail = killed_at - min((times[r] for r in lost), default=killed_at)
            # the tail is the write-behind queue: at most about one flush interval plus
            # the batch being written (slack for a loaded machine)
            assert tail < 4 * FLUSH_INTERVAL, f"the unwritten tail was {tail:.1f} s long"
            assert stored & answered, "the writer wrote nothing while the load ran"
            print(
                f"\nSIGKILL: {len(answered)} answered, {len(stored)} rows stored, "
                f"{len(lost)} lost, all answered in the last {tail:.2f} s"
            )

            desk2, url2 = start_serve_process(home, log_name="serve2.log")
            procs.append(desk2)
            names = {e["name"]: e for e in await portfolio(http, url2)}
            assert set(names) == {"alpha", "beta"}
            assert all(e["state"] == "on" for e in names.values()), names
            payload = {"model": "sim-model", "messages": [{"role": "user", "content": "again"}]}
            async with http.post(url2 + "/v1/chat/completions", json=payload) as resp:
                assert resp.status == 200
            assert "Traceback" not in desk2.output()


async def test_sigterm_under_load_finishes_inflight_and_loses_nothing(tmp_path: Path) -> None:
    home = tmp_path / "desk"
    grace = 4.0
    # each answer takes ~0.6 s, so requests are in flight whenever the signal comes
    async with (
        SimServer(SimConfig(chunks=6, chunk_delay=0.1)) as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        with children() as procs:
            desk, url = start_serve_process(home, "--grace", str(grace))
            procs.append(desk)
            await add_endpoint(http, url, "alpha", sim.url)
            load = Load(http, url, concurrency=24)
            load.start()
            # wait (bounded) for a moment with plenty in flight; a loaded machine
            # may take a while to get there
            deadline = time.monotonic() + 30
            while len(load.done) < 60 or sim.stats.in_flight < 8:
                assert time.monotonic() < deadline, (len(load.done), sim.stats.in_flight)
                await asyncio.sleep(0.01)
            answered_before = len(load.done)
            in_flight_at_signal = sim.stats.in_flight
            t0 = time.monotonic()
            desk.signal(signal.SIGTERM)
            code = await asyncio.to_thread(desk.wait, grace + 10)
            took = time.monotonic() - t0
            await load.finish()
            assert code == 0, desk.output()
            assert took < grace + 3, f"stopping took {took:.1f} s with a {grace} s grace"
            # the requests in flight when the signal came were answered, not cut
            assert len(load.done) >= answered_before + in_flight_at_signal - 2, (
                answered_before,
                in_flight_at_signal,
                len(load.done),
                load.failed[:5],
            )
            # the others were refused cleanly (connection refused/closed), never a 500
            assert not [f for f in load.failed if f.startswith("5")], load.failed[:5]
            out = desk.output()
            assert "Traceback" not in out, out
            answered = {rid for _, rid in load.done}
            stored = request_ids(home)
            assert answered <= stored, f"{len(answered - stored)} answered requests not logged"
            assert integrity(home) == "ok"


def run_desk(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "endpoint_desk", *args],
        capture_output=True,
        text=True,
        env=child_env(home),
        cwd=str(home),
        timeout=60,
    )


def config_path(home: Path) -> Path:
    """Where a desk whose DESK_HOME is ``home`` reads its config file."""
    from endpoint_desk.core.paths import get_paths

    old = os.environ.get("DESK_HOME")
    os.environ["DESK_HOME"] = str(home)
    try:
        return get_paths().config_file
    finally:
        if old is None:
            del os.environ["DESK_HOME"]
        else:
            os.environ["DESK_HOME"] = old


BAD_CONFIGS = [
    (b"[server\nport = 1", "not valid TOML"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[server]\nport = 99999\n", "server.port"),
    (b"[server]\nport = 'many'\n", "server.port"),
    (b"[routing]\nstrategy = 'coin_flip'\n", "routing.strategy"),
    (b"[breaker]\nwindow_seconds = -1\n", "breaker.window_seconds"),
    (b"[server]\nbogus = 1\n", "server.bogus"),
    (b"server = 3\n", "server"),
    (b"[store]\nflush_interval = 0\n", "store.flush_interval"),
    (b"[server]\nmax_body_bytes = 10\n", "server.max_body_bytes"),
]


@pytest.mark.parametrize(("content", "words"), BAD_CONFIGS)
def test_bad_config_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, words: str
) -> None:
    """In process: every bad file is a ConfigError naming the setting and the file."""
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.core.errors import ConfigError

    home = tmp_path / "desk"
    monkeypatch.setenv("DESK_HOME", str(home))
    cfg = config_path(home)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = info.value.one_line()
    assert words in message and str(cfg) in message, message
    assert "\n" not in message.strip()


@pytest.mark.parametrize(("content", "words"), [BAD_CONFIGS[0], BAD_CONFIGS[4]])
def test_corrupt_config_stops_every_command_and_changes_nothing(
    tmp_path: Path, content: bytes, words: str
) -> None:
    """As a user meets it: ``desk ls``, ``desk serve`` and ``desk add`` each print one
    clear error, no traceback, and no file of the desk changes."""
    home = tmp_path / "desk"
    home.mkdir()
    ok = run_desk(home, "ls", "--json")
    assert ok.returncode == 0, ok.stderr
    cfg = config_path(home)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_bytes(content)
    before = {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()}
    for args in (("ls", "--json"), ("serve", "--port", "0"), ("add", "http://127.0.0.1:9")):
        proc = run_desk(home, *args)
        assert proc.returncode != 0, (args, proc.stdout)
        text = proc.stdout + proc.stderr
        assert "Traceback" not in text, text
        assert words in text and str(cfg) in text, (args, text)
    after = {p: p.stat().st_mtime_ns for p in home.rglob("*") if p.is_file()}
    assert after == before, "a failed start changed files"
    assert cfg.read_bytes() == content


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_config_is_a_clear_message(tmp_path: Path) -> None:
    home = tmp_path / "desk"
    home.mkdir()
    cfg = config_path(home)
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("[server]\nport = 9000\n")
    cfg.chmod(0)
    proc = run_desk(home, "ls")
    assert proc.returncode != 0
    assert "cannot read config file" in proc.stderr and "Traceback" not in proc.stderr


def test_config_that_is_a_directory_is_a_clear_message(tmp_path: Path) -> None:
    home = tmp_path / "desk"
    home.mkdir()
    cfg = config_path(home)
    cfg.mkdir(parents=True)
    proc = run_desk(home, "ls")
    assert proc.returncode != 0
    assert "cannot read config file" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


async def test_a_running_serve_picks_up_desk_add_and_rm_from_another_terminal(
    tmp_path: Path,
) -> None:
    home = tmp_path / "desk"
    async with (
        SimServer() as sim,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        with children() as procs:
            desk, url = start_serve_process(home)
            procs.append(desk)

            async def models() -> list[str]:
                async with http.get(url + "/v1/models") as resp:
                    assert resp.status == 200
                    return [m["id"] for m in (await resp.json())["data"]]

            async def until_models(listed: bool) -> None:
                deadline = time.monotonic() + 30
                while ("sim-model" in (got := await models())) != listed:
                    assert time.monotonic() < deadline, f"/v1/models stayed {got}"
                    await asyncio.sleep(0.1)

            assert await models() == []
            added = await asyncio.to_thread(
                run_desk, home, "add", sim.url, "--name", "gamma", "--kind", "openai"
            )
            assert added.returncode == 0, added.stderr
            await until_models(listed=True)
            payload = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}]}
            async with http.post(url + "/v1/chat/completions", json=payload) as resp:
                assert resp.status == 200, await resp.text()
                assert resp.headers["x-desk-endpoint"] == "gamma"
            stopped = await asyncio.to_thread(run_desk, home, "stop", "gamma")
            assert stopped.returncode == 0, stopped.stderr
            await until_models(listed=False)
            started = await asyncio.to_thread(run_desk, home, "start", "gamma")
            assert started.returncode == 0, started.stderr
            await until_models(listed=True)
            removed = await asyncio.to_thread(run_desk, home, "rm", "gamma", "--yes")
            assert removed.returncode == 0, removed.stderr
            await until_models(listed=False)
            assert "Traceback" not in desk.output()
