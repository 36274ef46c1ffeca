"""Discovery: paste a URL (and a key), watch each probe step, review, save and start.
A scan lists what ``desk scan`` finds on this machine, ready to add."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, RichLog, Static

from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.models import EndpointKind, EndpointSpec, slugify
from endpoint_desk.tui.format import fmt_ms, models_summary, role_color

if TYPE_CHECKING:
    from endpoint_desk.tui.app import DeskApp

WEBCHAT_MODULE = "endpoint_desk.discovery.webchat"
SCANNER_MODULE = "endpoint_desk.discovery.scanner"


def module_available(name: str) -> bool:
    """Whether an optional discovery module is part of this build."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def default_name(url: str) -> str:
    """A name from a URL: ``local-9100`` for localhost, else the host's main label."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "endpoint").lower()
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return slugify(f"local-{parts.port or 80}")
    labels = [x for x in host.split(".") if x not in ("www", "api", "chat", "com", "ai", "io")]
    return slugify(labels[0] if labels else host)


@dataclass
class Found:
    """What discovery found, waiting for the person's review."""

    kind: EndpointKind
    base_url: str
    models: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    confidence: str = "medium"
    api_key_ref: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    spec: EndpointSpec | None = None


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
        self.found: Found | None = None
        self.scan_rows: dict[str, Any] = {}

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

    @on(Input.Submitted, "#d-url")
    @on(Button.Pressed, "#d-detect")
    def action_detect(self) -> None:
        url = self.query_one("#d-url", Input).value.strip()
        if not url:
            self.desk_app.notify("paste a URL first", severity="warning")
            self.focus_default()
            return
        if not url.startswith(("http://", "https://")):
            url = "http://" + url
        key = self.query_one("#d-key", Input).value.strip() or None
        self.found = None
        self.query_one("#d-save", Button).disabled = True
        self.query_one("#d-review").display = False
        self.desk_app.run_worker(
            self._detect(url, key), group="discovery", exclusive=True, exit_on_error=False
        )

    async def _detect(self, url: str, key: str | None) -> None:
        from endpoint_desk.discovery.probe import detect

        self.step(f"probing {url}: OpenAI /v1/models, Anthropic, Gemini, Ollama /api/tags, page")
        started = time.perf_counter()
        try:
            det = await detect(url, api_key=key, progress=lambda line: self.step(line))
        except DeskError as exc:
            self.step(exc.one_line(), "fail")
            return
        except Exception as exc:
            self.desk_app.show_error(exc, "Detecting")
            self.step(f"{type(exc).__name__}: {exc}", "fail")
            return
        took = fmt_ms((time.perf_counter() - started) * 1000)
        for line in det.evidence:
            self.step(f"found: {line}", "ok")
        self.step(f"it is {det.kind.value} at {det.base_url} (found in {took})", "ok")
        if det.needs_key and not key:
            self.step("it wants an API key: paste one above and detect again", "warn")
        if det.kind is EndpointKind.WEB_CHAT:
            await self._webchat(url, det)
            return
        confidence = "high" if det.models and det.evidence else "medium"
        self.show_found(
            Found(det.kind, det.base_url, list(det.models), list(det.evidence), confidence)
        )

    async def _webchat(self, url: str, det: Any) -> None:
        """A web chat page: the engine's web chat discovery drives it in a browser, and
        each of its steps shows here as it finishes."""
        self.query_one("#d-cred").display = True
        try:
            api = importlib.import_module("endpoint_desk.engine.api")
            configure = api.configure_web_chat_for
        except (ImportError, AttributeError):
            configure = None
        if configure is None or not module_available(WEBCHAT_MODULE):
            self.step(
                "this looks like a web page; configuring web chat pages needs the web chat "
                "discovery (endpoint_desk.discovery.webchat), which is not in this build yet",
                "warn",
            )
            return
        app = self.desk_app
        name = slugify(self.query_one("#d-name", Input).value.strip() or default_name(url))
        user = self.query_one("#d-user", Input).value.strip()
        password = self.query_one("#d-pass", Input).value
        refs: list[str] = []
        try:
            user_ref = pass_ref = None
            if user and password:
                user_ref = app.desk.store_secret(name, "username", user)
                pass_ref = app.desk.store_secret(name, "password", password)
                refs = [user_ref, pass_ref]

            def progress(step: Any) -> None:
                took = f" ({step.ms:.0f} ms)" if getattr(step, "ms", 0) else ""
                self.step(f"{step.name}: {step.detail}{took}", "ok" if step.ok else "fail")

            self.step("a headless browser works the page out (this takes a while)…")
            outcome = await configure(
                app.desk, url, name=name, username=user_ref, password=pass_ref, progress=progress
            )
        except DeskError as exc:
            for ref in refs:
                with contextlib.suppress(DeskError):
                    app.desk.secrets.delete(ref)
            self.step(exc.one_line(), "fail")
            if exc.kind == "login_required" or "login" in exc.title.lower():
                self.step("fill the login and password above, then Detect again", "warn")
            return
        spec: EndpointSpec = outcome.spec
        evidence = [str(x) for x in getattr(outcome, "evidence", []) or []]
        confidence = getattr(outcome, "confidence", None)
        label = f"{confidence:.0%}" if isinstance(confidence, float) else str(confidence)
        self.show_found(
            Found(
                EndpointKind.WEB_CHAT,
                spec.base_url,
                list(spec.models),
                evidence or list(det.evidence),
                label,
                options=dict(spec.options),
                spec=spec,
            )
        )

    def show_found(self, found: Found) -> None:
        """Show what was found for review and enable saving."""
        self.found = found
        name_box = self.query_one("#d-name", Input)
        if not name_box.value.strip():
            name_box.value = default_name(found.base_url)
        lines = [
            f"[b]kind[/b] {found.kind.value}   [b]confidence[/b] {found.confidence}",
            f"[b]base URL[/b] {escape(found.base_url)}",
            f"[b]models[/b] {models_summary(found.models, 60)}",
        ]
        if found.api_key_ref:
            lines.append(f"[b]key[/b] {found.api_key_ref}")
        for key in ("input", "send", "assistant", "new_chat"):
            value = found.options.get(key) if found.options else None
            if value:
                lines.append(f"[b]{key}[/b] {escape(str(value))}")
        lines.append("Check the name, then [b]Save and start[/b] (ctrl+s).")
        review = self.query_one("#d-review", Static)
        review.update("\n".join(lines))
        review.display = True
        self.query_one("#d-save", Button).disabled = False

    # ------------------------------------------------------------------ save

    @on(Button.Pressed, "#d-save")
    def action_save(self) -> None:
        found = self.found
        if found is None:
            self.desk_app.notify("detect a URL first", severity="warning")
            return
        raw_name = self.query_one("#d-name", Input).value.strip() or default_name(found.base_url)
        name = slugify(raw_name)
        if not name:
            self.desk_app.notify("the name needs a letter or a digit", severity="error")
            return
        key = self.query_one("#d-key", Input).value.strip() or None
        self.query_one("#d-save", Button).disabled = True
        self.desk_app.run_worker(
            self._save(found, name, key), group="discovery", exclusive=True, exit_on_error=False
        )

    async def _save(self, found: Found, name: str, key: str | None) -> None:
        app = self.desk_app
        desk = app.desk
        ref = found.api_key_ref
        stored = False
        try:
            if key and not ref:
                ref = desk.store_secret(name, "api_key", key)
                stored = True
            if found.spec is not None:
                update: dict[str, Any] = {"name": name}
                if ref:
                    update["api_key"] = ref
                spec = found.spec.model_copy(update=update)
            else:
                spec = EndpointSpec(
                    name=name,
                    kind=found.kind,
                    base_url=found.base_url,
                    api_key=ref,
                    models=found.models,
                    options=found.options,
                )
            self.step(f"proving {name} with a live call…")
            view = await desk.add(spec)
        except Exception as exc:
            if stored and ref:
                try:
                    desk.secrets.delete(ref)
                except DeskError:
                    pass
            from endpoint_desk.tui.engine_link import describe_error

            title, line = describe_error(exc)
            self.step(f"{title}: {line}", "fail")
            self.query_one("#d-save", Button).disabled = False
            return
        self.step(
            f"saved {view.name}: {view.state.value}, answered in {fmt_ms(view.metrics.p50_ms)}",
            "ok",
        )
        app.notify(f"{view.name} added and {view.state.value}", title="Discovery")
        self.found = None
        for box in ("#d-url", "#d-key", "#d-name"):
            self.query_one(box, Input).value = ""
        self.query_one("#d-review").display = False

    # ------------------------------------------------------------------ scan

    @on(Button.Pressed, "#d-scan")
    def action_scan(self) -> None:
        self.start_scan()

    def start_scan(self) -> None:
        """Run the scanner (when this build has it) and list what it found."""
        if not module_available(SCANNER_MODULE):
            self.step("the scanner (endpoint_desk.discovery.scanner) is not in this build", "warn")
            return
        self.desk_app.run_worker(self._scan(), group="scan", exclusive=True, exit_on_error=False)

    async def _scan(self) -> None:
        module = importlib.import_module(SCANNER_MODULE)
        self.step("scanning the environment for API keys and localhost for model servers…")
        try:
            report = await module.scan()
        except DeskError as exc:
            self.step(exc.one_line(), "fail")
            return
        table = self.query_one("#d-scan-table", DataTable)
        table.clear()
        self.scan_rows.clear()
        taken = {v.name for v in self.desk_app.desk.endpoints()}
        for i, srv in enumerate(getattr(report, "servers", [])):
            key = f"server-{i}"
            self.scan_rows[key] = srv
            table.add_row(
                getattr(srv, "product", "") or "server",
                srv.kind.value,
                srv.url,
                models_summary(list(getattr(srv, "models", [])), 30),
                key=key,
            )
        for i, found_key in enumerate(getattr(report, "keys", [])):
            key = f"key-{i}"
            self.scan_rows[key] = found_key
            table.add_row(
                getattr(found_key, "label", found_key.provider),
                found_key.kind.value,
                f"${found_key.env_var}",
                "(listed when added)",
                key=key,
            )
        count = len(self.scan_rows)
        ms = fmt_ms(getattr(report, "elapsed_ms", None))
        self.step(f"scan found {count} candidate(s) in {ms}; select one to add it", "ok")
        if taken:
            self.step(f"already in the portfolio: {', '.join(sorted(taken)[:8])}")
        table.display = count > 0
        if count:
            table.focus()

    @on(DataTable.RowSelected, "#d-scan-table")
    def _scan_row(self, event: DataTable.RowSelected) -> None:
        item = self.scan_rows.get(str(event.row_key.value))
        if item is None:
            return
        url_box = self.query_one("#d-url", Input)
        name_box = self.query_one("#d-name", Input)
        if hasattr(item, "env_var"):
            url_box.value = item.base_url
            name_box.value = getattr(item, "provider", "") or default_name(item.base_url)
            self.show_found(
                Found(
                    item.kind,
                    item.base_url,
                    [],
                    [f"API key in ${item.env_var}"],
                    "medium",
                    api_key_ref=f"env:{item.env_var}",
                )
            )
            self.step(f"ready to add {item.label} with the key from ${item.env_var}", "ok")
        else:
            url_box.value = item.url
            name_box.value = getattr(item, "name", "") or default_name(item.url)
            self.action_detect()
            return
        self.query_one("#d-save", Button).focus()
