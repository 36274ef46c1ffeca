"""Unit tests of the web chat configuration, prompt flattening and browser lookup
(no browser started)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from endpoint_desk.adapters.base import adapter_class
from endpoint_desk.adapters.webchat import browser, page_script
from endpoint_desk.adapters.webchat.adapter import WebChatAdapter
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.adapters.webchat.prompt import flatten_messages
from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import BrowserConfig, EndpointKind, EndpointSpec


def spec(**options: object) -> EndpointSpec:
    return EndpointSpec(
        name="w", kind="web_chat", base_url="http://127.0.0.1:1/chat", options=options
    )


def test_registry_names_the_web_chat_adapter() -> None:
    assert adapter_class(EndpointKind.WEB_CHAT) is WebChatAdapter
    caps = WebChatAdapter.capabilities
    assert caps.needs_browser and caps.sessions and caps.streaming


def test_options_default_to_the_base_url_and_keep_every_key() -> None:
    o = WebChatOptions.from_spec(spec(input="#i", assistant=".a", busy=".stop", quiet_ms=80))
    assert o.url == "http://127.0.0.1:1/chat"
    assert o.quiet_ms == 80 and o.busy == ".stop" and o.has_busy_signal
    assert o.page_config()["assistant"] == ".a"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"assistant": ".a"}, "input"),
        ({"input": "#i"}, "assistant"),
        ({"input": "#i", "assistant": ".a", "sned": "#s"}, "unknown web chat option"),
        ({"input": "#i", "assistant": ".a", "quiet_ms": "fast"}, "quiet_ms"),
        ({"input": "#i", "assistant": ".a", "busy_input": "yes"}, "busy_input"),
        ({"input": "#i", "assistant": ".a", "pages": 0}, "pages"),
        ({"input": "#i", "assistant": ".a", "report": "smoke"}, "report"),
        ({"input": "#i", "assistant": ".a", "alternates": {"input": "#x"}}, "alternates"),
        ({"input": "  ", "assistant": ".a"}, "input"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WebChatAdapter(spec(**options), lambda ref: "")


def test_flatten_keeps_a_lone_message_and_labels_a_conversation() -> None:
    assert flatten_messages([("user", "hi")]) == "hi"
    assert flatten_messages([("system", "Be brief."), ("user", "hi")]) == (
        "System: Be brief.\n\nUser: hi"
    )


def test_sandbox_flag_only_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert "--no-sandbox" in browser.launch_args()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    args = browser.launch_args()
    assert "--no-sandbox" not in args and "--disable-gpu" in args


def test_executable_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine, env = tmp_path / "mine", tmp_path / "env"
    for f in (mine, env):
        f.write_text("")
    monkeypatch.setenv("DESK_CHROMIUM", str(env))
    assert browser.find_executable(BrowserConfig(executable_path=str(mine))) == str(mine)
    assert browser.find_executable(BrowserConfig()) == str(env)
    monkeypatch.setenv("DESK_CHROMIUM", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="DESK_CHROMIUM"):
        browser.find_executable(None)


def test_session_files_are_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path))
    path = browser.write_session("s", {"cookies": [], "origins": []})
    assert path == tmp_path / "data" / "sessions" / "s.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert browser.read_session("s") == {"cookies": [], "origins": []}
    browser.forget_session("s")
    assert browser.read_session("s") is None


def test_page_script_is_packaged() -> None:
    source = page_script()
    assert "window.__deskChat" in source and "MutationObserver" in source
