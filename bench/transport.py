"""The two upstream HTTP clients alone: CPU microseconds per request of the desk's own
h1 client and of aiohttp's, both called through the desk's transport interface
(``endpoint_desk.adapters.transport.request``) as the adapters call them.

The upstream (``bench/upstream.py``) runs in its own process, so this process's CPU
time (``time.process_time``) is the client's alone: the figure is less sensitive to
other load on the machine than req/s, which is why it complements
``bench/gateway.py --client both`` (the whole desk, end to end). The two clients
alternate round by round; each cell is a closed loop of ``concurrency`` requests.

Run: ``python bench/transport.py`` (about a minute) or ``--rounds 1``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway import MODEL, Service, payload, run_on_uvloop, spawn

from endpoint_desk.adapters.transport import (
    IMPLEMENTATIONS,
    Route,
    close_shared_transports,
    request,
)

HERE = Path(__file__).resolve().parent
SCENARIOS = [(c, s) for c in (1, 16) for s in (False, True)]
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


@dataclass
class Cell:
    """One client in one scenario, over all rounds."""

    requests: int = 0
    cpu: float = 0.0
    seconds: float = 0.0
    per_round: list[float] = field(default_factory=list)  # CPU µs per request

    @property
    def us(self) -> float:
        return self.cpu / self.requests * 1e6 if self.requests else float("nan")


async def run(url: str, route: Route, conc: int, stream: bool, seconds: float, cell: Cell) -> None:
    body = payload(MODEL, stream)
    clock = time.perf_counter
    done = 0

    async def worker(deadline: float) -> None:
        nonlocal done
        while clock() < deadline:
            resp = await request(
                "POST", url, endpoint="bench", route=route, headers=HEADERS, body=body, timeout=60
            )
            async with resp:
                async for _ in resp.iter_any():
                    pass
                if resp.status != 200:
                    raise RuntimeError(f"upstream answered {resp.status}")
            done += 1

    cpu0, t0 = time.process_time(), clock()
    await asyncio.gather(*(worker(t0 + seconds) for _ in range(conc)))
    cpu, elapsed = time.process_time() - cpu0, clock() - t0
    cell.requests += done
    cell.cpu += cpu
    cell.seconds += elapsed
    cell.per_round.append(cpu / done * 1e6 if done else float("nan"))


async def main(args: argparse.Namespace) -> int:
    upstream: Service = await spawn("upstream", [str(HERE / "upstream.py")], dict(os.environ))
    url = upstream.url + "/v1/chat/completions"
    results: dict[tuple[str, str], Cell] = {}
    try:
        routes = {name: Route(client=name) for name in IMPLEMENTATIONS}
        for route in routes.values():  # warm-up: connections, caches
            await run(url, route, 16, True, 0.5, Cell())
        for rnd in range(args.rounds):
            names = IMPLEMENTATIONS if rnd % 2 == 0 else IMPLEMENTATIONS[::-1]
            for conc, stream in SCENARIOS:
                scenario = f"c{conc} {'stream' if stream else 'plain'}"
                for name in names:
                    cell = results.setdefault((scenario, name), Cell())
                    await run(url, routes[name], conc, stream, args.duration, cell)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        await close_shared_transports()
        await upstream.stop()
    print(
        f"\n{args.rounds} rounds x {args.duration:g} s per cell, alternating; client CPU "
        "(this process's process_time) per request, the upstream in another process\n"
    )
    print("| scenario | h1 µs/req | aiohttp µs/req | aiohttp / h1 (median of rounds) "
          "| h1 req/s | aiohttp req/s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for conc, stream in SCENARIOS:
        scenario = f"c{conc} {'stream' if stream else 'plain'}"
        h1, aio = results[(scenario, "h1")], results[(scenario, "aiohttp")]
        ratio = statistics.median(a / b for a, b in zip(aio.per_round, h1.per_round, strict=True))
        print(
            f"| {scenario} | {h1.us:.0f} | {aio.us:.0f} | {ratio:.2f}x "
            f"| {h1.requests / h1.seconds:.0f} | {aio.requests / aio.seconds:.0f} |"
        )
    return 0


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (4)")
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per cell (2)")
    args = parser.parse_args()
    sys.exit(run_on_uvloop(main(args)))


if __name__ == "__main__":
    cli()
