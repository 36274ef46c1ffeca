"""The testing terminal: chat with one endpoint (or ``auto``), or compare several."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Checkbox, Input, Select, SelectionList, Static

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import ChatMessage, ChatRequest, ChatResult
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.dialogs import JsonScreen
from endpoint_desk.tui.format import fmt_money, fmt_ms

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

AUTO = "__auto__"


def meta_line(result: ChatResult) -> str:
    """``served by sim-fast · 120 ms · first token 40 ms · 12 tokens · $0.0001``."""
    u = result.usage
    tokens = f"{u.input_tokens}+{u.output_tokens} tokens" + (" (est.)" if u.estimated else "")
    parts = [
        f"served by {result.endpoint}",
        f"model {result.model}" if result.model else "",
        fmt_ms(result.latency_ms),
        f"first token {fmt_ms(result.ttft_ms)}",
        tokens,
        fmt_money(u.cost),
    ]
    if len(result.attempts) > 1:
        parts.append(f"{len(result.attempts)} attempts")
    if result.cached:
        parts.append("cached")
    return " · ".join(p for p in parts if p)


class Exchange(Vertical):
    """One prompt and its streamed reply, with the reply's figures underneath."""

    def __init__(self, prompt: str, target: str, *, show_prompt: bool = True) -> None:
        super().__init__(classes="exchange")
        self.prompt = prompt
        self.target = target
        self.show_prompt = show_prompt
        self.text = ""
        self.result: ChatResult | None = None

    def compose(self) -> ComposeResult:
        if self.show_prompt:
            yield Static(Text.assemble(("you › ", "bold"), self.prompt), classes="prompt")
        yield Static(Text("…", style="italic"), classes="reply")
        yield Static(f"waiting for {self.target}…", classes="meta")

    def append(self, delta: str) -> None:
        """Add a streamed piece of the reply."""
        self.text += delta
        self.query_one(".reply", Static).update(Text(self.text))

    def finish(self, result: ChatResult) -> None:
        """The reply is complete: show who served it and what it cost."""
        self.result = result
        if not self.text:
            self.text = result.content
            self.query_one(".reply", Static).update(Text(self.text or "(empty reply)"))
        meta = self.query_one(".meta", Static)
        meta.update(meta_line(result))
        meta.add_class("done")

    def fail(self, message: str) -> None:
        """The request failed: say why, in words."""
        if not self.text:
            self.query_one(".reply", Static).update(Text("(no reply)", style="italic"))
        meta = self.query_one(".meta", Static)
        meta.update(Text.assemble(("error ", "bold"), message))
        meta.add_class("failed")


class TerminalPane(Vertical):
    """Chat with the selected endpoint or let the router choose; compare side by side."""

    HELP = (
        "## Testing terminal\n"
        "Type a message and press `enter`. The reply streams in; under it: the endpoint "
        "that served it, latency, time to first token, tokens and cost. Choose an endpoint "
        "or **auto** (the router chooses; failover happens before the first token).\n\n"
        "`f2` compare mode: tick several endpoints on the left and one prompt goes to all "
        "of them side by side. `ctrl+r` shows the standardized JSON of the last reply, "
        "`escape` stops a reply (or leaves the message box), `ctrl+l` clears the "
        "conversation."
    )

    BINDINGS = [
        Binding("ctrl+r", "json", "Result JSON", id="terminal.json", tooltip="Standardized JSON"),
        Binding("f2", "compare", "Compare", id="terminal.compare", tooltip="Side-by-side mode"),
        Binding("ctrl+l", "clear", "Clear", id="terminal.clear", tooltip="New conversation"),
        Binding("escape", "cancel", "Stop/leave", id="terminal.cancel", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.history: list[ChatMessage] = []
        self.last_results: list[ChatResult] = []
        self._names: tuple[str, ...] = ()
        self._busy = 0

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Horizontal(id="terminal-bar"):
            yield Select[str](
                [("auto (router chooses)", AUTO)],
                value=AUTO,
                allow_blank=False,
                id="terminal-target",
                prompt="endpoint",
            )
            yield Checkbox("compare", id="terminal-compare")
        with Horizontal(id="terminal-body"):
            yield SelectionList[str](id="compare-targets")
            with VerticalScroll(id="transcript"):
                yield Static(
                    "Say something to an endpoint. Replies stream in here.",
                    id="transcript-hint",
                )
            yield Horizontal(id="compare-columns")
        yield Input(placeholder="message… (enter sends)", id="prompt")

    def on_mount(self) -> None:
        self.query_one("#compare-targets").display = False
        self.query_one("#compare-columns").display = False
        self.query_one("#compare-targets").border_title = "compare"

    def focus_default(self) -> None:
        self.query_one("#prompt", Input).focus()

    @property
    def compare_mode(self) -> bool:
        return self.query_one("#terminal-compare", Checkbox).value

    @property
    def target(self) -> str | None:
        """The endpoint chosen, or None for auto."""
        value = self.query_one("#terminal-target", Select).value
        return None if value in (AUTO, Select.BLANK) else str(value)

    # ------------------------------------------------------------------ endpoints

    def endpoints_changed(self, views: Sequence[EndpointView] | None = None) -> None:
        """Keep the choices in step with the portfolio (current choice kept)."""
        app = self.desk_app
        if not app.desk_ready:
            return
        if views is None:
            views = app.desk.endpoints()
        names = tuple(sorted(v.name for v in views))
        if names == self._names:
            return
        self._names = names
        select = self.query_one("#terminal-target", Select)
        current = select.value
        select.set_options([("auto (router chooses)", AUTO), *((n, n) for n in names)])
        select.value = current if current in names else AUTO
        chooser = self.query_one("#compare-targets", SelectionList)
        picked = set(chooser.selected)
        chooser.clear_options()
        chooser.add_options([(n, n, n in picked) for n in names])

    def select_endpoint(self, name: str) -> None:
        """Chat with ``name`` (from the portfolio's ``c``)."""
        self.endpoints_changed()
        select = self.query_one("#terminal-target", Select)
        if name in self._names:
            select.value = name
        self.focus_default()

    @on(Select.Changed, "#terminal-target")
    def _target_changed(self) -> None:
        self.history.clear()

    # ------------------------------------------------------------------ sending

    @on(Input.Submitted, "#prompt")
    def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        app = self.desk_app
        if not app.desk_ready:
            app.notify("the desk is still opening", severity="warning")
            return
        event.input.value = ""
        self.query_one("#transcript-hint").display = False
        if self.compare_mode:
            self.send_compare(text)
        else:
            self.send(text)

    def send(self, text: str) -> None:
        """Send ``text`` to the chosen endpoint (or auto), streaming the reply."""
        target = self.target
        transcript = self.query_one("#transcript", VerticalScroll)
        exchange = Exchange(text, target or "the router")
        transcript.mount(exchange)
        transcript.scroll_end(animate=False)
        self.history.append(ChatMessage("user", text))
        request = ChatRequest(messages=list(self.history), stream=True, include_usage=True)
        self.desk_app.run_worker(
            self._stream(request, target, exchange, transcript, text, keep_history=True),
            group="chat",
            name="chat",
            exit_on_error=False,
        )

    def send_compare(self, text: str) -> None:
        """Send one prompt to every ticked endpoint at once, side by side."""
        chooser = self.query_one("#compare-targets", SelectionList)
        targets = list(chooser.selected)
        if len(targets) < 2:
            self.desk_app.notify(
                "tick at least two endpoints on the left to compare", severity="warning"
            )
            self.query_one("#prompt", Input).value = text
            return
        columns = self.query_one("#compare-columns", Horizontal)
        existing = {
            str(c.name): c for c in columns.query(".compare-column").results(VerticalScroll)
        }
        for name in targets:
            column = existing.get(name)
            if column is None:
                column = VerticalScroll(classes="compare-column", name=name)
                column.border_title = name
                columns.mount(column)
            exchange = Exchange(text, name)
            column.mount(exchange)
            request = ChatRequest.from_text(text, stream=True, include_usage=True)
            self.desk_app.run_worker(
                self._stream(request, name, exchange, column, text, keep_history=False),
                group="chat",
                name=f"compare {name}",
                exit_on_error=False,
            )
        for name, column in existing.items():
            if name not in targets:
                column.remove()

    async def _stream(
        self,
        request: ChatRequest,
        target: str | None,
        exchange: Exchange,
        scroller: VerticalScroll,
        text: str,
        *,
        keep_history: bool,
    ) -> None:
        app = self.desk_app
        stream = app.desk.stream(request, endpoint=target)
        self._busy += 1
        try:
            async for chunk in stream:
                if chunk.delta:
                    pinned = scroller.scroll_y >= scroller.max_scroll_y - 1
                    exchange.append(chunk.delta)
                    if pinned:
                        scroller.call_after_refresh(scroller.scroll_end, animate=False)
            result = stream.result
            if result is None:
                raise DeskError("the stream ended without a result")
            exchange.finish(result)
            if keep_history:
                self.history.append(ChatMessage("assistant", result.content))
                self.last_results = [result]
            else:
                self.last_results = [*self.last_results[-7:], result]
        except asyncio.CancelledError:
            exchange.fail("stopped")
            await stream.aclose()
            raise
        except Exception as exc:
            from endpoint_desk.tui.engine_link import describe_error

            title, line = describe_error(exc)
            exchange.fail(f"{title}: {line}")
            if keep_history:
                if self.history and self.history[-1].role == "user":
                    self.history.pop()
                prompt = self.query_one("#prompt", Input)
                if not prompt.value:
                    prompt.value = text
        finally:
            self._busy -= 1
            scroller.call_after_refresh(scroller.scroll_end, animate=False)

    # ------------------------------------------------------------------ actions

    def action_json(self) -> None:
        if not self.last_results:
            self.desk_app.notify("no reply yet", severity="warning")
            return
        data: Any = (
            self.last_results[-1].to_dict()
            if len(self.last_results) == 1
            else [r.to_dict() for r in self.last_results]
        )
        self.app.push_screen(JsonScreen("Standardized result", data))

    def action_compare(self) -> None:
        box = self.query_one("#terminal-compare", Checkbox)
        box.value = not box.value

    @on(Checkbox.Changed, "#terminal-compare")
    def _compare_toggled(self, event: Checkbox.Changed) -> None:
        on_ = event.value
        self.query_one("#compare-targets").display = on_
        self.query_one("#compare-columns").display = on_
        self.query_one("#transcript").display = not on_
        self.query_one("#terminal-target").disabled = on_
        if on_:
            self.last_results = []
            self.query_one("#compare-targets").focus()

    def action_clear(self) -> None:
        self.history.clear()
        self.last_results = []
        self.query_one("#transcript").query(".exchange").remove()
        self.query_one("#compare-columns").query(".compare-column").remove()
        self.query_one("#transcript-hint").display = True

    def action_cancel(self) -> None:
        """``escape``: stop the replies in flight; with none, leave the message box (so
        the pane keys and ``q`` work again)."""
        if self._busy:
            self.desk_app.workers.cancel_group(self.desk_app, "chat")
            return
        target = "#compare-targets" if self.compare_mode else "#transcript"
        self.query_one(target).focus()
