"""``desk set`` and ``desk show``: an endpoint's settings without hand-editing JSON.

Both are thin calls into the engine: ``Desk.configure`` (``engine/settings.py``) checks
and applies the pairs, all or nothing; ``engine/spec_view.py`` masks the secrets
``desk show`` prints.
"""

from __future__ import annotations

from typing import Annotated

import typer

from endpoint_desk.cli.common import open_desk, out, print_json, run
from endpoint_desk.engine.setting_keys import ALIASES, parse_assignments
from endpoint_desk.engine.spec_view import masked_spec, setting_lines

_ALIAS_HELP = ", ".join(f"{short}={full}" for short, full in ALIASES.items())


def set_(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    assignments: Annotated[
        list[str],
        typer.Argument(
            help="KEY=VALUE pairs, applied together or not at all. Keys as `desk show` "
            "prints them (limits.timeout_seconds, model_mapping.gpt-4, options.x...) or "
            f"short: {_ALIAS_HELP}. Values are read as JSON when they look like JSON; "
            "KEY= unsets an optional value.",
            show_default=False,
        ),
    ],
) -> None:
    """Change an endpoint's settings: desk set NAME rpm=100 timeout=10 ..."""

    async def go() -> None:
        pairs = parse_assignments(assignments)
        async with open_desk() as desk:
            done = await desk.configure(name, pairs, text=True)
            if not done.changes:
                out.print(f"{done.view.name}: nothing changed", markup=False)
                return
            for key, old, new in done.changes:
                out.print(f"{done.view.name}: {key} {old} -> {new}", markup=False)

    run(go)


def show(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Print an endpoint's whole configuration (secrets masked)."""

    async def go() -> None:
        async with open_desk() as desk:
            view = desk.endpoint(name)
            if json_out:
                print_json(masked_spec(view.spec))
                return
            switch = "ON" if view.spec.enabled else "OFF"
            reason = f" ({view.reason})" if view.reason else ""
            out.print(
                f"{view.name}: {view.spec.kind.value}, switched {switch}, "
                f"{view.state.value}{reason}",
                markup=False,
            )
            for key, value in setting_lines(view.spec):
                out.print(f"  {key} = {value}", markup=False)
            out.print(f"change one with: desk set {view.name} KEY=VALUE", markup=False)

    run(go)
