"""``desk scan``: provider keys in the environment and model servers on this machine,
each with the ``desk add`` line that adds it (``--add`` adds every API found)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from endpoint_desk.cli.common import open_desk, out, print_json, run


def scan(
    port: Annotated[
        list[int],
        typer.Option("--port", "-p", help="Port to probe (repeatable; default: the usual ones)."),
    ] = [],  # noqa: B006 - typer needs a literal default
    host: Annotated[str, typer.Option("--host", help="Host to probe.")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 2.0,
    add_found: Annotated[
        bool, typer.Option("--add", help="Add every API found (proved with a live call).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Find provider keys in the environment and local model servers; offer `desk add` lines."""

    async def go() -> None:
        from endpoint_desk.adapters.base import close_shared_resources
        from endpoint_desk.discovery.scanner import parse_ports
        from endpoint_desk.discovery.scanner import scan as run_scan

        ports = parse_ports(port) if port else None
        try:
            report = await run_scan(ports, host=host, timeout=timeout)
        finally:
            await close_shared_resources()
        added: list[dict[str, Any]] = []
        if add_found:
            added = await _scan_add(report, quiet=json_out)
        if json_out:
            print_json({**report.to_dict(), "added": added})
            return
        out.print(f"API keys in the environment ({len(report.keys)}):")
        for k in report.keys:
            extra = f" (also set: {', '.join(k.also_set)})" if k.also_set else ""
            out.print(f"  {k.label}: ${k.env_var} is set{extra}")
            out.print(f"    {k.command}")
        if not report.keys:
            out.print("  none of the known providers' variables is set")
        shown = ", ".join(str(p) for p in report.scanned_ports)
        out.print(f"Local servers (ports {shown}): {len(report.servers)} found")
        for s in report.servers:
            models = ", ".join(s.models[:5]) + (
                f" +{len(s.models) - 5}" if len(s.models) > 5 else ""
            )
            out.print(
                f"  :{s.port} {s.product} ({s.kind.value}){' models: ' + models if models else ''}"
            )
            for line in s.evidence[:2]:
                out.print(f"    why: {line}")
            out.print(f"    {s.command}")
        if report.commands and not add_found:
            out.print("Run a line above to add it, or `desk scan --add` to add every API found.")
        out.print(f"[dim]scan took {report.elapsed_ms:.0f} ms[/dim]", markup=True)

    run(go)


async def _scan_add(report: Any, *, quiet: bool) -> list[dict[str, Any]]:
    """Add what a scan found through the engine's add flow (APIs only; a web page or a
    server that wants a key needs `desk add URL`)."""
    from endpoint_desk.engine.scan_add import add_candidate, scan_candidates

    results: list[dict[str, Any]] = []
    async with open_desk() as desk:
        for candidate in scan_candidates(report):
            outcome = await add_candidate(desk, candidate)
            results.append(outcome.to_dict())
            if quiet or outcome.skipped:
                continue
            if outcome.view is None:
                out.print(f"  not added {outcome.name}: {outcome.reason}")
            else:
                view = outcome.view
                out.print(
                    f"  added {view.name} ({view.spec.kind.value}) at {view.spec.base_url}:"
                    f" {view.state.value}"
                )
    return results
