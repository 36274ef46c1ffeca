"""Discovery: paste a URL (and a key), watch each probe step, review, save and start.
A scan lists what ``desk scan`` finds on this machine, ready to add.

Both go through the engine's one add flow (``engine/onboard.py``): **Detect** plans
(each step shows as the flow reports it), **Save and start** proves and saves; a plan
that is not saved (detected again, a failed save, the app closing) leaves no secret.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, RichLog, Static

from endpoint_desk.core.errors import DeskError, LoginRequired
from endpoint_desk.core.models import slugify
from endpoint_desk.engine.onboard import AddPlan, AddRequest, AddStep, Onboarding
from endpoint_desk.engine.scan_add import ScanCandidate, scan_candidates
from endpoint_desk.tui.engine_link import describe_error
from endpoint_desk.tui.format import fmt_ms, mask_secret_ref, models_summary, role_color

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

PROBED = "OpenAI /v1/models, Anthropic, Gemini, Ollama /api/tags, page"


class DiscoveryPane(Vertical):
    """Add an endpoint by URL, or from a scan of this machine."""

    HELP = (
        "## Discovery\n"
        "Paste a URL: an API base (OpenAI-, Anthropic-, Gemini-, Ollama-style) or a web "
        "chat page, and an API key if it needs one (stored as a secret, never shown). "
        "`enter` or **Detect** probes it; each step shows as it happens. Review what was "
        "found (kind, models, evidence, confidence), then **Save and start**: the desk "
        "proves it with a live call before saving.\n\n"
        "**Scan** lists API keys in the environment (by variable name only) and local "
        "model servers; select a row to add it."
    )

    BINDINGS = [
        Binding("ctrl+s", "save", "Save+start", id="discovery.save", tooltip="Save and start"),
        Binding("ctrl+g", "scan", "Scan", id="discovery.scan", tooltip="Scan this machine"),
        Binding("escape", "leave", "Leave", id="discovery.leave", show=False),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.found: AddPlan | None = None
        """The plan under review (saved by **Save and start**)."""
        self.request: AddRequest | None = None
        """What was last asked for (planned again when a save failed)."""
        self.scan_rows: dict[str, ScanCandidate] = {}
        self._onboarding: Onboarding | None = None

    @property
    def desk_app(self) -> DeskApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="discovery-form"):
            yield Input(placeholder="URL, e.g. http://127.0.0.1:11434 or https://api…", id="d-url")
            with Horizontal(id="d-row"):
                yield Input(placeholder="API key (optional)", password=True, id="d-key")
                yield Input(placeholder="name (optional)", id="d-name")
            with Horizontal(id="d-cred"):
                yield Input(placeholder="login for the page (optional)", id="d-user")
                yield Input(placeholder="password (optional)", password=True, id="d-pass")
            with Horizontal(id="d-buttons"):
                yield Button("Detect", id="d-detect", variant="primary")
                yield Button("Save and start", id="d-save", variant="success", disabled=True)
                yield Button("Scan", id="d-scan")
            yield Static("", id="d-review")
            yield RichLog(id="d-steps", wrap=True, markup=False, max_lines=200)
            yield DataTable(id="d-scan-table", cursor_type="row")

    def on_mount(self) -> None:
        table = self.query_one("#d-scan-table", DataTable)
        table.add_columns("Found", "Kind", "Where", "Models")
        table.display = False
        self.query_one("#d-review").display = False
        self.query_one("#d-cred").display = False
        self.query_one("#d-steps", RichLog).border_title = "steps"

    def focus_default(self) -> None:
        self.query_one("#d-url", Input).focus()

    def action_leave(self) -> None:
        """``escape``: leave the text boxes (so the pane keys and ``q`` work again)."""
        self.query_one("#d-detect", Button).focus()

    # ------------------------------------------------------------------ steps

    def step(self, text: str, level: str = "info") -> None:
        """Show one probe step (with a word as well as a colour)."""
        colors = self.desk_app.role_colors()
        word, role = {
            "info": ("…", "accent"),
            "ok": ("ok", "success"),
            "fail": ("failed", "error"),
            "warn": ("note", "warning"),
        }[level]
        stamp = time.strftime("%H:%M:%S", time.localtime(self.desk_app.clock()))
        line = Text.assemble((f"{stamp} ", role_color(colors, "muted")))
        line.append(f"{word:>6} ", style=f"bold {role_color(colors, role)}")
        line.append(text)
        log = self.query_one("#d-steps", RichLog)
        log.write(line)
        log.scroll_visible(animate=False)

    # ------------------------------------------------------------------ detect

    @property
    def onboarding(self) -> Onboarding:
        """The engine's add flow, reporting each step here."""
        if self._onboarding is None:
            self._onboarding = Onboarding(self.desk_app.desk, self.show_step)
        return self._onboarding

    @on(Input.Submitted, "#d-url")
    @on(Button.Pressed, "#d-detect")
    def action_detect(self) -> None:
        url = self.query_one("#d-url", Input).value.strip()
        if not url:
            self.desk_app.notify("paste a URL first", severity="warning")
            self.focus_default()
            return
        user = self.query_one("#d-user", Input).value.strip()
        password = self.query_one("#d-pass", Input).value
        login = bool(user and password)
        self.plan_add(
            AddRequest(
                url=url,
                name=self.query_one("#d-name", Input).value.strip() or None,
                api_key=self.query_one("#d-key", Input).value.strip() or None,
                username=user if login else None,
                password=password if login else None,
            )
        )

    def plan_add(self, request: AddRequest) -> None:
        """Plan ``request`` in a worker: each step shows as it happens, then the review."""
        self.drop_plan()
        self.request = request
        self.query_one("#d-save", Button).disabled = True
        self.query_one("#d-review").display = False
        self.desk_app.run_worker(
            self._plan(request), group="discovery", exclusive=True, exit_on_error=False
        )

    async def _plan(self, request: AddRequest) -> None:
        try:
            plan = await self.onboarding.plan(request)
        except DeskError as exc:
            self.step(exc.one_line(), "fail")
            if isinstance(exc, LoginRequired):
                self.query_one("#d-cred").display = True
                self.step("fill the login and password above, then Detect again", "warn")
            return
        except Exception as exc:
            self.desk_app.show_error(exc, "Detecting")
            self.step(f"{type(exc).__name__}: {exc}", "fail")
            return
        if plan.detection is None and plan.discovery is None:
            for line in plan.evidence:
                self.step(f"found: {line}", "ok")
        self.show_found(plan)

    def show_step(self, step: AddStep) -> None:
        """One step of the engine's add flow, in words."""
        took = f" ({fmt_ms(step.ms)})" if step.ms else ""
        level = "info" if step.ok is None else ("ok" if step.ok else "fail")
        if step.stage == "probe":
            self.step(f"probing {step.text}: {PROBED}")
        elif step.stage == "evidence":
            self.step(f"found: {step.text}", level)
        elif step.stage == "detected":
            self.step(f"{step.text} (found in {fmt_ms(step.ms)})", level)
        elif step.stage == "web_chat":
            self.query_one("#d-cred").display = True
            self.step("a headless browser works the page out (this takes a while)…")
        elif step.stage == "web_step":
            self.step(f"{step.name}: {step.text}{took}", level)
        elif step.stage == "prove":
            self.step(f"proving {step.text} with a live call…")
        else:
            self.step(step.text, level)

    def show_found(self, plan: AddPlan) -> None:
        """Show what was found for review and enable saving."""
        self.found = plan
        spec = plan.spec
        name_box = self.query_one("#d-name", Input)
        if not name_box.value.strip():
            name_box.value = spec.name
        lines = [
            f"[b]kind[/b] {spec.kind.value}   [b]confidence[/b] {plan.confidence}",
            f"[b]base URL[/b] {escape(spec.base_url)}",
            f"[b]models[/b] {models_summary(spec.models, 60)}",
        ]
        if spec.api_key:
            lines.append(f"[b]key[/b] {escape(mask_secret_ref(spec.api_key))}")
        for key in ("input", "send", "assistant", "new_chat"):
            value = spec.options.get(key)
            if value:
                lines.append(f"[b]{key}[/b] {escape(str(value))}")
        lines.append("Check the name, then [b]Save and start[/b] (ctrl+s).")
        review = self.query_one("#d-review", Static)
        review.update("\n".join(lines))
        review.display = True
        self.query_one("#d-save", Button).disabled = False

    def drop_plan(self) -> None:
        """Forget the plan under review (its stored secrets are deleted)."""
        plan, self.found = self.found, None
        if plan is not None:
            self.onboarding.discard(plan)

    def on_unmount(self) -> None:
        self.drop_plan()

    # ------------------------------------------------------------------ save

    @on(Button.Pressed, "#d-save")
    def action_save(self) -> None:
        request = self.request
        if request is None:
            self.desk_app.notify("detect a URL first", severity="warning")
            return
        typed = self.query_one("#d-name", Input).value.strip()
        name = slugify(typed) if typed else (self.found.spec.name if self.found else None)
        if typed and not name:
            self.desk_app.notify("the name needs a letter or a digit", severity="error")
            return
        key = self.query_one("#d-key", Input).value.strip() or None
        if key and key != request.api_key:
            # a key pasted after detecting: plan again with it
            self.drop_plan()
            request = self.request = replace(request, api_key=key, api_key_env=None)
        self.query_one("#d-save", Button).disabled = True
        self.desk_app.run_worker(
            self._save(request, name), group="discovery", exclusive=True, exit_on_error=False
        )

    async def _save(self, request: AddRequest, name: str | None) -> None:
        plan, self.found = self.found, None  # the flow owns it now
        try:
            if plan is None:
                plan = await self.onboarding.plan(replace(request, name=name or request.name))
            view = await self.onboarding.commit(plan, name=name)
        except Exception as exc:
            title, line = describe_error(exc)
            self.step(f"{title}: {line}", "fail")
            self.step("nothing was saved and no secret kept; Save tries again", "warn")
            self.query_one("#d-save", Button).disabled = False
            return
        app = self.desk_app
        self.step(
            f"saved {view.name}: {view.state.value}, answered in {fmt_ms(view.metrics.p50_ms)}",
            "ok",
        )
        app.notify(f"{view.name} added and {view.state.value}", title="Discovery")
        self.request = None
        for box in ("#d-url", "#d-key", "#d-name", "#d-user", "#d-pass"):
            self.query_one(box, Input).value = ""
        self.query_one("#d-review").display = False

    # ------------------------------------------------------------------ scan

    @on(Button.Pressed, "#d-scan")
    def action_scan(self) -> None:
        """Scan this machine and list what it found."""
        self.desk_app.run_worker(self._scan(), group="scan", exclusive=True, exit_on_error=False)

    async def _scan(self) -> None:
        from endpoint_desk.discovery.scanner import scan

        self.step("scanning the environment for API keys and localhost for model servers…")
        try:
            report = await scan()
        except DeskError as exc:
            self.step(exc.one_line(), "fail")
            return
        table = self.query_one("#d-scan-table", DataTable)
        table.clear()
        self.scan_rows.clear()
        taken = {v.name for v in self.desk_app.desk.endpoints()}
        for i, candidate in enumerate(scan_candidates(report)):
            key = f"found-{i}"
            self.scan_rows[key] = candidate
            models = candidate.request.models
            table.add_row(
                candidate.label,
                candidate.kind.value,
                candidate.where,
                models_summary(models, 30) if models else "(listed when added)",
                key=key,
            )
        count = len(self.scan_rows)
        ms = fmt_ms(report.elapsed_ms)
        self.step(f"scan found {count} candidate(s) in {ms}; select one to add it", "ok")
        if taken:
            self.step(f"already in the portfolio: {', '.join(sorted(taken)[:8])}")
        table.display = count > 0
        if count:
            table.focus()

    @on(DataTable.RowSelected, "#d-scan-table")
    def _scan_row(self, event: DataTable.RowSelected) -> None:
        candidate = self.scan_rows.get(str(event.row_key.value))
        if candidate is None:
            return
        request = candidate.request
        self.query_one("#d-url", Input).value = request.url
        self.query_one("#d-name", Input).value = request.name or ""
        self.plan_add(request)
        self.query_one("#d-save", Button).focus()
