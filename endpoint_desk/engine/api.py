"""``add_endpoint``: add anything by URL from Python (scripts and notebooks).

::

    from endpoint_desk import add_endpoint

    result = add_endpoint(
        url="http://127.0.0.1:7860/",
        description="Add the team's Gradio chat",
        auto_configure=True,
    )
    result.view.name, result.discovery.confidence

The description is kept as the endpoint's note, and its hints (kind, name, credentials
needed, a key variable: ``engine/hints.py``) are used when present.

Inside a running event loop (a notebook) use ``await add_endpoint_async(...)``; the
plain ``add_endpoint`` then runs in a worker thread with its own loop.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.errors import (
    BadRequest,
    ConfigError,
    DeskError,
    Duplicate,
    LoginRequired,
)
from endpoint_desk.core.models import ChatRequest, EndpointKind, EndpointSpec, slugify
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.hints import DescriptionHints, parse_description
from endpoint_desk.engine.position import EndpointView

__all__ = [
    "AddResult",
    "DescriptionHints",
    "add_endpoint",
    "add_endpoint_async",
    "assist_from_desk",
    "configure_web_chat_for",
    "parse_description",
]

_SECRET_PREFIXES = ("env:", "keyring:", "file:")


@dataclass(slots=True)
class AddResult:
    """What ``add_endpoint`` did: the endpoint now in the portfolio and how it was found."""

    view: EndpointView
    evidence: list[str] = field(default_factory=list)
    hints: DescriptionHints = field(default_factory=DescriptionHints)
    discovery: Any = None

    @property
    def name(self) -> str:
        """The endpoint's name."""
        return self.view.name

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret values)."""
        return {
            **self.view.to_dict(),
            "evidence": list(self.evidence),
            "hints": self.hints.to_dict(),
            "discovery": self.discovery.to_dict() if self.discovery is not None else None,
        }


def assist_from_desk(desk: Desk, exclude: str | None = None) -> Callable[[str], Any] | None:
    """An ``AssistFn`` that asks one of the desk's ON endpoints (an API before a web
    chat; never ``exclude``), or ``None`` when nothing is ON."""
    ready = [
        v
        for v in desk.endpoints()
        if v.state.serving and v.name != exclude and v.spec.kind != EndpointKind.WEB_CHAT
    ]
    if not ready:
        return None
    chosen = ready[0].name

    async def ask(prompt: str) -> str:
        request = ChatRequest.from_text(prompt, max_tokens=16, temperature=0.0)
        result = await desk.chat(request, endpoint=chosen)
        return result.content

    return ask


def _ref(desk: Desk, name: str, field_name: str, value: str | None) -> str | None:
    """A secret reference for ``value`` (kept as is when it already is one)."""
    if not value:
        return None
    if value.startswith(_SECRET_PREFIXES):
        return value
    return desk.store_secret(name, field_name, value)


async def configure_web_chat_for(
    desk: Desk,
    url: str,
    *,
    name: str,
    description: str | None = None,
    username: str | None = None,
    password: str | None = None,
    login_url: str | None = None,
    progress: Callable[[Any], Any] | None = None,
    hints: DescriptionHints | None = None,
    use_assist: bool = True,
) -> Any:
    """Run web chat discovery with the desk's pattern library, secrets and (when one is
    ON) an endpoint of the portfolio as the assistant. Returns a ``WebChatDiscovery``.

    Raises:
        LoginRequired: a login wall and no credentials (the message says what to do).
    """
    from endpoint_desk.discovery.webchat import configure_web_chat

    try:
        return await configure_web_chat(
            url,
            name=name,
            description=description,
            progress=progress,
            store=desk.store,
            assist=assist_from_desk(desk, exclude=name) if use_assist else None,
            browser_config=None,
            username=username,
            password=password,
            resolve_secret=desk.secrets.resolve,
            login_url=login_url,
        )
    except LoginRequired as exc:
        if hints is not None and hints.needs_credentials and not (username and password):
            raise LoginRequired(
                f"{exc.one_line()} (the description says credentials are needed: pass "
                "username= and password= to add_endpoint, or run `desk login`)"
            ) from exc
        raise


async def add_endpoint_async(
    url: str,
    *,
    description: str | None = None,
    auto_configure: bool = True,
    name: str | None = None,
    kind: str | EndpointKind | None = None,
    api_key: str | None = None,
    api_key_env: str | None = None,
    username: str | None = None,
    password: str | None = None,
    login_url: str | None = None,
    options: dict[str, Any] | None = None,
    prove: bool = True,
    start: bool = True,
    desk: Desk | None = None,
    settings: Settings | None = None,
    progress: Callable[[Any], Any] | None = None,
) -> AddResult:
    """Add the endpoint at ``url``: detect what it is, configure it (a web chat by
    discovery when ``auto_configure``), prove it with a live call and save it.

    Args:
        url: an API base URL or a chat page.
        description: kept as the endpoint's note; its hints (kind, name, credentials
            needed, a key variable) are used when the arguments do not say otherwise.
        auto_configure: let discovery find a web chat's selectors (else give
            ``options`` with them).
        name, kind: override what detection and the description say.
        api_key / api_key_env: a key value (stored as a secret) or the variable holding it.
        username, password: login credentials for a web chat, as values (stored as
            secrets) or references (``env:NAME``).
        desk: an open ``Desk`` to add to; default: one opened (and closed) here.

    Raises:
        Duplicate: the name is taken.  LoginRequired: a login wall and no credentials.
        DeskError: detection, discovery or the live proof failed (nothing is saved).
    """
    if desk is None:
        async with Desk(settings or load_settings(), autostart=False) as own:
            return await add_endpoint_async(
                url,
                description=description,
                auto_configure=auto_configure,
                name=name,
                kind=kind,
                api_key=api_key,
                api_key_env=api_key_env,
                username=username,
                password=password,
                login_url=login_url,
                options=options,
                prove=prove,
                start=start,
                desk=own,
                progress=progress,
            )
    from endpoint_desk.discovery.probe import detect

    target = url.strip()
    if not target.startswith(("http://", "https://")):
        target = "http://" + target
    hints = parse_description(description)
    if api_key and api_key_env:
        raise BadRequest("give either api_key or api_key_env, not both")
    key_env = api_key_env or (
        hints.key_env if hints.key_env and hints.key_env in os.environ else None
    )
    key_value = api_key or (os.environ.get(key_env) if key_env else None)
    if key_env and not key_value:
        raise ConfigError(f"environment variable {key_env} is not set")
    ep_name = slugify(name) if name else (hints.name or _name_for(target))
    if not ep_name:
        raise BadRequest("name must contain a letter or a digit")
    if ep_name in {v.name for v in desk.endpoints()}:
        raise Duplicate(f"an endpoint named {ep_name!r} already exists")
    evidence: list[str] = []
    models: list[str] = []
    if kind is not None:
        try:
            ep_kind = EndpointKind(kind)
        except ValueError:
            raise BadRequest(f"unknown kind {kind!r}") from None
        base_url = target
        evidence.append(f"kind {ep_kind.value} given")
    elif hints.kind == EndpointKind.WEB_CHAT:
        ep_kind, base_url = EndpointKind.WEB_CHAT, target
        evidence.append("the description says it is a web chat")
    else:
        det = await detect(target, api_key=key_value)
        ep_kind, base_url, models = det.kind, det.base_url, det.models
        evidence.extend(det.evidence)
    note = description or ""
    created_refs: list[str] = []
    try:
        if ep_kind == EndpointKind.WEB_CHAT:
            user_ref = _ref(desk, ep_name, "username", username)
            pass_ref = _ref(desk, ep_name, "password", password)
            created_refs += [
                r for r, v in ((user_ref, username), (pass_ref, password)) if r and r != v
            ]
            discovery = None
            if options:
                spec = EndpointSpec(
                    name=ep_name,
                    kind=ep_kind,
                    base_url=base_url,
                    options=options,
                    note=note,
                    username=user_ref,
                    password=pass_ref,
                    login_url=login_url,
                )
            elif auto_configure:
                discovery = await configure_web_chat_for(
                    desk,
                    base_url,
                    name=ep_name,
                    description=note,
                    username=user_ref,
                    password=pass_ref,
                    login_url=login_url,
                    progress=progress,
                    hints=hints,
                )
                spec = discovery.spec
                evidence.extend(discovery.evidence)
            else:
                raise ConfigError(
                    f"{base_url} is a web chat: pass auto_configure=True or options= with "
                    "its selectors"
                )
            view = await desk.add(spec, prove=prove, start=start)
            return AddResult(view, evidence, hints, discovery)
        key_ref = f"env:{key_env}" if key_env else _ref(desk, ep_name, "api_key", api_key)
        if key_ref and not key_env:
            created_refs.append(key_ref)
        spec = EndpointSpec(
            name=ep_name,
            kind=ep_kind,
            base_url=base_url,
            api_key=key_ref,
            models=models[:200],
            note=note,
            options=options or {},
        )
        view = await desk.add(spec, prove=prove, start=start)
        return AddResult(view, evidence, hints, None)
    except BaseException:
        for ref in created_refs:
            try:
                desk.secrets.delete(ref)
            except DeskError:
                pass
        raise


def add_endpoint(url: str, **kwargs: Any) -> AddResult:
    """Synchronous :func:`add_endpoint_async` (same arguments) for scripts.

    In a running event loop (a notebook cell) it runs in a worker thread with its own
    loop, so it works there too; ``await add_endpoint_async(...)`` is the direct form.
    """
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:
        return asyncio.run(add_endpoint_async(url, **kwargs))
    if kwargs.get("desk") is not None:
        raise BadRequest(
            "add_endpoint(desk=...) inside a running event loop: use "
            "`await add_endpoint_async(...)` with an open desk"
        )
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = asyncio.run(add_endpoint_async(url, **kwargs))
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="desk-add-endpoint")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    result: AddResult = box["result"]
    return result


def _name_for(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "endpoint").lower()
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return slugify(f"local-{parts.port or 80}")
    labels = [x for x in host.split(".") if x not in ("www", "api", "chat", "com", "ai", "io")]
    return slugify(labels[0] if labels else host)
