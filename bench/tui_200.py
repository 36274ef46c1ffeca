"""How responsive is the desk with 200 endpoints updating every second?

Runs the real app headless (Textual Pilot) over a real engine (Desk on a temporary
DESK_HOME) with N endpoints. Load: every endpoint finishes one request per second,
spread over the second (N outcomes/s recorded into the engine's metrics and published
as ``RequestDone`` events on the engine's bus, exactly what a served request does;
``--real`` sends real requests to ``desk sim`` upstreams instead).

Measured while the load runs:

- refresh batch: time to apply a burst of changes to the portfolio and the ticker
  (``DeskApp.refresh_portfolio``, one ``batch_update``), mean / p95 / max;
- input latency: a key press (``down`` in the portfolio) until the cursor moved and
  the app went idle (Pilot ``press``), median / p95 / max;
- event-loop lag: how late a 20 ms sleep wakes up, p95 / max.

Usage: ``python bench/tui_200.py [--endpoints 200] [--seconds 10] [--real] [--size 160x50]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def main(n: int, seconds: float, real: bool, size: tuple[int, int]) -> None:
    os.environ["DESK_HOME"] = tempfile.mkdtemp(prefix="desk-bench-")
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.core.models import ChatRequest, EndpointKind, EndpointSpec
    from endpoint_desk.engine.desk import Desk
    from endpoint_desk.engine.events import RequestDone
    from endpoint_desk.sim import SimConfig, SimServer
    from endpoint_desk.tui.app import DeskApp

    settings = load_settings(server={"port": 0}, health={"enabled": False})
    sims: list[SimServer] = []
    if real:
        for _ in range(4):
            sim = SimServer(SimConfig(latency=0.01, chunks=2))
            await sim.start()
            sims.append(sim)
    t0 = time.perf_counter()
    async with Desk(settings, autostart=False) as setup:
        for i in range(n):
            url = (sims[i % len(sims)].url + "/v1") if sims else "http://127.0.0.1:9"
            spec = EndpointSpec(
                name=f"ep-{i:03d}", kind=EndpointKind.OPENAI, base_url=url, models=["m"]
            )
            await setup.add(spec, prove=False, start=True)
    print(f"stored {n} endpoints in {time.perf_counter() - t0:.1f} s")
    app = DeskApp(settings, refresh_interval=1.0)
    t0 = time.perf_counter()
    async with app.run_test(size=size) as pilot:
        while not app.desk_ready or app.query_one("#portfolio-table").row_count < n:  # type: ignore[attr-defined]
            await pilot.pause(0.05)
        print(f"desk open with {n} rows in {time.perf_counter() - t0:.2f} s")
        desk = app.desk
        app.action_pane("portfolio")
        app.refresh_count = 0
        app.refresh_seconds = 0.0
        app.refresh_max = 0.0

        stop = asyncio.Event()
        rng = random.Random(1)
        sent = 0

        async def synthetic() -> None:
            nonlocal sent
            names = [v.name for v in desk.endpoints()]
            positions = desk.portfolio.positions
            while not stop.is_set():
                start = time.perf_counter()
                for i, name in enumerate(names):
                    ok = rng.random() > 0.05
                    lat = rng.uniform(50, 900)
                    positions[name].metrics.record(ok, lat, lat / 3, 20, 40, 0.0001)
                    desk.totals.record(ok, lat, lat / 3, 20, 40, 0.0001)
                    desk.bus.publish(RequestDone(f"r{sent}", name, "m", ok, lat, lat / 3))
                    sent += 1
                    if i % 20 == 19:  # spread the second's outcomes over the second
                        await asyncio.sleep(
                            max(0.0, (i + 1) / len(names) - (time.perf_counter() - start))
                        )
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - start)))

        async def realload() -> None:
            nonlocal sent
            names = [v.name for v in desk.endpoints()]

            async def one(name: str) -> None:
                nonlocal sent
                try:
                    await desk.chat(
                        ChatRequest.from_text("hi", model="m", stream=True), endpoint=name
                    )
                finally:
                    sent += 1

            while not stop.is_set():
                start = time.perf_counter()
                tasks = []
                for i, name in enumerate(names):
                    tasks.append(asyncio.create_task(one(name)))
                    if i % 20 == 19:
                        await asyncio.sleep(
                            max(0.0, (i + 1) / len(names) - (time.perf_counter() - start))
                        )
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - start)))

        lags: list[float] = []
        table = app.query_one("#portfolio-table")
        table.focus()

        async def lag_probe() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await asyncio.sleep(0.02)
                lags.append((time.perf_counter() - t - 0.02) * 1000)

        # baseline: the same probes with the desk idle (shows how busy the machine is)
        idle_probe = asyncio.create_task(lag_probe())
        idle_keys: list[float] = []
        for _ in range(10):
            before = table.cursor_row  # type: ignore[attr-defined]
            t = time.perf_counter()
            app.simulate_key("down" if before < n - 1 else "home")
            while table.cursor_row == before:  # type: ignore[attr-defined]
                await asyncio.sleep(0.0005)
            idle_keys.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.2)
        stop.set()
        await idle_probe
        idle_lags, lags[:] = list(lags), []
        stop.clear()
        load = asyncio.create_task(realload() if real else synthetic())
        probe = asyncio.create_task(lag_probe())
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            before = table.cursor_row  # type: ignore[attr-defined]
            key = "down" if before < n - 1 else "home"
            t = time.perf_counter()
            app.simulate_key(key)
            while table.cursor_row == before:  # type: ignore[attr-defined]
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t > 10:
                    print("warning: the cursor did not move in 10 s")
                    break
            latencies.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(load, probe, return_exceptions=True)
        for sim in sims:
            await sim.stop()
        count = max(1, app.refresh_count)
        print(
            f"load: {n} endpoints, {sent / seconds:.0f} request outcomes/s for {seconds:g} s, "
            f"terminal {size[0]}x{size[1]}"
        )
        print(
            f"refresh batches: {app.refresh_count} ({app.refresh_count / seconds:.1f}/s), "
            f"mean {app.refresh_seconds / count * 1000:.1f} ms, max {app.refresh_max * 1000:.1f} ms"
        )
        print(
            f"input latency (key event -> cursor moved): median "
            f"{statistics.median(latencies):.1f} ms, p95 {pct(latencies, 0.95):.1f} ms, "
            f"max {max(latencies):.1f} ms over {len(latencies)} presses"
        )
        print(f"event-loop lag: p95 {pct(lags, 0.95):.1f} ms, max {max(lags):.1f} ms")
        print(
            f"idle baseline (same machine, no load): input median "
            f"{statistics.median(idle_keys):.1f} ms, max {max(idle_keys):.1f} ms; "
            f"loop lag p95 {pct(idle_lags, 0.95):.1f} ms, max {max(idle_lags):.1f} ms"
        )
        print(f"cpus {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--real", action="store_true", help="real requests to desk sim")
    parser.add_argument("--size", default="160x50", help="terminal WIDTHxHEIGHT")
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.lower().split("x"))
    asyncio.run(main(args.endpoints, args.seconds, args.real, (width, height)))
