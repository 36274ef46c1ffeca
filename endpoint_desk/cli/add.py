"""``desk add URL``: find out what the URL is, configure it, prove it with a live call,
and save it. A web chat page goes through the engine's web chat discovery first."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from endpoint_desk.cli.common import err, open_desk, out, print_json, run
from endpoint_desk.core.errors import BadRequest, ConfigError
from endpoint_desk.core.models import EndpointKind, EndpointSpec, slugify


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
        print_json({**view.to_dict(), "evidence": evidence, "discovery": found.to_dict()})
        return
    _report_added(view, evidence, opts)


def _report_added(view: Any, evidence: list[str], opts: AddOptions) -> None:
    if opts.json_out:
        print_json({**view.to_dict(), "evidence": evidence})
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
