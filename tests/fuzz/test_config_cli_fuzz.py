"""Property tests of the config file and of ``desk add``'s arguments: any file content
either loads or is one ``ConfigError`` naming the file (never another exception); any
``desk add`` arguments end in success or one clear error line, never a traceback, and a
rejected ``desk add`` leaves the portfolio and the secret file as they were."""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from endpoint_desk.core.errors import ConfigError

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """DESK_HOME for the whole module (hypothesis runs many examples in one test)."""
    path = tmp_path_factory.mktemp("cfgdesk")
    old = {k: os.environ.get(k) for k in ("DESK_HOME", "DESK_API_KEY", "DATABASE_URL")}
    os.environ["DESK_HOME"] = str(path)
    os.environ.pop("DESK_API_KEY", None)
    os.environ.pop("DATABASE_URL", None)
    try:
        yield path
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else "nan"
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return '""'


SECTIONS = {
    "server": [
        "host",
        "port",
        "api_key",
        "admin_key",
        "cors_origins",
        "max_body_bytes",
        "max_messages",
        "bogus",
    ],
    "routing": ["strategy", "per_model", "latency_tolerance"],
    "breaker": [
        "window_seconds",
        "min_requests",
        "failure_threshold",
        "cooldown_seconds",
        "max_cooldown_seconds",
    ],
    "health": ["enabled", "jitter", "webhook_url"],
    "budget": ["daily_desk_budget"],
    "cache": ["ttl_seconds", "max_entries"],
    "store": ["database_url", "echo", "flush_interval", "batch_size"],
    "log": ["level"],
    "defaults": ["max_requests_per_minute", "timeout_seconds", "retry_attempts"],
    "nonsense": ["x"],
}
values = st.recursive(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["latency", "cost", "127.0.0.1", "0.0.0.0", "DEBUG", "sqlite:///:memory:"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    lines: list[str] = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=4, unique=True)):
        lines.append(f"[{section}]")
        keys = draw(st.lists(st.sampled_from(SECTIONS[section]), max_size=4, unique=True))
        for key in keys:
            lines.append(f"{key} = {_toml_value(draw(values))}")
    return "\n".join(lines) + "\n"


def _check_load(home: Path, content: bytes) -> None:
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.core.paths import get_paths

    cfg = get_paths().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_bytes(content)
    try:
        load_settings()
    except ConfigError as exc:
        line = exc.one_line()
        event("ConfigError")
        assert str(cfg) in line or "DESK_" in line, line
        assert "Traceback" not in line
    else:
        event("loaded")
    finally:
        cfg.unlink()


@given(text=config_texts())
def test_structured_config_loads_or_is_one_config_error(home: Path, text: str) -> None:
    _check_load(home, text.encode())


@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_as_config(home: Path, raw: bytes) -> None:
    _check_load(home, raw)


# ---------------------------------------------------------------- desk add arguments

SECRET = "sk-FUZZ-add-secret-0123456789"
name_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=15
)
url_parts = st.sampled_from(
    [
        "",
        " ",
        "http://",
        "https://",
        "ftp://127.0.0.1",
        "://",
        "http://[::1",
        "127.0.0.1:1",
        "http://127.0.0.1:1/v1",
        "http://127.0.0.1:notaport",
        "http://127.0.0.1:1/%zz",
        "http://127.0.0.1:99999",
    ]
)


@st.composite
def add_args(draw: st.DrawFn) -> list[str]:
    args = ["add", draw(url_parts) + draw(st.text(string.ascii_letters + "/?#%", max_size=6))]
    if draw(st.booleans()):
        args += ["--name", draw(name_text)]
    if draw(st.booleans()):
        args += ["--kind", draw(st.sampled_from(["openai", "ollama", "web_chat", "nope", ""]))]
    for _ in range(draw(st.integers(0, 2))):
        args += ["--model-map", draw(st.sampled_from(["a=b", "=b", "a=", "ab", "a==b", " = "]))]
    for _ in range(draw(st.integers(0, 2))):
        args += ["--model", draw(name_text)]
    if draw(st.booleans()):
        args += ["--api-key", SECRET]
    if draw(st.booleans()):
        args += ["--api-key-env", draw(st.sampled_from(["NOPE_UNSET_VAR", "", "PATH"]))]
    if draw(st.booleans()):
        args += ["--no-prove"]
    if draw(st.booleans()):
        args += ["--note", draw(name_text)]
    if draw(st.booleans()):
        args += ["--json"]
    return args


def _portfolio(runner: CliRunner) -> list[Any]:
    from endpoint_desk.cli import app

    res = runner.invoke(app, ["ls", "--json"])
    assert res.exit_code == 0, res.output
    return list(json.loads(res.stdout))


def _secrets(home: Path) -> dict[str, Any]:
    """The names stored in the secret file (none when there is no file)."""
    from endpoint_desk.core.paths import get_paths

    path = get_paths().secrets_file
    return dict(json.loads(path.read_bytes()).get("secrets", {})) if path.exists() else {}


@given(args=add_args())
def test_desk_add_with_any_arguments(home: Path, args: list[str]) -> None:
    from endpoint_desk.cli import app

    runner = CliRunner()
    before, secrets_before = _portfolio(runner), _secrets(home)
    res = runner.invoke(app, args, catch_exceptions=True)
    text = res.output
    event(f"exit {res.exit_code}")
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, res.exception)
    assert "Traceback" not in text, text
    assert SECRET not in text
    if res.exit_code != 0:
        assert res.exit_code in (1, 2), (args, text)
        if res.exit_code == 1:
            errors = [ln for ln in text.splitlines() if ln.startswith("error")]
            assert len(errors) == 1, (args, text)
        assert _portfolio(runner) == before, "a rejected desk add changed the portfolio"
        assert _secrets(home) == secrets_before, "a rejected desk add left a secret behind"
    else:
        added = [e for e in _portfolio(runner) if e not in before]
        assert len(added) == 1
        assert runner.invoke(app, ["rm", added[0]["name"], "--yes"]).exit_code == 0
