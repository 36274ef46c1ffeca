"""Unit tests of the desk's pure helpers: formatting, the logbook, row diffs, help keys."""

from __future__ import annotations

import pytest

from endpoint_desk.core.models import EndpointKind, EndpointSpec, EndpointState
from endpoint_desk.engine.events import Alert, EndpointChanged, HealthChecked, RequestDone
from endpoint_desk.engine.metrics import EndpointMetrics
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.tui.detail import config_lines
from endpoint_desk.tui.format import (
    STATE_LOOK,
    fmt_count,
    fmt_duration,
    fmt_money,
    fmt_ms,
    fmt_pct,
    mask_secret_ref,
    mask_value,
    models_summary,
    sparkline,
    state_text,
)
from endpoint_desk.tui.logbook import Logbook
from endpoint_desk.tui.portfolio_table import render_cells, row_values, sort_value
from endpoint_desk.tui.settings_form import edited_pairs, form_values

COLORS = {"success": "#00ff00", "error": "#ff0000", "warning": "#ffff00", "muted": "#888888"}


def test_every_state_has_a_word_and_a_glyph_not_only_a_colour() -> None:
    for state in EndpointState:
        text = state_text(state.value, COLORS)
        glyph, word, _role = STATE_LOOK[state.value]
        assert text.plain == f"{glyph} {word}"
        assert state.value in text.plain


def test_number_formats() -> None:
    assert fmt_ms(None) == "–"
    assert fmt_ms(12.4) == "12 ms"
    assert fmt_ms(1234) == "1.2 s"
    assert fmt_ms(45_000) == "45 s"
    assert fmt_pct(None) == "–"
    assert fmt_pct(1.0) == "100%"
    assert fmt_pct(0.975) == "97.5%"
    assert fmt_money(0) == "$0"
    assert fmt_money(0.00001) == "<$0.0001"
    assert fmt_money(0.0042) == "$0.0042"
    assert fmt_money(12.345) == "$12.35"
    assert fmt_count(999) == "999" and fmt_count(1500) == "1.5k"
    assert fmt_count(2_500_000) == "2.5M"
    assert fmt_duration(5) == "5s" and fmt_duration(120) == "2m" and fmt_duration(7200) == "2h"
    assert fmt_duration(-3) == "0s"


def test_sparkline_scales_to_its_own_range() -> None:
    assert sparkline([], 4) == "····"
    assert sparkline([1, 1, 1], 3) == "▁▁▁"
    line = sparkline([0, 50, 100], 3)
    assert line[0] == "▁" and line[-1] == "█"
    assert len(sparkline(list(range(20)), 8)) == 8


def test_secrets_are_masked() -> None:
    assert mask_secret_ref("env:OPENAI_API_KEY") == "env:OPENAI_API_KEY"
    assert mask_secret_ref(None) == "–"
    masked = mask_value("sk-abcdefghijklmnop")
    assert "abcdefghijkl" not in masked and masked.startswith("sk-a")
    assert mask_value("short") == "•••••"


def test_models_summary() -> None:
    assert models_summary([]) == "any"
    assert models_summary(["a", "b"]) == "a, b"
    summary = models_summary([f"model-{i}" for i in range(10)], 24)
    assert len(summary) <= 24 and summary.endswith("(+8)")


def test_logbook_turns_events_into_lines() -> None:
    book = Logbook(maxlen=3)
    book.add_event(RequestDone("r1", "a", "m", True, 120.0, 40.0, cost=0.002))
    book.add_event(RequestDone("r2", "b", "m", False, 30.0, error="Unreachable: gone"))
    book.add_event(Alert("error", "b", "Tripped", "5 of 6 failed"))
    book.add_event(HealthChecked("a", True, 12.0))
    assert len(book) == 3  # bounded
    lines = list(book)
    assert lines[0].level == "error" and "Unreachable" in lines[0].message
    assert lines[1].kind == "alert" and lines[1].message == "Tripped: 5 of 6 failed"
    assert lines[2].kind == "health" and "healthy" in lines[2].message
    assert book.alert_count == 1
    assert [e.endpoint for e in book.of("b")] == ["b", "b"]
    assert book.since(lines[1].seq) == [lines[2]]
    assert lines[0].matches("b unreachable") and not lines[0].matches("health")
    removed = book.add_event(EndpointChanged("b", "removed", removed=True))
    assert removed is not None and removed.message == "removed"
    embedded = book.add_event(RequestDone("r3", "a", "e", True, 9.0, kind="embeddings"))
    assert embedded is not None and embedded.message == "e (embeddings) ok in 9 ms"


def _view(name: str, state: EndpointState, demo: bool = False) -> EndpointView:
    spec = EndpointSpec(
        name=name, kind=EndpointKind.OPENAI, base_url="http://127.0.0.1:9", demo=demo
    )
    metrics = EndpointMetrics()
    metrics.record(True, 100.0, 30.0, 1, 2, 0.001)
    return EndpointView(name, spec, state, "", None, 0.0, metrics.snapshot())


def test_rows_render_and_sort() -> None:
    on = row_values(_view("alpha", EndpointState.ON, demo=True), now=10.0)
    tripped = row_values(_view("beta", EndpointState.TRIPPED), now=10.0)
    cells = render_cells(on, COLORS)
    assert cells[1].plain == "alpha demo"
    assert cells[2].plain == "● on"
    assert cells[4].plain == "100 ms"
    assert sort_value(on, "state") < sort_value(tripped, "state")
    # missing figures sort last
    assert sort_value({"p50": None}, "p50") > sort_value({"p50": 5.0}, "p50")


def test_detail_helpers() -> None:
    view = _view("gamma", EndpointState.ON)
    shown = form_values(view)
    assert shown["max_requests_per_minute"] == "" and shown["timeout_seconds"] == "30"
    assert shown["cache"] == "false" and shown["mapping"] == ""
    # only edited fields are sent; both prices emptied means "the price table"
    edited = {**shown, "timeout_seconds": "12.5", "mapping": "fast=gpt-4o"}
    assert edited_pairs(shown, edited, "note='two words' options.x=1") == [
        ("limits.timeout_seconds", "12.5"),
        ("model_mapping", "fast=gpt-4o"),
        ("note", "two words"),
        ("options.x", "1"),
    ]
    priced = {**shown, "input-price": "1", "output-price": "2"}
    cleared = {**priced, "input-price": "", "output-price": ""}
    assert edited_pairs(priced, cleared, "") == [("prices", "")]
    with pytest.raises(Exception, match="KEY=VALUE"):
        edited_pairs(shown, shown, "no-equals-sign")
    spec = view.spec.model_copy(
        update={"api_key": "file:gamma.api_key", "headers": {"X-Token": "abcdefghijklmnopq"}}
    )
    lines = dict(config_lines(EndpointView("gamma", spec, view.state, "", None, 0, view.metrics)))
    assert lines["API key"] == "file:gamma.api_key"
    assert lines["limits"].startswith("no rate limit · no concurrency limit · queue desk")
    assert "abcdefghijklmnopq" not in lines["header X-Token"]


def test_the_engine_layers_do_not_import_textual() -> None:
    import subprocess
    import sys

    code = (
        "import sys, endpoint_desk.engine.demo, endpoint_desk.engine.desk; "
        "print('textual' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
