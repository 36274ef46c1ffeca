"""What people type, read one way everywhere (``core/inputs.py``), and the secrets of a
spec found wherever they are (``engine/credentials.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from endpoint_desk.core.errors import BadRequest, ConfigError
from endpoint_desk.core.inputs import name_from_url, normalize_url, parse_kind, parse_model_map
from endpoint_desk.core.models import BrowserConfig, EndpointKind, EndpointSpec, ProxyConfig
from endpoint_desk.core.paths import get_paths
from endpoint_desk.engine.credentials import StoredSecrets, env_ref, stored_refs
from endpoint_desk.store.secrets import SecretStore


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://127.0.0.1:11434", "local-11434"),
        ("localhost", "local-80"),
        ("https://api.openai.com/v1", "openai"),
        ("chat.deepseek.com", "deepseek"),
        ("https://www.example.org/chat", "example"),
    ],
)
def test_name_from_url(url: str, name: str) -> None:
    assert name_from_url(url) == name


def test_normalize_url_adds_the_scheme_and_checks_host_and_port() -> None:
    assert normalize_url(" 127.0.0.1:9100 ") == "http://127.0.0.1:9100"
    assert normalize_url("https://api.example.com/v1") == "https://api.example.com/v1"
    for bad, words in [
        ("http://127.0.0.1:99999", "invalid URL"),
        ("http://host:port", "invalid URL"),
        ("ftp://nope", "http:// or https://"),
        ("http://", "no host name"),
        ("  ", "required"),
    ]:
        with pytest.raises(BadRequest, match=words) as caught:
            normalize_url(bad)
        assert caught.value.param == "base_url"


def test_kinds_and_model_maps() -> None:
    assert parse_kind("web_chat") is EndpointKind.WEB_CHAT
    with pytest.raises(BadRequest, match=r"unknown --kind 'fax'; one of: openai"):
        parse_kind("fax", what="--kind")
    assert parse_model_map(["fast=gpt-4o-mini", " smart = gpt-4o "]) == {
        "fast": "gpt-4o-mini",
        "smart": "gpt-4o",
    }
    assert parse_model_map("fast = a, smart=b\n") == {"fast": "a", "smart": "b"}
    for bad in (["fast"], "=x", "x="):
        with pytest.raises(BadRequest, match="ASKED=UPSTREAM") as caught:
            parse_model_map(bad)
        assert caught.value.param == "model_mapping"


def test_stored_refs_finds_every_stored_secret_of_a_spec() -> None:
    spec = EndpointSpec(
        name="many",
        kind="web_chat",
        base_url="http://127.0.0.1:9",
        api_key="file:many.api_key",
        username="env:CHAT_USER",
        password="keyring:many.password",
        headers={"Authorization": "file:many.header.authorization", "X-Plain": "hello"},
        browser_config=BrowserConfig(
            proxy=ProxyConfig(server="http://proxy:3128", password="file:many.proxy")
        ),
        options={"extra": [{"token": "file:many.options-token"}], "url": "http://x/y"},
    )
    assert stored_refs(spec) == {
        "file:many.api_key",
        "keyring:many.password",
        "file:many.header.authorization",
        "file:many.proxy",
        "file:many.options-token",
    }
    # a reference inside a URL (a proxy URL's password) counts too; env: ones never do
    assert stored_refs({"proxy": "http://me:file%3Aproxy.pw@proxy:3128"}) == {"file:proxy.pw"}
    assert stored_refs({"proxy": "http://me:env:PROXY_PW@proxy:3128"}) == set()


def test_stored_secrets_store_values_keep_refs_and_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESK_HOME", str(tmp_path))
    monkeypatch.setenv("SOME_KEY", "sk-from-env")
    secrets = SecretStore(get_paths(), use_keyring=False)
    stored = StoredSecrets(secrets, "ep")
    fields = {
        "api_key": "sk-typed-value-1234",
        "username": "env:SOME_KEY",
        "password": "",
        "headers": {"X-Api-Key": "hk-typed-5678", "Accept": "text/plain"},
    }
    stored.into_refs(fields)
    assert fields == {
        "api_key": "file:ep.api_key",
        "username": "env:SOME_KEY",
        "headers": {"X-Api-Key": "file:ep.header.x-api-key", "Accept": "text/plain"},
    }
    assert secrets.resolve("file:ep.header.x-api-key") == "hk-typed-5678"
    assert sorted(stored.refs) == ["file:ep.api_key", "file:ep.header.x-api-key"]
    stored.rollback()
    assert secrets._read_file() == {}
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        StoredSecrets(secrets, "ep").ref_for("password", "env:NOT_SET_ANYWHERE")
    with pytest.raises(BadRequest, match="not an environment variable name"):
        env_ref("MY VAR", param="api_key_env")
    with pytest.raises(BadRequest, match="must be a string"):
        StoredSecrets(secrets, "ep").into_refs({"api_key": 42})
