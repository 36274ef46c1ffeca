"""How fast the request log takes a batch: the SQLite writer thread's path and the async
store's path, 20 batches of 500 request records each (the recorder's default batch).

Each round writes into a fresh SQLite file; per path it prints the median of the rounds
in microseconds per row, wall clock and CPU time (the process's, so the event loop and
aiosqlite's thread both count for the async path).

    python bench/store_writes.py               # 7 rounds
    python bench/store_writes.py --rounds 15 --batches 40
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endpoint_desk.core.config import StoreSettings
from endpoint_desk.core.paths import Paths
from endpoint_desk.store import RequestRecord, Store


def batches(n: int, size: int) -> list[list[RequestRecord]]:
    """``n`` batches of ``size`` distinct records over a few endpoints and minutes."""
    now = time.time()
    return [
        [
            RequestRecord(
                id=f"req-{b}-{i}",
                ts=now + b * 0.5 + i * 0.001,
                endpoint=f"ep{i % 4}",
                model="m",
                status="ok" if i % 10 else "error",
                error_kind=None if i % 10 else "upstream",
                error=None if i % 10 else "upstream said no",
                latency_ms=12.5,
                ttft_ms=3.25 if i % 3 else None,
                input_tokens=20,
                output_tokens=40,
                cost=0.0001,
                estimated=bool(i % 2),
                stream=bool(i % 5),
            )
            for i in range(size)
        ]
        for b in range(n)
    ]


async def one_round(
    folder: Path, data: list[list[RequestRecord]], path: str
) -> tuple[float, float, int]:
    """Write every batch along ``path``; (wall seconds, CPU seconds, rows stored)."""
    paths = Paths(config_dir=folder, data_dir=folder, log_dir=folder)
    store = await Store.open(StoreSettings(), paths)
    try:
        write: Callable[[list[RequestRecord]], Awaitable[None] | None]
        writer = store.batch_writer()
        assert writer is not None
        if path == "thread":

            def write(batch: list[RequestRecord]) -> None:
                writer.write(batch, ())

        else:

            async def write(batch: list[RequestRecord]) -> None:
                await store.write_batch(batch, ())

        wall, cpu = time.perf_counter(), time.process_time()
        for batch in data:
            result = write(batch)
            if result is not None:
                await result
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        writer.close()
        return wall, cpu, await store.count_requests()
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    data = batches(args.batches, args.size)
    rows = args.batches * args.size
    results: dict[str, list[tuple[float, float]]] = {"thread": [], "async": []}
    for _ in range(args.rounds):
        for path, runs in results.items():  # interleaved, so drift hits both alike
            with tempfile.TemporaryDirectory() as tmp:
                wall, cpu, stored = await one_round(Path(tmp), data, path)
            assert stored == rows, f"{path}: {stored} rows stored, {rows} written"
            runs.append((wall, cpu))
    print(f"{args.batches} batches x {args.size} rows, median of {args.rounds} rounds")
    for path, runs in results.items():
        wall = statistics.median(w for w, _ in runs) / rows * 1e6
        cpu = statistics.median(c for _, c in runs) / rows * 1e6
        print(f"  {path:6}  wall {wall:6.2f} us/row   cpu {cpu:6.2f} us/row")


if __name__ == "__main__":
    asyncio.run(main())
