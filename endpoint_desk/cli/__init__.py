"""``desk``: one-liners over the engine. Each command is a thin call into ``Desk``.

This module is the table of contents: the Typer app, the no-command default (the
terminal UI), and every command registered in the order ``desk --help`` lists them.
Each command group lives in its own module:

- ``add``: ``desk add`` (APIs and web chat pages)
- ``scan``: ``desk scan`` (keys in the environment, local model servers)
- ``portfolio``: ``ls``, ``start``, ``stop``, ``rm``, ``test``
- ``settings``: ``set``, ``show`` (an endpoint's settings)
- ``session``: ``login`` (a web chat's browser session), ``paths``
- ``sim``: ``sim`` (one simulated upstream), ``demo`` (the demo portfolio)
- ``serve``: the desk with no UI
- ``common``: running a command under the error policy, opening the desk, printing

Every expected failure prints one line naming the problem and exits non-zero; a
traceback goes only to the log file.
"""

from __future__ import annotations

import sys

import typer

from endpoint_desk.cli import add, portfolio, scan, serve, session, settings, sim
from endpoint_desk.cli.common import err, out
from endpoint_desk.core.errors import DeskError

app = typer.Typer(
    name="desk",
    help="A terminal trading desk for AI endpoints.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """Open the desk (the terminal UI)."""
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdout.isatty():
        from endpoint_desk.tui.app import run_app

        run_app()
        return
    portfolio.ls(json_out=False)
    out.print(
        "\nAdd an endpoint:  desk add URL [--name NAME] [--api-key-env VAR]\n"
        "Try one locally:  desk sim --port 9100   then   desk add http://127.0.0.1:9100 --name sim"
    )


for _command in (
    add.add,
    scan.scan,
    portfolio.ls,
    portfolio.start,
    portfolio.stop,
    portfolio.rm,
    portfolio.test,
    settings.set_,
    settings.show,
    session.login,
    session.paths,
    sim.sim,
    serve.serve,
    sim.demo,
):
    app.command(name=_command.__name__.rstrip("_"))(_command)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except DeskError as exc:  # raised outside run(), e.g. while loading settings
        err.print(f"error: {exc.one_line()}")
        sys.exit(1)


__all__ = ["app", "main"]
