"""Gateway speed benchmark: ``desk serve`` against a bare aiohttp pass-through proxy
and against calling the upstream directly, in one invocation, interleaved round by
round so that machine noise hits every target alike.

What runs (each its own process, all on 127.0.0.1):

- ``bench/upstream.py``: a fast OpenAI-style upstream (precomputed bytes; 20-chunk
  streams; model ``*-slow`` waits 50 ms);
- ``desk serve`` with routing, metrics, the request log (SQLite write-behind), logging
  (``LOG_LEVEL=INFO``) and cost (per-endpoint prices) on, over an endpoint added by a
  plain ``desk add`` (no limits touched) and ``desk set bench input_price=...``;
- ``bench/passthrough.py``: the reference, a bare aiohttp pass-through proxy;
- this process: the load generator (aiohttp client, uvloop).

For concurrency 1, 16 and 64, plain and streamed (20 chunks, ``include_usage``), plus
a 50 ms upstream at concurrency 64, it prints req/s, p50/p99 latency, time to first
byte and the gateway's CPU milliseconds per request (``/proc/<pid>/stat`` utime+stime
of the gateway process over the cell), with ratios to the reference, then checks the
targets of issue 5. The ``messages`` scenarios send the same requests to the desk's
Anthropic front door (``POST /v1/messages``, the reply converted to Anthropic's shape
and named events) while the reference still passes OpenAI's through; the ``tools``
scenarios offer a tool, and the upstream answers with a tool call (streamed: the call's
id and name, then 20 argument fragments), to every target alike (issue 13).

Run: ``python bench/gateway.py`` (about 5 minutes) or ``--quick``; ``--json FILE``
keeps the numbers. ``--client both`` adds a second ``desk serve`` whose upstream calls
go through aiohttp's client instead of the desk's own h1 client (``[http] client``),
measured in the same interleaved rounds, and prints the two side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")
MODEL = "gpt-4o-mini"
SLOW = MODEL + "-slow"
URL_RE = re.compile(r"http://127\.0\.0\.1:\d+")
TARGETS: tuple[str, ...] = ("direct", "reference", "desk")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Service:
    """A child process that printed its URL."""

    name: str
    proc: asyncio.subprocess.Process
    url: str

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), timeout=15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def spawn(name: str, args: list[str], env: dict[str, str]) -> Service:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        if not line:
            break
        found = URL_RE.search(line.decode())
        if found:
            return Service(name, proc, found.group(0))
    raise RuntimeError(f"{name} did not start ({' '.join(args)})")


@dataclass
class Cell:
    """Accumulated measurements of one target in one scenario (over all rounds)."""

    latencies: list[float] = field(default_factory=list)
    ttfbs: list[float] = field(default_factory=list)
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    per_round: list[float] = field(default_factory=list)  # req/s of each round

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    @property
    def cpu_ms(self) -> float:
        return self.cpu / self.requests * 1000 if self.requests else float("nan")


TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look something up",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


def payload(model: str, stream: bool, door: str = "chat") -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say twenty words, please."}],
        "stream": stream,
    }
    if door == "tools":
        body["tools"] = [TOOL]
    if door == "messages":
        body["max_tokens"] = 64
    elif stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


DOORS = {
    "chat": "/v1/chat/completions",
    "tools": "/v1/chat/completions",
    "messages": "/v1/messages",
}
STREAM_END = {
    "chat": b"[DONE]\n\n",
    "tools": b"[DONE]\n\n",
    "messages": b'{"type":"message_stop"}\n\n',
}
"""The path of each kind of request, and how a complete stream of it ends (``tools``:
OpenAI's chat with a tool offered, which every target speaks)."""


async def load(
    session: aiohttp.ClientSession,
    url: str,
    concurrency: int,
    body: bytes,
    stream: bool,
    duration: float,
    cell: Cell,
    pid: int | None,
    end: bytes = STREAM_END["chat"],
) -> None:
    """Run ``concurrency`` closed-loop clients against ``url`` for ``duration`` seconds."""
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    ttfbs: list[float] = []
    errors = 0
    clock = time.perf_counter

    async def worker(deadline: float) -> None:
        nonlocal errors
        while clock() < deadline:
            t0 = clock()
            try:
                async with session.post(url, data=body, headers=headers) as resp:
                    if stream:
                        first = await resp.content.readany()
                        t1 = clock()
                        last = first
                        while True:
                            data = await resp.content.readany()
                            if not data:
                                break
                            last = data
                        ok = resp.status == 200 and last.endswith(end)
                    else:
                        t1 = clock()
                        await resp.read()
                        ok = resp.status == 200
            except aiohttp.ClientError:
                ok = False
                t1 = clock()
            t2 = clock()
            if ok:
                latencies.append(t2 - t0)
                ttfbs.append(t1 - t0)
            else:
                errors += 1

    cpu0 = cpu_seconds(pid) if pid else 0.0
    start = clock()
    deadline = start + duration
    await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
    elapsed = clock() - start
    cpu1 = cpu_seconds(pid) if pid else 0.0
    cell.latencies += latencies
    cell.ttfbs += ttfbs
    cell.requests += len(latencies)
    cell.errors += errors
    cell.seconds += elapsed
    cell.per_round.append(len(latencies) / elapsed if elapsed else 0.0)
    cell.cpu += cpu1 - cpu0


SCENARIOS: list[tuple[str, int, bool, str, str]] = (
    [
        (f"c{c} {'stream' if s else 'plain'}", c, s, MODEL, "chat")
        for c in (1, 16, 64)
        for s in (False, True)
    ]
    + [
        ("c64 plain, 50 ms upstream", 64, False, SLOW, "chat"),
        ("c64 stream, 50 ms upstream", 64, True, SLOW, "chat"),
    ]
    + [
        (f"c{c} {door} {'stream' if s else 'plain'}", c, s, MODEL, door)
        for door in ("tools", "messages")
        for c in (1, 16, 64)
        for s in (False, True)
    ]
)
"""(name, concurrency, streamed, model, the kind of request). The ``messages`` ones skip
``direct`` (the upstream speaks only OpenAI's API)."""


async def desk_cli(args: list[str], env: dict[str, str]) -> str:
    """Run one ``desk`` command as a user would; its output, or an error naming it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endpoint_desk",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"desk {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode()


async def setup_desk(
    home: str, upstream: str, env: dict[str, str], client: str = "h1", name: str = "desk"
) -> Service:
    """``desk serve`` in its own home, its upstream calls on ``client`` (``[http]
    client``), over an endpoint added the way a new user adds one: a plain ``desk add``
    (no limits touched; the desk sets none), plus prices so cost is computed."""
    desk_env = {**env, "DESK_HOME": home, "LOG_LEVEL": "INFO", "DESK_HTTP__CLIENT": client}
    desk_env.pop("DESK_API_KEY", None)
    await desk_cli(["add", upstream, "--name", "bench"], desk_env)
    await desk_cli(["set", "bench", "input_price=0.15", "output_price=0.6"], desk_env)
    return await spawn(name, ["-m", "endpoint_desk", "serve", "--port", "0"], desk_env)


def ratio(a: Cell, b: Cell) -> float:
    """Median over rounds of ``a``'s throughput over ``b``'s in the same round (a burst of
    outside load hits one round, not the verdict)."""
    pairs = [x / y for x, y in zip(a.per_round, b.per_round, strict=False) if y]
    return statistics.median(pairs) if pairs else float("nan")


def table(results: dict[tuple[str, str], Cell], targets: tuple[str, ...] = TARGETS) -> str:
    head = (
        "| scenario | target | req/s | p50 ms | p99 ms | TTFB p50 ms | gateway CPU ms/req "
        "| req/s vs ref | CPU vs ref |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    rows = [head]
    for name, *_ in SCENARIOS:
        if (name, "reference") not in results:
            continue
        ref = results[(name, "reference")]
        for target in targets:
            if (name, target) not in results:
                continue
            c = results[(name, target)]
            cpu = "-" if target == "direct" else f"{c.cpu_ms:.3f}"
            rps_ratio = "-" if target in ("direct", "reference") else f"{ratio(c, ref):.2f}x"
            cpu_ratio = (
                "-" if target in ("direct", "reference") else f"{c.cpu_ms / ref.cpu_ms:.1f}x"
            )
            errs = f" ({c.errors} err)" if c.errors else ""
            rows.append(
                f"| {name} | {target}{errs} | {c.rps:.0f} | {c.pct(c.latencies, 0.5):.2f} "
                f"| {c.pct(c.latencies, 0.99):.2f} | {c.pct(c.ttfbs, 0.5):.2f} | {cpu} "
                f"| {rps_ratio} | {cpu_ratio} |"
            )
    return "\n".join(rows)


def side_by_side(results: dict[tuple[str, str], Cell]) -> str:
    """The desk on its two HTTP clients, scenario by scenario, from the same rounds."""
    rows = [
        "| scenario | CPU ms/req, h1 | CPU ms/req, aiohttp | aiohttp CPU / h1 "
        "| req/s, h1 | req/s, aiohttp | h1 req/s / aiohttp (same round) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, *_ in SCENARIOS:
        h1, aio = results.get((name, "desk")), results.get((name, "desk-aiohttp"))
        if h1 is None or aio is None:
            continue
        rows.append(
            f"| {name} | {h1.cpu_ms:.3f} | {aio.cpu_ms:.3f} | {aio.cpu_ms / h1.cpu_ms:.2f}x "
            f"| {h1.rps:.0f} | {aio.rps:.0f} | {ratio(h1, aio):.2f}x |"
        )
    return "\n".join(rows)


def verdicts(results: dict[tuple[str, str], Cell]) -> list[str]:
    def cell(name: str, target: str) -> Cell:
        return results[(name, target)]

    if {name for name, _ in results} != {str(sc[0]) for sc in SCENARIOS}:
        return ["(only some scenarios ran: the targets are checked on a full run)"]
    out: list[str] = []
    plain_cpu = max(cell(f"c{c} plain", "desk").cpu_ms for c in (1, 16, 64))
    stream_cpu = max(cell(f"c{c} stream", "desk").cpu_ms for c in (1, 16, 64))
    out.append(
        _v(
            "desk CPU per plain request (worst of c1/16/64) <= 1 ms",
            plain_cpu <= 1.0,
            f"{plain_cpu:.3f} ms",
        )
    )
    out.append(
        _v(
            "desk CPU per 20-chunk stream (worst) <= 2 ms",
            stream_cpu <= 2.0,
            f"{stream_cpu:.3f} ms",
        )
    )
    for door, label in (("tools", "tool-call"), ("messages", "/v1/messages")):
        for mode, limit in (("plain", 1.0), ("stream", 2.0)):
            worst = max(cell(f"c{c} {door} {mode}", "desk").cpu_ms for c in (1, 16, 64))
            what = "request" if mode == "plain" else "20-chunk stream"
            out.append(
                _v(
                    f"desk CPU per {label} {what} (worst) <= {limit:g} ms",
                    worst <= limit,
                    f"{worst:.3f} ms",
                )
            )
    for c in (16, 64):
        modes = ("plain", "stream", "tools plain", "tools stream")
        for mode in (*modes, "messages plain", "messages stream"):
            name = f"c{c} {mode}"
            r = ratio(cell(name, "desk"), cell(name, "reference"))
            out.append(_v(f"{name}: desk throughput >= 0.5x reference", r >= 0.5, f"{r:.2f}x"))
    for mode in ("plain", "stream"):
        name = f"c64 {mode}, 50 ms upstream"
        r = ratio(cell(name, "desk"), cell(name, "direct"))
        out.append(_v(f"{name}: desk >= 0.9x direct", r >= 0.9, f"{r:.2f}x"))
    for mode in ("plain", "stream"):
        name = f"c1 {mode}"
        added = cell(name, "desk").pct(cell(name, "desk").latencies, 0.5) - cell(
            name, "direct"
        ).pct(cell(name, "direct").latencies, 0.5)
        out.append(_v(f"{name}: added median latency <= 1 ms", added <= 1.0, f"{added:.2f} ms"))
    return out


def _v(what: str, ok: bool, value: str) -> str:
    return f"{'PASS' if ok else 'MISS'}  {what}: {value}"


async def main(args: argparse.Namespace) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    services: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="desk-bench-") as home:
        try:
            upstream = await spawn("upstream", [str(HERE / "upstream.py")], env)
            services.append(upstream)
            reference = await spawn(
                "reference", [str(HERE / "passthrough.py"), "--upstream", upstream.url], env
            )
            services.append(reference)
            first = "aiohttp" if args.client == "aiohttp" else "h1"
            desk = await setup_desk(str(Path(home) / "desk"), upstream.url, env, first)
            services.append(desk)
            endpoints = {
                "direct": (upstream.url, None),
                "reference": (reference.url, reference.pid),
                "desk": (desk.url, desk.pid),
            }
            if args.client == "both":
                alt_desk = await setup_desk(
                    str(Path(home) / "desk-aiohttp"), upstream.url, env, "aiohttp", "desk-aiohttp"
                )
                services.append(alt_desk)
                endpoints["desk-aiohttp"] = (alt_desk.url, alt_desk.pid)
            if args.httpx:
                alt = await spawn(
                    "httpx",
                    [str(HERE / "passthrough.py"), "--upstream", upstream.url, "--client", "httpx"],
                    env,
                )
                services.append(alt)
                endpoints["ref-httpx"] = (alt.url, alt.pid)
            targets = tuple(endpoints)
            connector = aiohttp.TCPConnector(limit=0, force_close=False)
            timeout = aiohttp.ClientTimeout(total=60)
            results: dict[tuple[str, str], Cell] = {}
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                # warm-up: connections, caches, the price lookup
                for target, (url, _pid) in endpoints.items():
                    for stream in (False, True):
                        for door in DOORS if target == "desk" else ("chat", "tools"):
                            await load(
                                session,
                                url + DOORS[door],
                                16,
                                payload(MODEL, stream, door),
                                stream,
                                args.warmup,
                                Cell(),
                                None,
                                STREAM_END[door],
                            )
                for rnd in range(args.rounds):
                    for name, conc, stream, model, door in SCENARIOS:
                        if args.only and args.only not in name:
                            continue
                        k = rnd % len(targets)
                        order = targets[k:] + targets[:k]
                        for target in order:
                            if door == "messages" and target == "direct":
                                continue
                            # only the desk has the Anthropic front door; the others pass
                            # OpenAI's request through, for the same upstream work
                            own = "chat" if door == "messages" and target != "desk" else door
                            url, pid = endpoints[target]
                            cell = results.setdefault((name, target), Cell())
                            await load(
                                session,
                                url + DOORS[own],
                                conc,
                                payload(model, stream, own),
                                stream,
                                args.duration,
                                cell,
                                pid,
                                STREAM_END[own],
                            )
                    print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        finally:
            for svc in reversed(services):
                with contextlib.suppress(Exception):
                    await svc.stop()
    print(
        f"\n{args.rounds} rounds x {args.duration:g} s per cell, interleaved; "
        f"{os.cpu_count()} CPUs; Python {sys.version.split()[0]}; load average before: "
        f"{load_before}\n(req/s vs ref: median over rounds of the same-round ratio; "
        "CPU: utime+stime of the gateway process over its cells / requests)\n"
    )
    print(table(results, targets))
    print()
    if args.client == "both":
        print("The desk's upstream HTTP client, side by side (desk = h1, desk-aiohttp):\n")
        print(side_by_side(results))
        print()
    for line in verdicts(results):
        print(line)
    if args.json:
        data = {
            f"{name} | {target}": {
                "rps": c.rps,
                "p50_ms": c.pct(c.latencies, 0.5),
                "p99_ms": c.pct(c.latencies, 0.99),
                "ttfb_p50_ms": c.pct(c.ttfbs, 0.5),
                "cpu_ms_per_request": None if target == "direct" else c.cpu_ms,
                "requests": c.requests,
                "errors": c.errors,
            }
            for (name, target), c in results.items()
        }
        await asyncio.to_thread(Path(args.json).write_text, json.dumps(data, indent=2))
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per cell (2)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds (1)")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s cells")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument(
        "--only", help="run only the scenarios whose name contains this, e.g. '50 ms'"
    )
    parser.add_argument(
        "--httpx", action="store_true", help="add a pass-through whose upstream client is httpx"
    )
    parser.add_argument(
        "--client",
        choices=("h1", "aiohttp", "both"),
        default="h1",
        help="the desk's upstream HTTP client ([http] client); 'both' runs a second desk "
        "on aiohttp's client (target desk-aiohttp) in the same rounds",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 1.0, 0.5
    sys.exit(run_on_uvloop(main(args)))


def run_on_uvloop(coro: Coroutine[Any, Any, int]) -> int:
    """Run a benchmark's main coroutine on uvloop, as the desk runs (asyncio without it)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    cli()
