"""The settings form of the endpoint detail screen: the settings people change most,
one field each, plus a ``KEY=VALUE`` line for any other (the keys of ``desk set``).

Saving sends only the fields that were edited, as text, to ``Desk.configure`` (the
same engine call as ``desk set`` and ``PATCH /api/endpoints/NAME``): all are applied or
none, and a bad value comes back as one line naming it.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.widgets import Button, Input, Label

from endpoint_desk.core.errors import ConfigError, DeskError
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.setting_keys import parse_assignments

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

#: (input id, setting key, label) of the form's fields, in order
FIELDS: tuple[tuple[str, str, str], ...] = (
    (
        "max_requests_per_minute",
        "limits.max_requests_per_minute",
        "requests / min (empty: no limit)",
    ),
    ("max_concurrent_requests", "limits.max_concurrent_requests", "concurrent (empty: no limit)"),
    ("queue_seconds", "limits.queue_seconds", "queue time, s (empty: desk's)"),
    ("timeout_seconds", "limits.timeout_seconds", "timeout (s)"),
    ("retry_attempts", "limits.retry_attempts", "retries (other endpoints)"),
    ("health_check_interval", "limits.health_check_interval", "health check every (s)"),
    ("daily_budget", "limits.daily_budget", "daily budget (USD, empty: none)"),
    ("weight", "weight", "weight (weighted strategy)"),
    ("tier", "tier", "tier (lower first)"),
    ("mapping", "model_mapping", "model mapping (asked=upstream, …)"),
    ("default-model", "default_model", "default model"),
    ("input-price", "prices.input_per_mtok", "input $/Mtok (empty: price table)"),
    ("output-price", "prices.output_per_mtok", "output $/Mtok (empty: price table)"),
    ("cache", "cache", "reply cache (true / false)"),
)
MORE = "more"
"""The id of the free ``KEY=VALUE …`` field."""


def form_values(view: EndpointView) -> dict[str, str]:
    """The text of every field for an endpoint (``""`` for an unset value)."""
    spec = view.spec
    values: dict[str, str] = {}
    for field_id, key, _label in FIELDS:
        node: Any = spec
        for part in key.split("."):
            node = getattr(node, part, None) if node is not None else None
        if isinstance(node, bool):
            text = "true" if node else "false"
        elif isinstance(node, float):
            text = f"{node:g}"
        elif isinstance(node, dict):
            text = ", ".join(f"{a}={b}" for a, b in node.items())
        else:
            text = "" if node is None else str(node)
        values[field_id] = text
    return values


def edited_pairs(shown: dict[str, str], now: dict[str, str], more: str) -> list[tuple[str, str]]:
    """The ``(key, text)`` pairs to send: the fields whose text changed, plus the free
    ``KEY=VALUE`` line. Both prices emptied means "the price table" (``prices=``).

    Raises:
        ConfigError: the free line does not read as ``KEY=VALUE`` pairs.
    """
    keys = {field_id: key for field_id, key, _label in FIELDS}
    changed = [fid for fid in keys if now.get(fid, "") != shown.get(fid, "")]
    prices = ("input-price", "output-price")
    pairs: list[tuple[str, str]]
    if any(f in changed for f in prices) and not any(now.get(f, "").strip() for f in prices):
        pairs = [("prices", "")]
        changed = [f for f in changed if f not in prices]
    else:
        pairs = []
    pairs.extend((keys[fid], now.get(fid, "")) for fid in changed)
    if more.strip():
        try:
            words = shlex.split(more)
        except ValueError as exc:
            raise ConfigError(f"more settings: {exc}") from None
        pairs.extend(parse_assignments(words))
    return pairs


class SettingsForm(Vertical):
    """The Settings tab: fields, **Save** and **Reset**.

    Args:
        endpoint: the endpoint's name.
    """

    def __init__(self, endpoint: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.endpoint = endpoint
        self.shown: dict[str, str] = {}
        """The text each field had when filled (what "edited" compares with)."""

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with Grid(id="detail-form"):
            for field_id, _key, label in FIELDS:
                yield Label(label)
                yield Input(id=f"f-{field_id}")
            yield Label("more: KEY=VALUE … (as desk set)")
            yield Input(id=f"f-{MORE}", placeholder="options.reply_timeout=90 note='…'")
        with Horizontal(classes="dialog-buttons"):
            yield Button("Save", id="detail-save", variant="primary")
            yield Button("Reset", id="detail-reset")

    def fill(self, view: EndpointView) -> None:
        """Show an endpoint's current settings (what was typed and not saved goes)."""
        self.shown = form_values(view)
        for field_id, text in self.shown.items():
            self.query_one(f"#f-{field_id}", Input).value = text
        self.query_one(f"#f-{MORE}", Input).value = ""

    def pairs(self) -> list[tuple[str, str]]:
        """The edited settings as ``(key, text)`` pairs for ``Desk.configure``."""
        now = {fid: self.query_one(f"#f-{fid}", Input).value for fid in self.shown}
        return edited_pairs(self.shown, now, self.query_one(f"#f-{MORE}", Input).value)

    @on(Button.Pressed, "#detail-save")
    def save(self) -> None:
        """Apply the edited fields, all or none; a bad value shows its one line."""
        app = self.desk_app
        try:
            pairs = self.pairs()
        except DeskError as exc:
            app.show_error(exc, "Settings")
            return
        if not pairs:
            app.notify("nothing changed", title="Settings", timeout=3)
            return
        name = self.endpoint

        async def save() -> None:
            try:
                done = await app.desk.configure(name, pairs, text=True)
            except ConfigError as exc:
                app.show_error(exc, "Settings not saved")
                return
            self.fill(done.view)
            lines = [f"{key}: {old} → {new}" for key, old, new in done.changes[:6]]
            app.notify("\n".join(lines) or "nothing changed", title=f"Saved {name}")

        app.run_engine(save, f"Saving {name}")

    @on(Button.Pressed, "#detail-reset")
    def reset(self) -> None:
        """Back to the stored settings."""
        self.fill(self.desk_app.desk.endpoint(self.endpoint))


__all__ = ["FIELDS", "SettingsForm", "edited_pairs", "form_values"]
