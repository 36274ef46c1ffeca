"""Web chat discovery run for the desk: with its pattern library, its secrets, and one
of its own ON endpoints as the assistant when the heuristics are unsure.

The add flow (``engine/onboard.py``) calls :func:`configure_web_chat_for` when the URL
is a chat page without selectors; discovery itself lives in
``endpoint_desk.discovery.webchat``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from endpoint_desk.core.errors import LoginRequired
from endpoint_desk.core.models import BrowserConfig, ChatRequest, EndpointKind
from endpoint_desk.engine.hints import DescriptionHints

if TYPE_CHECKING:
    from endpoint_desk.engine.desk import Desk

__all__ = ["assist_from_desk", "configure_web_chat_for"]


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


async def configure_web_chat_for(
    desk: Desk,
    url: str,
    *,
    name: str,
    description: str | None = None,
    username: str | None = None,
    password: str | None = None,
    login_url: str | None = None,
    browser_config: BrowserConfig | None = None,
    progress: Callable[[Any], Any] | None = None,
    hints: DescriptionHints | None = None,
    use_assist: bool = True,
) -> Any:
    """Run web chat discovery with the desk's pattern library, secrets and (when one is
    ON) an endpoint of the portfolio as the assistant. Returns a ``WebChatDiscovery``.

    Args:
        username, password: secret *references* of the login, if any.
        hints: what the endpoint's description says (a login wall met when it says
            credentials are needed is explained so).

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
            browser_config=browser_config,
            username=username,
            password=password,
            resolve_secret=desk.secrets.resolve,
            login_url=login_url,
        )
    except LoginRequired as exc:
        if hints is not None and hints.needs_credentials and not (username and password):
            raise LoginRequired(
                f"{exc.one_line()} (the description says credentials are needed: give a "
                "user name and a password, or sign in once with `desk login`)"
            ) from exc
        raise
