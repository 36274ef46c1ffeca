"""The quick test behind the ``t`` key (portfolio and endpoint detail): one short
message to one endpoint, the answer and its figures in a notification.

An endpoint a person switched OFF is not tested behind their back: the desk asks
first, and a confirmed test says it tested an OFF endpoint (it stays OFF).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from endpoint_desk.tui.dialogs import ConfirmScreen
from endpoint_desk.tui.format import fmt_money, fmt_ms

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

PROMPT = "Reply with the word OK."


def quick_test(app: DeskApp, name: str, after: Callable[[], object] | None = None) -> None:
    """Test ``name`` in a worker (after a confirmation when it is switched OFF); call
    ``after`` once it answered."""

    def run(force: bool) -> None:
        off = " (switched OFF)" if force else ""
        app.notify(f"testing {name}{off}…", title="Test", timeout=2)

        async def test() -> None:
            result = await app.desk.test(name, PROMPT, force=force)
            reply = result.content.strip().replace("\n", " ")
            if len(reply) > 60:
                reply = reply[:59] + "…"
            app.notify(
                f"“{reply}” in {fmt_ms(result.latency_ms)}, first token "
                f"{fmt_ms(result.ttft_ms)}, {result.usage.total_tokens} tokens, "
                f"{fmt_money(result.usage.cost)}",
                title=f"{name} answered{off}",
            )
            if after is not None:
                after()

        app.run_engine(test, f"Testing {name}")

    if app.desk.endpoint(name).spec.enabled:
        run(False)
        return

    def confirmed(yes: bool | None) -> None:
        if yes:
            run(True)

    app.push_screen(
        ConfirmScreen(
            f"[b]{name}[/b] is switched OFF. Test it anyway?",
            "One real request goes to it; it stays OFF.",
            yes_label="Test",
        ),
        confirmed,
    )


__all__ = ["quick_test"]
