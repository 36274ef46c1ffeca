"""``desk serve``: the desk with no UI, serving OpenAI's /v1, the /api management API,
/health and /metrics until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from endpoint_desk.cli.common import err, open_desk, out, run
from endpoint_desk.core.errors import BadRequest


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: config, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", "-p", min=0, max=65535, help="Port (default: config, 8765)."),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="Bearer key clients must send: a value or env:NAME / file:NAME "
            "(default: DESK_API_KEY or [server] api_key).",
        ),
    ] = None,
    generate_key: Annotated[
        bool,
        typer.Option(
            "--generate-key", help="Generate a key, store it as a secret, and print it once."
        ),
    ] = False,
    grace: Annotated[
        float, typer.Option("--grace", min=0, help="Seconds in-flight requests get on stop.")
    ] = 5.0,
) -> None:
    """Serve the desk with no UI: OpenAI's /v1, the /api management API, /health, /metrics."""

    async def go() -> None:
        import signal

        from endpoint_desk.server.app import resolve_key, start_server, tune_gc
        from endpoint_desk.server.auth import SECRET_NAME
        from endpoint_desk.server.auth import generate_key as new_key

        if api_key and generate_key:
            raise BadRequest("give either --api-key or --generate-key, not both")
        async with open_desk(autostart=True) as desk:
            key: str | None = None
            if generate_key:
                key = new_key()
                ref = desk.secrets.put(SECRET_NAME, key)
                err.print(
                    f"generated an API key, stored as secret {ref} (shown only now):\n  {key}\n"
                    f'reuse it with DESK_API_KEY={ref} or [server] api_key = "{ref}"'
                )
            elif api_key:
                key = resolve_key(desk, api_key)
            server = await start_server(desk, host, port, api_key=key, grace=grace)
            tune_gc()
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            signals = (signal.SIGINT, signal.SIGTERM)
            for sig in signals:
                loop.add_signal_handler(sig, stop.set)
            try:
                views = desk.endpoints()
                serving = sum(1 for v in views if v.state.serving)
                protected = bool(key or resolve_key(desk, desk.settings.server.api_key))
                out.print(
                    f"desk serving on {server.url}  (OpenAI base URL: {server.url}/v1; "
                    f"Anthropic: {server.url})"
                )
                err.print(
                    f"endpoints: {serving} serving of {len(views)}; "
                    + ("bearer key required" if protected else "no key (this machine only)")
                    + "; Ctrl-C stops"
                )
                await stop.wait()
                err.print(f"stopping: in-flight requests get {grace:g} s ...")
            finally:
                for sig in signals:
                    loop.remove_signal_handler(sig)
                await server.aclose()
        err.print("stopped")

    run(go)
