"""Simulated upstreams: ``desk sim`` (one local fake provider) and ``desk demo`` (the
"paper trading" portfolio of simulated endpoints inside the desk)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from endpoint_desk.cli.common import err, fmt_ms, fmt_pct, open_desk, out, run


def sim(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free port).")
    ] = 9100,
    latency: Annotated[float, typer.Option(help="Seconds before the answer starts.")] = 0.0,
    ttft: Annotated[float, typer.Option(help="Seconds before the first chunk.")] = 0.0,
    chunks: Annotated[int, typer.Option(help="Chunks per streamed reply.")] = 8,
    chunk_delay: Annotated[float, typer.Option(help="Seconds between chunks.")] = 0.0,
    fail_rate: Annotated[float, typer.Option(help="Share of requests that fail (0..1).")] = 0.0,
    fail_status: Annotated[int, typer.Option(help="Status of a failed request.")] = 500,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Require this key from clients.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the random failures.")] = None,
) -> None:
    """Run a local simulated upstream (OpenAI, Anthropic, Gemini, Ollama, jobs)."""
    from endpoint_desk.sim import SimConfig, run_sim

    config = SimConfig(
        latency=latency,
        ttft=ttft,
        chunks=chunks,
        chunk_delay=chunk_delay,
        fail_rate=fail_rate,
        fail_status=fail_status,
        api_key=api_key,
        seed=seed,
    )
    try:
        run_sim(host, port, config)
    except OSError as exc:
        err.print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


def demo(
    remove: Annotated[bool, typer.Option("--remove", help="Remove every demo endpoint.")] = False,
    seconds: Annotated[
        float, typer.Option("--seconds", help="Without a terminal: trade this long, then stop.")
    ] = 10.0,
) -> None:
    """The demo portfolio ("paper trading"): simulated endpoints inside the desk."""
    from endpoint_desk.engine import demo as demo_mod

    if remove:

        async def drop() -> None:
            async with open_desk() as desk:
                names = await demo_mod.remove_demo(desk)
            shown = f": {', '.join(names)}" if names else ""
            out.print(f"removed {len(names)} demo endpoints{shown}")

        run(drop)
        return
    if sys.stdout.isatty():
        from endpoint_desk.tui.app import run_app

        run_app(demo=True)
        return

    async def trade() -> None:
        async with open_desk(autostart=True) as desk:
            try:
                views = await demo_mod.start_demo(desk)
                out.print(f"demo: {len(views)} simulated endpoints trading for {seconds:g} s ...")
                await asyncio.sleep(max(0.0, seconds))
                for v in desk.endpoints():
                    if v.spec.demo:
                        m = v.metrics
                        plural = "" if m.requests == 1 else "s"
                        out.print(
                            f"  {v.name:<14} {v.state.value:<9} ok {fmt_pct(m.success_rate):>6}  "
                            f"p50 {fmt_ms(m.p50_ms):>8}  {m.requests} request{plural}"
                        )
            finally:
                await demo_mod.stop_demo_servers(desk)
        out.print(
            "demo endpoints stay in the portfolio (marked demo); `desk demo --remove` removes them"
        )

    run(trade)
