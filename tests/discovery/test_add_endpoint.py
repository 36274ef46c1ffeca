"""``add_endpoint(url, description, auto_configure)`` from Python and ``desk add URL`` on
a chat page: discovery, then save and start; a follow-up request is answered."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from endpoint_desk import add_endpoint
from endpoint_desk.cli import app
from endpoint_desk.core.errors import LoginRequired
from endpoint_desk.core.models import ChatRequest, EndpointKind
from endpoint_desk.engine.api import add_endpoint_async, parse_description
from endpoint_desk.engine.desk import Desk
from endpoint_desk.sim.chatpages import ChatPagesServer

pytestmark = [pytest.mark.timeout(180)]


@pytest.mark.parametrize(
    ("text", "kind", "name", "creds", "key"),
    [
        ("Add DeepSeek web chat with my credentials", "web_chat", "deepseek-web-chat", True, None),
        ("Anthropic API, key in ANTHROPIC_API_KEY", "anthropic", "anthropic", False,
         "ANTHROPIC_API_KEY"),
        ("local ollama box", "ollama", None, False, None),
        ("the team's chat page, sign in first", "web_chat", None, True, None),
        ("", None, None, False, None),
    ],
)  # fmt: skip
def test_description_hints(
    text: str, kind: str | None, name: str | None, creds: bool, key: str | None
) -> None:
    hints = parse_description(text)
    assert (hints.kind.value if hints.kind else None) == kind
    assert hints.name == name
    assert hints.needs_credentials is creds
    assert hints.key_env == key


@pytest.mark.browser
async def test_add_endpoint_async_with_a_description(desk: Desk, pages: ChatPagesServer) -> None:
    result = await add_endpoint_async(
        url=pages.url_for("textarea"),
        description="Add Fixture web chat for the team",
        auto_configure=True,
        desk=desk,
    )
    assert result.name == "fixture-web-chat"  # from the description's hints
    assert result.view.spec.kind == EndpointKind.WEB_CHAT
    assert result.view.spec.note == "Add Fixture web chat for the team"
    assert result.discovery is not None and result.discovery.confidence >= 0.8
    assert result.view.state.value == "on"
    reply = await desk.chat(ChatRequest.from_text("What is 8 + 9?"), endpoint=result.name)
    assert "The answer is 17." in reply.content


@pytest.mark.browser
async def test_credentials_hint_with_a_login_wall(desk: Desk, pages: ChatPagesServer) -> None:
    url = pages.url_for("shadow")
    with pytest.raises(LoginRequired, match="description says credentials are needed"):
        await add_endpoint_async(
            url=url, description="Add Shadow web chat with my credentials", desk=desk
        )
    assert desk.endpoints() == []
    result = await add_endpoint_async(
        url=url,
        description="Add Shadow web chat with my credentials",
        username="alice",
        password="s3cret",
        desk=desk,
    )
    spec = result.view.spec
    assert spec.username and spec.password and "s3cret" not in spec.password
    assert desk.secrets.resolve(spec.password) == "s3cret"
    assert "s3cret" not in json.dumps(result.to_dict())
    reply = await desk.chat(ChatRequest.from_text("What is 1 + 2?"), endpoint=result.name)
    assert "The answer is 3." in reply.content


@pytest.mark.browser
def test_add_endpoint_sync_for_scripts(thread_pages: ChatPagesServer) -> None:
    result = add_endpoint(
        url=thread_pages.url_for("editable"), description="notes page", auto_configure=True
    )
    assert result.view.spec.kind == EndpointKind.WEB_CHAT and result.view.state.value == "on"
    res = CliRunner().invoke(app, ["test", result.name, "What is 2 + 2?"])
    assert res.exit_code == 0, res.output
    assert "The answer is 4." in res.output


@pytest.mark.browser
async def test_add_endpoint_sync_inside_a_running_loop(desk: Desk) -> None:
    """A notebook cell has a running loop: the sync form runs in a worker thread (and
    reports the page's own error, not "asyncio.run() cannot be called...")."""
    from endpoint_desk.core.errors import Unreachable
    from tests.discovery.conftest import free_port

    with pytest.raises(Unreachable, match="cannot load"):
        add_endpoint(url=f"http://127.0.0.1:{free_port()}/", description="a web chat")


@pytest.mark.browser
def test_cli_desk_add_on_a_chat_page(thread_pages: ChatPagesServer) -> None:
    runner = CliRunner()
    url = thread_pages.url_for("textarea")
    res = runner.invoke(app, ["add", url, "--name", "fx", "--note", "fixture chat"])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "configuring the web chat" in out
    for step in ("load", "input", "send", "reply", "assistant", "verify"):
        assert re.search(rf"ok +{step} ", out), out
    assert "assistant" in out and "confidence" in out
    assert "added fx (web_chat)" in out and "state: on" in out
    res = runner.invoke(app, ["test", "fx", "What is 5 + 5?"])
    assert res.exit_code == 0 and "The answer is 10." in res.output
    res = runner.invoke(app, ["ls", "--json"])
    spec = json.loads(res.output)[0]["spec"]
    assert spec["options"]["input"] == "#prompt" and spec["note"] == "fixture chat"


@pytest.mark.browser
def test_cli_login_wall_is_explained(thread_pages: ChatPagesServer) -> None:
    res = CliRunner().invoke(app, ["add", thread_pages.url_for("shadow"), "--name", "sh"])
    assert res.exit_code == 1
    assert "login wall" in res.output and "desk login sh" in res.output
    res = CliRunner().invoke(
        app,
        ["add", thread_pages.url_for("shadow"), "--name", "sh",
         "--username-env", "FX_USER", "--password-env", "FX_PASS", "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.output[res.output.index("{") :])
    assert data["spec"]["username"] == "env:FX_USER" and "s3cret" not in res.output
    assert data["discovery"]["confidence"] > 0.5


async def test_add_endpoint_on_an_api_uses_the_key_variable_the_description_names(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    from endpoint_desk.sim import SimConfig, SimServer

    monkeypatch.setenv("TEAM_SIM_API_KEY", "sk-team-sim-123")
    async with SimServer(SimConfig(api_key="sk-team-sim-123", models=["m1"])) as sim:
        result = await add_endpoint_async(
            url=sim.url, description="Team Sim API, key in TEAM_SIM_API_KEY", desk=desk
        )
        spec = result.view.spec
        assert result.name == "team" and spec.kind != EndpointKind.WEB_CHAT
        assert spec.api_key == "env:TEAM_SIM_API_KEY" and spec.note.startswith("Team Sim")
        assert result.discovery is None and "m1" in spec.models
        reply = await desk.chat(ChatRequest.from_text("hi"), endpoint=result.name)
        assert reply.content == "Echo: hi"
        assert "sk-team-sim-123" not in json.dumps(result.to_dict())
