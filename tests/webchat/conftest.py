"""Fixtures for the web chat tests: the local fixture chat apps and adapters on them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from endpoint_desk.adapters.webchat.adapter import WebChatAdapter
from endpoint_desk.adapters.webchat.browser import close_shared_browser
from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import BrowserConfig, ChatChunk, ChatRequest, EndpointSpec
from endpoint_desk.sim.chatpages import ChatPagesServer

SECRETS = {"env:FX_USER": "alice", "env:FX_PASS": "s3cret", "env:FX_BAD": "wrong"}


def resolve(ref: str) -> str:
    """A secret resolver over a fixed table (the desk's SecretStore is not under test)."""
    try:
        return SECRETS[ref]
    except KeyError:
        raise ConfigError(f"unknown secret {ref}") from None


@pytest.fixture(autouse=True)
def desk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
async def pages() -> AsyncIterator[ChatPagesServer]:
    async with ChatPagesServer(username="alice", password="s3cret") as server:
        yield server


@pytest.fixture
async def browser_cleanup() -> AsyncIterator[None]:
    yield
    await close_shared_browser()


MakeSpec = Callable[..., EndpointSpec]
MakeAdapter = Callable[..., Awaitable[WebChatAdapter]]


@pytest.fixture
def make_spec(pages: ChatPagesServer) -> MakeSpec:
    def make(
        style: str,
        name: str | None = None,
        *,
        knobs: dict[str, Any] | None = None,
        timeout: float = 20.0,
        **options: Any,
    ) -> EndpointSpec:
        creds = options.pop("creds", False)
        opts = pages.options_for(style)
        opts.update(options)
        return EndpointSpec(
            name=name or f"fx-{style}",
            kind="web_chat",
            base_url=pages.url_for(style, **(knobs or {})),
            options=opts,
            browser_config=BrowserConfig(timeout=timeout),
            username="env:FX_USER" if creds else None,
            password=("env:FX_BAD" if creds == "bad" else "env:FX_PASS") if creds else None,
        )

    return make


@pytest.fixture
async def make_adapter(make_spec: MakeSpec, browser_cleanup: None) -> AsyncIterator[MakeAdapter]:
    opened: list[WebChatAdapter] = []

    async def make(style: str, name: str | None = None, **kw: Any) -> WebChatAdapter:
        adapter = WebChatAdapter(make_spec(style, name, **kw), resolve)
        opened.append(adapter)
        await adapter.open()
        return adapter

    yield make
    for adapter in opened:
        await adapter.aclose()


async def collect(
    adapter: WebChatAdapter, request: ChatRequest | str
) -> tuple[str, list[ChatChunk]]:
    """Run one chat; return the joined text and every chunk."""
    if isinstance(request, str):
        request = ChatRequest.from_text(request)
    chunks = [chunk async for chunk in adapter.chat(request)]
    return "".join(c.delta for c in chunks), chunks


def squash(text: str) -> str:
    return " ".join(text.split())
