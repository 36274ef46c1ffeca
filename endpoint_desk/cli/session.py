"""The desk's local state: ``desk login`` (a web chat's saved browser session) and
``desk paths`` (where config, data, database, sessions and logs live)."""

from __future__ import annotations

from typing import Annotated

import typer

from endpoint_desk.cli.common import open_desk, out, print_json, run
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import EndpointKind


def login(
    name: Annotated[str, typer.Argument(help="Web chat endpoint name.")],
    headless: Annotated[
        bool,
        typer.Option("--headless", help="No window: sign in with the stored credentials only."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
) -> None:
    """Open a browser to sign in to a web chat once; the session is saved for the desk."""

    async def go() -> None:
        from endpoint_desk.adapters.webchat.login import interactive_login

        async with open_desk() as desk:
            view = desk.endpoint(name)
            if view.spec.kind != EndpointKind.WEB_CHAT:
                kind = view.spec.kind.value
                raise BadRequest(f"{view.name} is a {kind} endpoint, not a web chat")
            if not headless:
                out.print(f"Sign in to {view.name} in the browser window; waiting {timeout:g} s...")
            path = await interactive_login(
                view.spec, desk.secrets.resolve, headless=headless, timeout=timeout
            )
            out.print(f"{view.name}: signed in; session saved to {path}")

    run(go)


def paths(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print where config, data, database and logs live."""
    from endpoint_desk.core.paths import get_paths

    p = get_paths().as_dict()
    if json_out:
        print_json(p)
        return
    width = max(len(k) for k in p)
    for key, value in p.items():
        out.print(f"{key.ljust(width)}  {value}")
