"""Small modal screens: confirmation and a JSON viewer."""

from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing something that cannot be undone; ``y``/``n``/``esc``."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "", *, yes_label: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes_label = yes_label

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box", classes="dialog"):
            yield Static(self.question, id="confirm-question")
            if self.detail:
                yield Static(self.detail, id="confirm-detail")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes_label} (y)", id="confirm-yes", variant="error")
                yield Button("Cancel (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)


class JsonScreen(ModalScreen[None]):
    """Show a JSON document (the standardized result); ``esc`` closes."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="json.close")]

    def __init__(self, title: str, data: Any) -> None:
        super().__init__()
        self.title_text = title
        self.data = data

    def compose(self) -> ComposeResult:
        text = json.dumps(self.data, indent=2, ensure_ascii=False)
        with Vertical(id="json-box", classes="dialog"):
            yield Static(f"[b]{self.title_text}[/b]  (esc closes)", id="json-title")
            with VerticalScroll(id="json-scroll"):
                yield Static(
                    Syntax(text, "json", theme="ansi_dark", word_wrap=True), id="json-body"
                )

    def on_mount(self) -> None:
        self.query_one("#json-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)
