"""``desk``: one-liners over the engine. Each command is a thin call into ``Desk``.

Every expected failure prints one line naming the problem and exits non-zero; a
traceback goes only to the log file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table

from endpoint_desk.core.errors import BadRequest, ConfigError, DeskError
from endpoint_desk.core.models import EndpointKind, EndpointSpec, slugify

app = typer.Typer(
    name="desk",
    help="A terminal trading desk for AI endpoints.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
log = logging.getLogger("endpoint_desk.cli")

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
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.engine.desk import Desk

    return Desk(load_settings(), autostart=autostart)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------- desk (no command)


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """Open the desk (the terminal UI)."""
    if ctx.invoked_subcommand is not None:
        return
    if sys.stdout.isatty():
        import importlib

        try:
            tui = importlib.import_module("endpoint_desk.tui.app")
        except ImportError:
            tui = None
        if tui is not None:
            tui.run_app()
            return
    ls(json_out=False)
    out.print(
        "\nAdd an endpoint:  desk add URL [--name NAME] [--api-key-env VAR]\n"
        "Try one locally:  desk sim --port 9100   then   desk add http://127.0.0.1:9100 --name sim"
    )


# ---------------------------------------------------------------------- add


def _default_name(url: str) -> str:
    parts = urlsplit(url if "://" in url else "http://" + url)
    host = (parts.hostname or "endpoint").lower()
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return slugify(f"local-{parts.port or 80}")
    labels = [x for x in host.split(".") if x not in ("www", "api", "chat", "com", "ai", "io")]
    return slugify(labels[0] if labels else host)


def _parse_options(text: str | None) -> dict[str, Any]:
    """``--options``: a JSON object, inline or ``@path`` to a file."""
    if not text:
        return {}
    source = "--options"
    if text.startswith("@"):
        path = os.path.expanduser(text[1:])
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise BadRequest(f"cannot read --options file {path}: {exc.strerror or exc}") from None
        source = path
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"{source} must be a JSON object")
    return data


def _parse_map(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        asked, sep, upstream = item.partition("=")
        if not sep or not asked.strip() or not upstream.strip():
            raise BadRequest(f"--model-map takes ASKED=UPSTREAM, got {item!r}")
        mapping[asked.strip()] = upstream.strip()
    return mapping


@app.command()
def add(
    url: Annotated[str, typer.Argument(help="The endpoint's URL (API base or chat page).")],
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name (slug).")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind", "-k", help="Skip detection: " + ", ".join(k.value for k in EndpointKind)
        ),
    ] = None,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Key value; stored as a secret, never shown.")
    ] = None,
    api_key_env: Annotated[
        str | None, typer.Option("--api-key-env", help="Read the key from this variable.")
    ] = None,
    model_map: Annotated[
        list[str], typer.Option("--model-map", "-m", help="ASKED=UPSTREAM (repeatable).")
    ] = [],  # noqa: B006 - typer needs a literal default
    model: Annotated[
        list[str], typer.Option("--model", help="Model names it serves (repeatable).")
    ] = [],  # noqa: B006
    no_prove: Annotated[bool, typer.Option("--no-prove", help="Save without a live call.")] = False,
    stopped: Annotated[bool, typer.Option("--off", help="Save it switched OFF.")] = False,
    note: Annotated[str, typer.Option("--note", help="A note kept with the endpoint.")] = "",
    options: Annotated[
        str | None,
        typer.Option(
            "--options",
            help="Adapter settings as JSON, inline or @file.json (template, web chat selectors).",
        ),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    username_env: Annotated[
        str | None,
        typer.Option("--username-env", help="Web chat login: variable holding the user name."),
    ] = None,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Web chat login: variable holding the password."),
    ] = None,
    login_url: Annotated[
        str | None, typer.Option("--login-url", help="Web chat login page, if elsewhere.")
    ] = None,
) -> None:
    """Find out what URL is, configure it, prove it with a live call, and save it."""
    opts = AddOptions(
        url=url,
        name=name,
        kind=kind,
        api_key=api_key,
        api_key_env=api_key_env,
        model_map=list(model_map),
        models=list(model),
        prove=not no_prove,
        start=not stopped,
        note=note,
        options=_parse_options(options),
        json_out=json_out,
        username_env=username_env,
        password_env=password_env,
        login_url=login_url,
    )
    run(lambda: _add(opts))


@dataclass
class AddOptions:
    """What ``desk add`` was told."""

    url: str
    name: str | None = None
    kind: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None
    model_map: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    prove: bool = True
    start: bool = True
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    json_out: bool = False
    username_env: str | None = None
    password_env: str | None = None
    login_url: str | None = None


async def _add(opts: AddOptions) -> None:
    from endpoint_desk.core.errors import Duplicate
    from endpoint_desk.discovery.probe import detect

    target = opts.url.strip()
    if not target.startswith(("http://", "https://")):
        target = "http://" + target
    try:
        parts = urlsplit(target)
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise BadRequest(f"invalid URL {opts.url.strip()!r}: {exc}") from None
    if not parts.hostname:
        raise BadRequest(f"invalid URL {opts.url.strip()!r}: no host name")
    if opts.api_key and opts.api_key_env:
        raise BadRequest("give either --api-key or --api-key-env, not both")
    key_value = opts.api_key
    key_ref: str | None = None
    if opts.api_key_env:
        key_value = os.environ.get(opts.api_key_env)
        if not key_value:
            raise ConfigError(f"environment variable {opts.api_key_env} is not set")
        key_ref = f"env:{opts.api_key_env}"
    mapping = _parse_map(opts.model_map)
    ep_name = slugify(opts.name) if opts.name else _default_name(target)
    if not ep_name:
        raise BadRequest("--name must contain a letter or a digit")
    evidence: list[str] = []
    models = list(opts.models)
    async with open_desk() as desk:
        if ep_name in {v.name for v in desk.endpoints()}:
            raise Duplicate(f"an endpoint named {ep_name!r} already exists (desk ls)")
        if opts.kind:
            try:
                ep_kind = EndpointKind(opts.kind)
            except ValueError:
                kinds = ", ".join(k.value for k in EndpointKind)
                raise BadRequest(f"unknown --kind {opts.kind!r}; one of: {kinds}") from None
            base_url = target
            evidence.append(f"--kind {ep_kind.value} given, detection skipped")
        else:
            if not opts.json_out:
                err.print(f"probing {target} ...")
            det = await detect(target, api_key=key_value)
            ep_kind, base_url = det.kind, det.base_url
            evidence.extend(det.evidence)
            models = models or det.models
        if ep_kind == EndpointKind.WEB_CHAT and not {"input", "assistant"} <= set(opts.options):
            await _add_web_chat(desk, opts, ep_name, base_url, evidence)
            return
        if opts.api_key and not key_ref:
            key_ref = desk.store_secret(ep_name, "api_key", opts.api_key)
        try:
            spec = EndpointSpec(
                name=ep_name,
                kind=ep_kind,
                base_url=base_url,
                api_key=key_ref,
                models=models,
                model_mapping=mapping,
                note=opts.note,
                options=opts.options,
            )
        except ValueError as exc:
            raise BadRequest(f"invalid endpoint: {_first_error(exc)}") from None
        try:
            view = await desk.add(spec, prove=opts.prove, start=opts.start)
        except BaseException:
            if key_ref and not key_ref.startswith("env:"):
                desk.secrets.delete(key_ref)
            raise
        _report_added(view, evidence, opts)


async def _add_web_chat(
    desk: Any, opts: AddOptions, name: str, url: str, evidence: list[str]
) -> None:
    """`desk add` on a chat page: discovery configures it, step by step, then save+start."""
    from endpoint_desk.engine.api import configure_web_chat_for, parse_description

    for var in (opts.username_env, opts.password_env):
        if var and not os.environ.get(var):
            raise ConfigError(f"environment variable {var} is not set")
    if bool(opts.username_env) != bool(opts.password_env):
        raise BadRequest("give both --username-env and --password-env for a login")

    def show(step: Any) -> None:
        if not opts.json_out:
            mark = "ok " if step.ok else "-- "
            err.print(f"  {mark}{step.name:<9} {step.detail}  ({step.ms:.0f} ms)", markup=False)

    if not opts.json_out:
        err.print(f"configuring the web chat at {url} (a browser works it out) ...")
    found = await configure_web_chat_for(
        desk,
        url,
        name=name,
        description=opts.note or None,
        username=f"env:{opts.username_env}" if opts.username_env else None,
        password=f"env:{opts.password_env}" if opts.password_env else None,
        login_url=opts.login_url,
        progress=show,
        hints=parse_description(opts.note),
    )
    evidence.extend(found.evidence)
    if not opts.json_out:
        out.print(f"found ({'from the pattern library' if found.from_pattern else 'by analysis'}):")
        for key in (
            "input",
            "send",
            "send_key",
            "assistant",
            "assistant_text",
            "busy",
            "busy_input",
            "new_chat",
            "idle_quiet_ms",
        ):
            if key in found.options and not (key == "send_key" and "send" in found.options):
                out.print(f"  {key:<15} {found.options[key]}", markup=False)
        out.print(
            f"  confidence     {found.confidence:.0%}  (configured in "
            f"{found.timings.get('total', 0) / 1000:.1f} s)"
        )
    view = await desk.add(found.spec, prove=opts.prove, start=opts.start)
    if opts.json_out:
        _print_json({**view.to_dict(), "evidence": evidence, "discovery": found.to_dict()})
        return
    _report_added(view, evidence, opts)


def _report_added(view: Any, evidence: list[str], opts: AddOptions) -> None:
    if opts.json_out:
        _print_json({**view.to_dict(), "evidence": evidence})
        return
    out.print(f"added [bold]{view.name}[/bold] ({view.spec.kind.value}) at {view.spec.base_url}")
    for line in evidence:
        out.print(f"  why: {line}", markup=False)
    names = view.spec.answers_to()
    shown = ", ".join(names[:8]) + (f" (+{len(names) - 8} more)" if len(names) > 8 else "")
    out.print(f"  models: {shown or '(any name)'}")
    if opts.prove:
        out.print(f"  proven with a live call in {view.metrics.p50_ms or 0:.0f} ms")
    out.print(f"  state: {view.state.value}")


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    return str(exc)


# ---------------------------------------------------------------------- scan


@app.command()
def scan(
    port: Annotated[
        list[int],
        typer.Option("--port", "-p", help="Port to probe (repeatable; default: the usual ones)."),
    ] = [],  # noqa: B006 - typer needs a literal default
    host: Annotated[str, typer.Option("--host", help="Host to probe.")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 2.0,
    add_found: Annotated[
        bool, typer.Option("--add", help="Add every API found (proved with a live call).")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Find provider keys in the environment and local model servers; offer `desk add` lines."""

    async def go() -> None:
        from endpoint_desk.adapters.base import close_shared_resources
        from endpoint_desk.discovery.scanner import parse_ports
        from endpoint_desk.discovery.scanner import scan as run_scan

        ports = parse_ports(port) if port else None
        try:
            report = await run_scan(ports, host=host, timeout=timeout)
        finally:
            await close_shared_resources()
        added: list[dict[str, Any]] = []
        if add_found:
            added = await _scan_add(report, quiet=json_out)
        if json_out:
            _print_json({**report.to_dict(), "added": added})
            return
        out.print(f"API keys in the environment ({len(report.keys)}):")
        for k in report.keys:
            extra = f" (also set: {', '.join(k.also_set)})" if k.also_set else ""
            out.print(f"  {k.label}: ${k.env_var} is set{extra}")
            out.print(f"    {k.command}")
        if not report.keys:
            out.print("  none of the known providers' variables is set")
        shown = ", ".join(str(p) for p in report.scanned_ports)
        out.print(f"Local servers (ports {shown}): {len(report.servers)} found")
        for s in report.servers:
            models = ", ".join(s.models[:5]) + (
                f" +{len(s.models) - 5}" if len(s.models) > 5 else ""
            )
            out.print(
                f"  :{s.port} {s.product} ({s.kind.value}){' models: ' + models if models else ''}"
            )
            for line in s.evidence[:2]:
                out.print(f"    why: {line}")
            out.print(f"    {s.command}")
        if report.commands and not add_found:
            out.print("Run a line above to add it, or `desk scan --add` to add every API found.")
        out.print(f"[dim]scan took {report.elapsed_ms:.0f} ms[/dim]", markup=True)

    run(go)


async def _scan_add(report: Any, *, quiet: bool) -> list[dict[str, Any]]:
    """Add what a scan found (APIs only; a web page needs `desk add URL`)."""
    results: list[dict[str, Any]] = []
    async with open_desk() as desk:
        have = {v.spec.base_url.rstrip("/") for v in desk.endpoints()}
        names = {v.name for v in desk.endpoints()}
        todo: list[EndpointSpec] = []
        for k in report.keys:
            todo.append(
                EndpointSpec(
                    name=k.provider, kind=k.kind, base_url=k.base_url, api_key=f"env:{k.env_var}"
                )
            )
        for s in report.servers:
            if s.kind == EndpointKind.WEB_CHAT or s.needs_key:
                results.append(
                    {"name": s.name, "ok": False, "skipped": True, "reason": f"run: {s.command}"}
                )
                continue
            todo.append(
                EndpointSpec(name=s.name, kind=s.kind, base_url=s.url, models=s.models[:200])
            )
        for spec in todo:
            if spec.base_url.rstrip("/") in have or spec.name in names:
                results.append(
                    {
                        "name": spec.name,
                        "ok": True,
                        "skipped": True,
                        "reason": "already in the portfolio",
                    }
                )
                continue
            try:
                view = await desk.add(spec, prove=True, start=True)
            except DeskError as exc:
                results.append({"name": spec.name, "ok": False, "reason": exc.one_line()})
                if not quiet:
                    out.print(f"  not added {spec.name}: {exc.one_line()}")
                continue
            names.add(view.name)
            results.append({"name": view.name, "ok": True, "state": view.state.value})
            if not quiet:
                out.print(
                    f"  added {view.name} ({view.spec.kind.value}) at {view.spec.base_url}:"
                    f" {view.state.value}"
                )
    return results


# ---------------------------------------------------------------------- ls / start / stop / rm


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}ms"


def _fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.0f}%"


@app.command()
def ls(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show the portfolio."""

    async def go() -> None:
        async with open_desk() as desk:
            views = desk.endpoints()
            if json_out:
                _print_json([v.to_dict() for v in views])
                return
            if not views:
                out.print("The portfolio is empty.")
                return
            table = Table(box=None, header_style="bold", pad_edge=False)
            for col in ("NAME", "KIND", "STATE", "MODELS", "OK%", "P50", "UPTIME", "COST", "URL"):
                table.add_column(col, no_wrap=col != "URL", overflow="fold", min_width=len(col))
            for v in views:
                names = v.spec.answers_to()
                models = (
                    names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "") if names else ""
                )
                m = v.metrics
                state = v.state.value + (
                    f" ({v.reason})" if v.reason and not v.state.serving else ""
                )
                table.add_row(
                    v.name,
                    v.spec.kind.value,
                    state,
                    models or "(any)",
                    _fmt_pct(m.success_rate),
                    _fmt_ms(m.p50_ms),
                    _fmt_pct(m.uptime),
                    f"${m.cost_total:.4f}",
                    v.spec.base_url,
                )
            out.print(table)

    run(go)


@app.command()
def start(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Switch an endpoint ON."""

    async def go() -> None:
        async with open_desk() as desk:
            view = await desk.start(name)
            if view.state.value == "error":
                raise DeskError(f"{view.name} could not start: {view.reason}")
            out.print(f"{view.name}: {view.state.value}")

    run(go)


@app.command()
def stop(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Switch an endpoint OFF (it stays off until you start it)."""

    async def go() -> None:
        async with open_desk() as desk:
            view = await desk.stop(name)
            out.print(f"{view.name}: {view.state.value}")

    run(go)


@app.command()
def rm(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Remove an endpoint (asks first unless --yes)."""

    async def go() -> None:
        async with open_desk() as desk:
            view = desk.endpoint(name)
            if not yes:
                if not sys.stdin.isatty():
                    raise BadRequest(f"not removing {view.name}: add --yes to confirm")
                if not typer.confirm(f"Remove {view.name} ({view.spec.base_url})?"):
                    out.print("kept")
                    return
            await desk.remove(view.name)
            out.print(f"removed {view.name}")

    run(go)


# ---------------------------------------------------------------------- test


@app.command()
def test(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    message: Annotated[str, typer.Argument(help="The message to send.")] = "Say hello.",
    model: Annotated[str | None, typer.Option("--model", help="Model name to ask for.")] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the standardized result.")
    ] = False,
) -> None:
    """Send a message to one endpoint, stream the reply, and show the figures."""

    async def go() -> None:
        from endpoint_desk.core.models import ChatRequest

        async with open_desk() as desk:
            view = desk.endpoint(name)
            request = ChatRequest.from_text(message, model=model or "", stream=True)
            stream = desk.stream(request, endpoint=view.name)
            async for chunk in stream:
                if chunk.delta and not json_out:
                    sys.stdout.write(chunk.delta)
                    sys.stdout.flush()
            result = stream.result
            assert result is not None
            if json_out:
                _print_json(result.to_dict())
                return
            u = result.usage
            est = " (estimated)" if u.estimated else ""
            ttft = "-" if result.ttft_ms is None else f"{result.ttft_ms:.0f} ms"
            sys.stdout.write("\n")
            model_name = result.model or "-"
            out.print(
                f"[dim]-- {result.endpoint} · {model_name} · latency {result.latency_ms:.0f} ms"
                f" · first token {ttft} · tokens {u.input_tokens} in / {u.output_tokens} out{est}"
                f" · cost ${u.cost:.6f}[/dim]"
            )

    run(go)


@app.command()
def login(
    name: Annotated[str, typer.Argument(help="Web chat endpoint name.")],
    headless: Annotated[
        bool,
        typer.Option("--headless", help="No window: sign in with the stored credentials only."),
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
) -> None:
    """Open a browser to sign in to a web chat once; the session is saved for the desk."""

    async def go() -> None:
        from endpoint_desk.adapters.webchat.login import interactive_login

        async with open_desk() as desk:
            view = desk.endpoint(name)
            if view.spec.kind != EndpointKind.WEB_CHAT:
                kind = view.spec.kind.value
                raise BadRequest(f"{view.name} is a {kind} endpoint, not a web chat")
            if not headless:
                out.print(f"Sign in to {view.name} in the browser window; waiting {timeout:g} s...")
            path = await interactive_login(
                view.spec, desk.secrets.resolve, headless=headless, timeout=timeout
            )
            out.print(f"{view.name}: signed in; session saved to {path}")

    run(go)


# ---------------------------------------------------------------------- paths / sim


@app.command()
def paths(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print where config, data, database and logs live."""
    from endpoint_desk.core.paths import get_paths

    p = get_paths().as_dict()
    if json_out:
        _print_json(p)
        return
    width = max(len(k) for k in p)
    for key, value in p.items():
        out.print(f"{key.ljust(width)}  {value}")


@app.command()
def sim(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free port).")
    ] = 9100,
    latency: Annotated[float, typer.Option(help="Seconds before the answer starts.")] = 0.0,
    ttft: Annotated[float, typer.Option(help="Seconds before the first chunk.")] = 0.0,
    chunks: Annotated[int, typer.Option(help="Chunks per streamed reply.")] = 8,
    chunk_delay: Annotated[float, typer.Option(help="Seconds between chunks.")] = 0.0,
    fail_rate: Annotated[float, typer.Option(help="Share of requests that fail (0..1).")] = 0.0,
    fail_status: Annotated[int, typer.Option(help="Status of a failed request.")] = 500,
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="Require this key from clients.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for the random failures.")] = None,
) -> None:
    """Run a local simulated upstream (OpenAI, Anthropic, Gemini, Ollama, jobs)."""
    from endpoint_desk.sim import SimConfig, run_sim

    config = SimConfig(
        latency=latency,
        ttft=ttft,
        chunks=chunks,
        chunk_delay=chunk_delay,
        fail_rate=fail_rate,
        fail_status=fail_status,
        api_key=api_key,
        seed=seed,
    )
    try:
        run_sim(host, port, config)
    except OSError as exc:
        err.print(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise typer.Exit(1) from None


# ---------------------------------------------------------------------- serve


@app.command()
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
                out.print(f"desk serving on {server.url}  (OpenAI base URL: {server.url}/v1)")
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


@app.command()
def demo(
    remove: Annotated[bool, typer.Option("--remove", help="Remove every demo endpoint.")] = False,
    seconds: Annotated[
        float, typer.Option("--seconds", help="Without a terminal: trade this long, then stop.")
    ] = 10.0,
) -> None:
    """The demo portfolio ("paper trading"): simulated endpoints inside the desk."""
    from endpoint_desk.engine import demo as demo_mod

    if remove:

        async def drop() -> None:
            async with open_desk() as desk:
                names = await demo_mod.remove_demo(desk)
            shown = f": {', '.join(names)}" if names else ""
            out.print(f"removed {len(names)} demo endpoints{shown}")

        run(drop)
        return
    if sys.stdout.isatty():
        from endpoint_desk.tui.app import run_app

        run_app(demo=True)
        return

    async def trade() -> None:
        async with open_desk(autostart=True) as desk:
            try:
                views = await demo_mod.start_demo(desk)
                out.print(f"demo: {len(views)} simulated endpoints trading for {seconds:g} s ...")
                await asyncio.sleep(max(0.0, seconds))
                for v in desk.endpoints():
                    if v.spec.demo:
                        m = v.metrics
                        out.print(
                            f"  {v.name:<14} {v.state.value:<9} ok {_fmt_pct(m.success_rate):>6}  "
                            f"p50 {_fmt_ms(m.p50_ms):>8}  {m.requests} requests"
                        )
            finally:
                await demo_mod.stop_demo_servers(desk)
        out.print(
            "demo endpoints stay in the portfolio (marked demo); `desk demo --remove` removes them"
        )

    run(trade)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except DeskError as exc:  # raised outside run(), e.g. while loading settings
        err.print(f"error: {exc.one_line()}")
        sys.exit(1)


if __name__ == "__main__":
    main()
