"""What every ``desk`` command shares: running a coroutine under the desk's error
policy, opening the engine, printing JSON and the figures' short formats.

Every expected failure prints one line naming the problem and exits non-zero; a
traceback goes only to the log file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from endpoint_desk.core.errors import DeskError

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command with the desk's error policy."""

    async def main() -> T:
        return await coro_fn()

    try:
        try:
            import uvloop

            return uvloop.run(main())  # type: ignore[no-any-return]
        except ImportError:
            return asyncio.run(main())
    except DeskError as exc:
        err.print(f"[red]error[/red]: {exc.one_line()}", markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def open_desk(autostart: bool = False) -> Any:
    """The engine over the user's settings, to use as ``async with open_desk() as desk``."""
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.engine.desk import Desk

    return Desk(load_settings(), autostart=autostart)


def print_json(data: Any) -> None:
    """``--json`` output: indented, non-ASCII kept, flushed at once."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fmt_ms(v: float | None) -> str:
    """A latency for a table cell (``-`` when there is none yet)."""
    return "-" if v is None else f"{v:.0f}ms"


def fmt_pct(v: float | None) -> str:
    """A share for a table cell (``-`` when there is none yet)."""
    return "-" if v is None else f"{v * 100:.0f}%"
