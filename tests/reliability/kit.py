"""Shared tools of the reliability suites: resource counters, waits on conditions, free
ports, and ``desk serve`` / ``desk sim`` as real child processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

TIMEOUT = 1.0
"""Every endpoint's ``timeout_seconds`` in these suites."""

GENEROUS = {
    "max_requests_per_minute": 100_000,
    "max_concurrent_requests": 256,
    "timeout_seconds": TIMEOUT,
    "retry_attempts": 3,
    "health_check_interval": 0.5,
}
"""Limits that never get in the way of a fault test."""

AddEndpoint = Callable[..., Awaitable[str]]


def fd_count() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


def rss_kib(pid: int | None = None) -> int:
    """Resident memory of a process in KiB (``/proc/PID/status`` VmRSS)."""
    path = f"/proc/{pid or 'self'}/status"
    with open(path, encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pool_counts() -> tuple[int, int]:
    """(checked out, idle keep-alive) connections of the desk's pooled upstream
    clients: the transports (h1, aiohttp) and discovery's aiohttp session."""
    from endpoint_desk.adapters import http, transport

    loop = asyncio.get_running_loop()
    busy, idle = transport.pool_counts()
    session = http._SESSIONS.get(loop)
    if session is not None and not session.closed:
        connector: Any = session.connector
        idle += sum(len(v) for v in getattr(connector, "_conns", {}).values())
        busy += len(getattr(connector, "_acquired", ()))
    return busy, idle


@dataclass
class Resources:
    """What one moment of the process holds, not counting the idle keep-alive
    connections of the desk's upstream pool (each is two descriptors in this process,
    the client's and the in-process sim's, and one sim handler task): the pool may
    legitimately keep more or fewer of them from one round to the next."""

    fds: int
    tasks: int
    acquired: int
    idle: int = 0

    @classmethod
    def now(cls) -> Resources:
        """Count the running loop's tasks, this process's fds, and checked-out
        upstream connections."""
        acquired, idle = pool_counts()
        return cls(fd_count() - 2 * idle, len(asyncio.all_tasks()) - idle, acquired, idle)


async def settle(
    baseline: Resources, *, fd_slack: int = 6, task_slack: int = 2, timeout: float = 5.0
) -> Resources:
    """Wait until the process holds no more than ``baseline`` (plus slack), then return
    the counts; fail naming what leaked when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        now = Resources.now()
        if (
            now.fds <= baseline.fds + fd_slack
            and now.tasks <= baseline.tasks + task_slack
            and now.acquired == 0
        ):
            return now
        if time.monotonic() > deadline:
            names = sorted(
                f"{t.get_name()}:{getattr(t.get_coro(), '__qualname__', '?')}"
                for t in asyncio.all_tasks()
            )
            raise AssertionError(f"leak: before {baseline}, after {now}; tasks: {names}")
        await asyncio.sleep(0.05)


async def wait_for(
    check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str, step: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(step)


def free_port() -> int:
    """A port nobody listens on right now (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of a desk child process: its own DESK_HOME, no keys of the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DESK_") and k not in ("DATABASE_URL", "OPENAI_API_KEY")
    }
    env["DESK_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Child:
    """A child process whose output goes to a file (no pipe to fill up)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            cwd=str(log.parent),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.proc.pid

    def output(self) -> str:
        """Everything the child printed so far."""
        self._log.flush()
        return self.log_path.read_text("utf-8", "replace")

    def wait_output(self, pattern: str, timeout: float) -> re.Match[str]:
        """Wait until the output matches ``pattern``; fail if the child exits first."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            m = rx.search(self.output())
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"child exited ({self.proc.returncode}) before {pattern!r}:\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} in {timeout:g} s:\n{self.output()}")
            time.sleep(0.05)

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the child (only this process id)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float) -> int:
        """Wait for the exit code."""
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; close the log."""
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()


def start_sim_process(tmp: Path, port: int = 0, knobs: str = "", tag: str = "sim") -> Child:
    """``python -m endpoint_desk.sim`` on ``port`` (0 = any); waits until it listens."""
    args = ["-m", "endpoint_desk.sim", "--port", str(port)]
    if knobs:
        args += ["--knobs", knobs]
    child = Child(args, child_env(tmp / "simhome"), tmp / f"{tag}-{time.monotonic_ns()}.log")
    child.wait_output(r"listening on http://127\.0\.0\.1:\d+", 20)
    return child


def sim_url_of(child: Child) -> str:
    """The URL a sim child printed."""
    return child.wait_output(r"listening on (http://127\.0\.0\.1:\d+)", 5).group(1)


def start_serve_process(home: Path, *args: str, log_name: str = "serve.log") -> tuple[Child, str]:
    """``desk serve --port 0`` as a child; returns it and its base URL."""
    home.mkdir(parents=True, exist_ok=True)
    child = Child(
        ["-m", "endpoint_desk", "serve", "--port", "0", *args],
        child_env(home),
        home / log_name,
    )
    url = child.wait_output(r"desk serving on (http://127\.0\.0\.1:\d+)", 30).group(1)
    return child, url


@contextlib.contextmanager
def children() -> Iterator[list[Child]]:
    """Stop every child put in the list on the way out."""
    started: list[Child] = []
    try:
        yield started
    finally:
        for c in started:
            with contextlib.suppress(Exception):
                c.stop()
