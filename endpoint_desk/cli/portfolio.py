"""The portfolio one-liners: ``desk ls``, ``start``, ``stop``, ``rm`` and ``test``."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from endpoint_desk.cli.common import err, fmt_ms, fmt_pct, open_desk, out, print_json, run
from endpoint_desk.core.errors import BadRequest, DeskError, SwitchedOff
from endpoint_desk.core.tools import CAPABILITY_CODES, capability_codes


def ls(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the portfolio."""

    async def go() -> None:
        async with open_desk() as desk:
            views = desk.endpoints()
            if json_out:
                print_json([v.to_dict() for v in views])
                return
            if not views:
                out.print("The portfolio is empty.")
                return
            table = Table(box=None, header_style="bold", pad_edge=False)
            cols = ("NAME", "KIND", "STATE", "MODELS", "CAN", "OK%", "P50", "UPTIME", "COST", "URL")
            for col in cols:
                table.add_column(col, no_wrap=col != "URL", overflow="fold", min_width=len(col))
            for v in views:
                names = v.spec.answers_to()
                models = (
                    names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "") if names else ""
                )
                m = v.metrics
                reason = v.reason if len(v.reason) <= 40 else v.reason[:39] + "…"
                state = v.state.value + (f" ({reason})" if reason and not v.state.serving else "")
                table.add_row(
                    v.name,
                    v.spec.kind.value,
                    state,
                    models or "(any)",
                    capability_codes(v.capabilities),
                    fmt_pct(m.success_rate),
                    fmt_ms(m.p50_ms),
                    fmt_pct(m.uptime),
                    f"${m.cost_total:.4f}",
                    v.spec.base_url,
                )
            # piped into a file or another program: rows whole, never folded to 80
            # columns (a terminal folds at its own width)
            if out.is_terminal:
                out.print(table)
            else:
                width = Measurement.get(out, out.options.update(width=10_000), table).maximum
                Console(highlight=False, width=width).print(table)
            legend = ", ".join(f"{c} {n.replace('_', ' ')}" for n, c in CAPABILITY_CODES.items())
            out.print(f"[dim]CAN: {legend}[/dim]")

    run(go)


def start(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Switch an endpoint ON."""

    async def go() -> None:
        async with open_desk() as desk:
            view = await desk.start(name)
            if view.state.value == "error":
                raise DeskError(f"{view.name} could not start: {view.reason}")
            out.print(f"{view.name}: {view.state.value}")

    run(go)


def stop(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Switch an endpoint OFF (it stays off until you start it)."""

    async def go() -> None:
        async with open_desk() as desk:
            view = await desk.stop(name)
            out.print(f"{view.name}: {view.state.value}")

    run(go)


def rm(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove an endpoint (asks first unless --yes)."""

    async def go() -> None:
        async with open_desk() as desk:
            view = desk.endpoint(name)
            if not yes:
                if not sys.stdin.isatty():
                    raise BadRequest(f"not removing {view.name}: add --yes to confirm")
                if not typer.confirm(f"Remove {view.name} ({view.spec.base_url})?"):
                    out.print("kept")
                    return
            await desk.remove(view.name)
            out.print(f"removed {view.name}")

    run(go)


def test(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    message: Annotated[str, typer.Argument(help="The message to send.")] = "Say hello.",
    model: Annotated[str | None, typer.Option("--model", help="Model name to ask for.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the standardized result.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Test it even when it is switched OFF.")
    ] = False,
) -> None:
    """Send a message to one endpoint, stream the reply, and show the figures."""

    async def go() -> None:
        async with open_desk() as desk:
            view = desk.endpoint(name)
            if not view.spec.enabled:
                if not force:
                    raise SwitchedOff(
                        f"{view.name} is switched OFF, so it is not tested: `desk start "
                        f"{view.name}` switches it ON, `desk test {view.name} --force` tests "
                        "it anyway"
                    )
                err.print(f"{view.name} is switched OFF; testing it anyway (--force)")
            stream = desk.test_stream(view.name, message, model, force=force)
            async for chunk in stream:
                if chunk.delta and not json_out:
                    sys.stdout.write(chunk.delta)
                    sys.stdout.flush()
            result = stream.result
            assert result is not None
            if json_out:
                print_json(result.to_dict())
                return
            u = result.usage
            est = " (estimated)" if u.estimated else ""
            ttft = "-" if result.ttft_ms is None else f"{result.ttft_ms:.0f} ms"
            sys.stdout.write("\n")
            model_name = result.model or "-"
            out.print(
                f"[dim]-- {result.endpoint} · {model_name} · latency {result.latency_ms:.0f} ms"
                f" · first token {ttft} · tokens {u.input_tokens} in / {u.output_tokens} out{est}"
                f" · cost ${u.cost:.6f}[/dim]"
            )

    run(go)
