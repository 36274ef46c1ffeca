"""``desk add URL``: find out what the URL is, configure it, prove it with a live call,
and save it, through the engine's one add flow (``engine/onboard.py``): the options
become an ``AddRequest``; each step the flow reports is printed as it happens."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer

from endpoint_desk.cli.common import err, open_desk, out, print_json, run
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.inputs import parse_kind, parse_model_map
from endpoint_desk.core.models import EndpointKind

if TYPE_CHECKING:  # the engine is imported when a command runs, not for --help
    from endpoint_desk.engine.onboard import AddPlan, AddRequest, AddStep
    from endpoint_desk.engine.position import EndpointView


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
    header: Annotated[
        list[str],
        typer.Option(
            "--header",
            "-H",
            help="'NAME: VALUE' sent with every call (repeatable); credential headers "
            "(Authorization, X-Api-Key...) are stored as secrets.",
        ),
    ] = [],  # noqa: B006 - typer needs a literal default
    model_map: Annotated[
        list[str], typer.Option("--model-map", "-m", help="ASKED=UPSTREAM (repeatable).")
    ] = [],  # noqa: B006
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
        headers=list(header),
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
    headers: list[str] = field(default_factory=list)
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


def _parse_headers(items: list[str]) -> dict[str, str]:
    """``--header 'NAME: VALUE'`` items."""
    headers: dict[str, str] = {}
    for item in items:
        hname, sep, value = item.partition(":")
        if not sep or not hname.strip() or not value.strip():
            raise BadRequest(f"--header takes 'NAME: VALUE', got {hname.strip()!r}")
        headers[hname.strip()] = value.strip()
    return headers


def add_request(opts: AddOptions) -> AddRequest:
    """The add request for the engine's add flow (``engine/onboard.py``).

    Raises:
        BadRequest: an option the flow cannot take (names the option).
    """
    from endpoint_desk.engine.credentials import env_ref
    from endpoint_desk.engine.onboard import AddRequest

    if bool(opts.username_env) != bool(opts.password_env):
        raise BadRequest("give both --username-env and --password-env for a login")
    return AddRequest(
        url=opts.url,
        name=opts.name,
        kind=parse_kind(opts.kind, what="--kind") if opts.kind else None,
        api_key=opts.api_key,
        api_key_env=opts.api_key_env,
        username=env_ref(opts.username_env, param="username") if opts.username_env else None,
        password=env_ref(opts.password_env, param="password") if opts.password_env else None,
        login_url=opts.login_url,
        headers=_parse_headers(opts.headers),
        models=list(opts.models),
        model_mapping=parse_model_map(opts.model_map),
        options=opts.options,
        note=opts.note,
        prove=opts.prove,
        start=opts.start,
    )


async def _add(opts: AddOptions) -> None:
    from endpoint_desk.engine.onboard import onboard

    request = add_request(opts)

    def show(step: AddStep) -> None:
        if opts.json_out:
            return
        if step.stage == "probe":
            err.print(f"probing {step.text} ...", markup=False)
        elif step.stage == "web_chat":
            err.print(
                f"configuring the web chat at {step.text} (a browser works it out) ...",
                markup=False,
            )
        elif step.stage == "web_step":
            mark = "ok " if step.ok else "-- "
            err.print(f"  {mark}{step.name:<9} {step.text}  ({step.ms or 0:.0f} ms)", markup=False)

    def review(plan: AddPlan) -> None:
        if plan.discovery is not None and not opts.json_out:
            _show_found(plan.discovery)

    async with open_desk() as desk:
        added = await onboard(desk, request, show, review)
    if opts.json_out:
        print_json(added.to_dict())
        return
    _report_added(added.view, added.plan.evidence, opts)


_FOUND_KEYS = (
    "input",
    "send",
    "send_key",
    "assistant",
    "assistant_text",
    "busy",
    "busy_input",
    "new_chat",
    "idle_quiet_ms",
)


def _show_found(found: Any) -> None:
    """What web chat discovery found, before the proof."""
    out.print(f"found ({'from the pattern library' if found.from_pattern else 'by analysis'}):")
    for key in _FOUND_KEYS:
        if key in found.options and not (key == "send_key" and "send" in found.options):
            out.print(f"  {key:<15} {found.options[key]}", markup=False)
    out.print(
        f"  confidence     {found.confidence:.0%}  (configured in "
        f"{found.timings.get('total', 0) / 1000:.1f} s)"
    )


def _report_added(view: EndpointView, evidence: list[str], opts: AddOptions) -> None:
    out.print(f"added [bold]{view.name}[/bold] ({view.spec.kind.value}) at {view.spec.base_url}")
    for line in evidence:
        out.print(f"  why: {line}", markup=False)
    names = view.spec.answers_to()
    shown = ", ".join(names[:8]) + (f" (+{len(names) - 8} more)" if len(names) > 8 else "")
    out.print(f"  models: {shown or '(any name)'}")
    if opts.prove:
        out.print(f"  proven with a live call in {view.metrics.p50_ms or 0:.0f} ms")
    out.print(f"  state: {view.state.value}")
