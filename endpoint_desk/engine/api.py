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
needed, a key variable: ``engine/hints.py``) are used when present. The add itself is
the one add flow every front end uses (``engine/onboard.py``).

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

from endpoint_desk.core.config import Settings, load_settings
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import EndpointKind
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.hints import DescriptionHints, parse_description
from endpoint_desk.engine.onboard import AddRequest, AddStep, onboard
from endpoint_desk.engine.position import EndpointView
from endpoint_desk.engine.webchat_setup import assist_from_desk, configure_web_chat_for

__all__ = [
    "AddResult",
    "DescriptionHints",
    "add_endpoint",
    "add_endpoint_async",
    "assist_from_desk",
    "configure_web_chat_for",
    "parse_description",
]


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
    headers: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
    prove: bool = True,
    start: bool = True,
    desk: Desk | None = None,
    settings: Settings | None = None,
    progress: Callable[[AddStep], None] | None = None,
) -> AddResult:
    """Add the endpoint at ``url``: detect what it is, configure it (a web chat by
    discovery when ``auto_configure``), prove it with a live call and save it, through
    the one add flow (``engine/onboard.py``).

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
        headers: extra headers; credential headers (``Authorization``...) are stored
            as secrets.
        desk: an open ``Desk`` to add to; default: one opened (and closed) here.
        progress: called with each step of the add (an ``AddStep``) as it happens.

    Raises:
        Duplicate: the name is taken.  LoginRequired: a login wall and no credentials.
        DeskError: detection, discovery or the live proof failed (nothing is saved, no
            secret is left).
    """
    hints = parse_description(description)
    if api_key_env is None and not api_key and hints.key_env and hints.key_env in os.environ:
        api_key_env = hints.key_env
    request = AddRequest(
        url=url,
        name=name if name is not None else hints.name,
        kind=kind,
        api_key=api_key,
        api_key_env=api_key_env,
        username=username,
        password=password,
        login_url=login_url,
        headers=dict(headers or {}),
        options=dict(options or {}),
        note=description or "",
        expect="web_chat" if kind is None and hints.kind == EndpointKind.WEB_CHAT else None,
        auto_configure=auto_configure,
        prove=prove,
        start=start,
    )
    if request.expect == "web_chat":
        request.evidence.append("the description says it is a web chat")
    if desk is None:
        async with Desk(settings or load_settings(), autostart=False) as own:
            added = await onboard(own, request, progress)
    else:
        added = await onboard(desk, request, progress)
    return AddResult(added.view, added.plan.evidence, hints, added.plan.discovery)


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
