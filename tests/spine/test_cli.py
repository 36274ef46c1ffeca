"""The one-liners, run as a user runs them: a real process, a real sim, a real database."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SECRET = "sk-sim-secret-key-0123456789"


def desk(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    root = str(Path(__file__).resolve().parents[2])
    full_env = {**os.environ, "PYTHONPATH": root, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "endpoint_desk", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=input,
        timeout=60,
    )


def ok(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = desk(*args, **kw)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def fails(*args: str, words: str, **kw: object) -> subprocess.CompletedProcess[str]:
    proc = desk(*args, **kw)  # type: ignore[arg-type]
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert len(lines) == 1, proc.stderr
    assert words in lines[0], proc.stderr
    return proc


def portfolio() -> list[dict[str, object]]:
    data = json.loads(ok("ls", "--json").stdout)
    assert isinstance(data, list)
    return data


def configuration() -> list[dict[str, object]]:
    """The portfolio's configuration and state, without its figures (``req_per_min``
    and the like move with the clock, not with what a command changed)."""
    return [{k: v for k, v in ep.items() if k != "metrics"} for ep in portfolio()]


def test_add_ls_test_stop_start_rm(desk_home: Path, sim_url: str) -> None:
    proc = ok("add", sim_url, "--name", "sim", "--model-map", "gpt-4=sim-large")
    assert "openai" in proc.stdout and "why:" in proc.stdout
    [ep] = portfolio()
    assert ep["name"] == "sim" and ep["kind"] == "openai" and ep["state"] == "on"
    assert ep["base_url"] == sim_url
    assert "gpt-4" in ep["models"] and "sim-model" in ep["models"]

    streamed = ok("test", "sim", "hello desk")
    assert "Echo: hello desk" in streamed.stdout
    assert "latency" in streamed.stdout and "first token" in streamed.stdout
    assert "tokens" in streamed.stdout and "cost $" in streamed.stdout

    result = json.loads(ok("test", "sim", "hello json", "--json", "--model", "gpt-4").stdout)
    assert {"id", "provider", "model", "response", "usage", "session"} <= set(result)
    assert result["response"]["content"] == "Echo: hello json"
    assert {"content", "type", "metadata"} <= set(result["response"])
    assert result["usage"]["input_tokens"] > 0 and result["usage"]["output_tokens"] > 0
    assert "cost" in result["usage"]
    assert set(result["session"]) >= {"id", "persistent"}
    assert result["model"] == "sim-large"  # the mapping was applied

    ok("stop", "sim")
    assert portfolio()[0]["state"] == "off"
    ok("start", "sim")
    assert portfolio()[0]["state"] == "on"

    fails("rm", "sim", words="--yes")  # no terminal to ask on
    assert len(portfolio()) == 1
    ok("rm", "sim", "--yes")
    assert portfolio() == []


def test_bad_input_gets_one_clear_line_and_changes_nothing(desk_home: Path, sim_url: str) -> None:
    ok("add", sim_url, "--name", "sim")
    before = configuration()
    fails("add", sim_url, "--name", "sim", words="already exists")
    fails("test", "nope", "hi", words="no endpoint named 'nope'")
    fails("start", "nope", words="no endpoint named")
    fails("rm", "nope", "--yes", words="no endpoint named")
    fails("add", "http://127.0.0.1:9", "--name", "dead", words="Unreachable")
    fails("add", sim_url, "--name", "k", "--kind", "telepathy", words="unknown --kind")
    fails("add", sim_url, "--name", "m", "--model-map", "nonsense", words="ASKED=UPSTREAM")
    fails("add", sim_url, "--name", "e", "--api-key-env", "NOPE_NOT_SET", words="NOPE_NOT_SET")
    fails("add", sim_url + "/sim/stats/x", "--name", "notapi", words="not as an API")
    assert configuration() == before

    cfg = desk_home / "config" / "config.toml"
    cfg.write_text("[server\nport = 1")
    fails("ls", words="not valid TOML")
    fails("add", sim_url, "--name", "other", words="not valid TOML")
    cfg.unlink()
    assert configuration() == before


def test_keys_are_secrets(desk_home: Path, keyed_sim_url: str) -> None:
    fails("add", keyed_sim_url, "--name", "nokey", words="API key")
    fails("add", keyed_sim_url, "--name", "badkey", "--api-key", "sk-wrong-0000000000", words="key")
    proc = ok("add", keyed_sim_url, "--name", "keyed", "--api-key", SECRET)
    assert SECRET not in proc.stdout + proc.stderr
    listing = ok("ls", "--json").stdout
    assert SECRET not in listing
    ep = json.loads(listing)[0]
    assert ep["spec"]["api_key"].startswith(("file:", "keyring:"))
    assert "Echo: hi" in ok("test", "keyed", "hi").stdout
    db = desk_home / "data" / "desk.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    for f in (desk_home / "data").iterdir():
        assert SECRET.encode() not in f.read_bytes(), f
    for f in (desk_home / "logs").glob("*"):
        assert SECRET not in f.read_text(errors="replace")
    secrets_file = desk_home / "config" / "secrets.json"
    if secrets_file.exists():
        assert secrets_file.stat().st_mode & 0o777 == 0o600

    env = {"SIM_KEY": SECRET}
    ok("add", keyed_sim_url, "--name", "envkey", "--api-key-env", "SIM_KEY", env=env)
    ep = next(e for e in portfolio() if e["name"] == "envkey")
    assert ep["spec"]["api_key"] == "env:SIM_KEY"
    assert "Echo: yo" in ok("test", "envkey", "yo", env=env).stdout
    fails("test", "envkey", "yo", env={"SIM_KEY": ""}, words="SIM_KEY")

    ok("rm", "keyed", "--yes")
    if secrets_file.exists():
        assert "keyed" not in secrets_file.read_text()


def test_kind_skips_detection_and_paths(desk_home: Path, sim_url: str) -> None:
    proc = ok("add", sim_url + "/v1", "--name", "direct", "--kind", "openai", "--no-prove")
    assert "detection skipped" in proc.stdout
    paths = json.loads(ok("paths", "--json").stdout)
    assert paths["database"] == str(desk_home / "data" / "desk.sqlite3")
    assert {"config", "data", "database", "logs"} <= set(paths)
    plain = ok("paths").stdout
    assert str(desk_home / "logs") in plain


def test_bare_desk_prints_the_portfolio_and_the_next_step(desk_home: Path) -> None:
    proc = ok()
    assert "desk add URL" in proc.stdout


@pytest.mark.parametrize("args", [["sim", "--port", "-5"], ["test"], ["add"]])
def test_usage_errors_do_not_trace(desk_home: Path, args: list[str]) -> None:
    proc = desk(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr


def test_options_configure_a_template_endpoint(desk_home: Path, sim_url: str) -> None:
    template = {
        "template": {
            "url": "/custom/generate",
            "body": {"input": "{{prompt}}", "model": "{{model}}"},
            "response": "output.text",
            "usage": {"input": "meta.tokens.in", "output": "meta.tokens.out"},
        }
    }
    path = desk_home.parent / "custom.json"
    path.write_text(json.dumps(template))
    ok("add", sim_url, "--name", "custom", "--kind", "template", "--options", f"@{path}")
    [ep] = portfolio()
    assert ep["spec"]["options"] == template
    result = json.loads(ok("test", "custom", "templated", "--json", "--model", "sim-model").stdout)
    assert result["response"]["content"] == "Echo: templated"
    assert result["usage"]["estimated"] is False
    fails("add", sim_url, "--name", "c2", "--kind", "template", "--options", "{", words="JSON")
    fails("add", sim_url, "--name", "c3", "--options", "@/no/such.json", words="cannot read")
    fails("add", sim_url, "--name", "c4", "--options", "[1]", words="JSON object")
    assert len(portfolio()) == 1


def test_set_and_show_change_settings_without_json(desk_home: Path, sim_url: str) -> None:
    ok("add", sim_url, "--name", "sim")
    assert sim_url in ok("ls").stdout  # piped: rows whole, the URL not folded
    shown = ok("show", "sim").stdout
    assert "limits.max_requests_per_minute = (not set: no limit)" in shown
    assert "limits.max_concurrent_requests = (not set: no limit)" in shown
    assert "limits.timeout_seconds = 30.0" in shown

    proc = ok("set", "sim", "rpm=100", "timeout=10", "model_mapping.gpt-4=sim-large")
    assert "sim: limits.timeout_seconds 30.0 -> 10.0" in proc.stdout
    assert "sim: model_mapping.gpt-4 (not set) -> sim-large" in proc.stdout
    [ep] = portfolio()
    spec = ep["spec"]
    assert isinstance(spec, dict)
    assert spec["limits"]["max_requests_per_minute"] == 100
    assert spec["limits"]["timeout_seconds"] == 10.0
    assert spec["model_mapping"] == {"gpt-4": "sim-large"}
    result = json.loads(ok("test", "sim", "mapped", "--json", "--model", "gpt-4").stdout)
    assert result["model"] == "sim-large"

    # bad keys and values: one line naming them, nothing changed (all or nothing)
    before = configuration()
    fails("set", "sim", "timeout=5", "rpm=0", words="bad value for rpm")
    fails("set", "sim", "bogus=1", words="unknown setting 'bogus'")
    fails("set", "sim", "timout=1", words="did you mean timeout?")
    fails("set", "sim", "no-equals-sign", words="KEY=VALUE")
    fails("set", "sim", "enabled=false", words="desk start")
    fails("set", "nope", "rpm=1", words="no endpoint named 'nope'")
    assert configuration() == before

    # a secret given as a value is stored as a secret and never shown
    proc = ok("set", "sim", f"api_key={SECRET}", "rpm=")
    assert SECRET not in proc.stdout + proc.stderr
    assert "limits.max_requests_per_minute 100 -> (not set: no limit)" in proc.stdout
    shown = ok("show", "sim").stdout
    data = json.loads(ok("show", "sim", "--json").stdout)
    assert SECRET not in shown and SECRET not in json.dumps(data)
    assert data["api_key"].startswith(("file:", "keyring:"))
    assert data["limits"]["max_requests_per_minute"] is None


def test_test_refuses_an_endpoint_switched_off_unless_forced(desk_home: Path, sim_url: str) -> None:
    import urllib.request

    def chats() -> int:
        with urllib.request.urlopen(sim_url + "/sim/stats", timeout=10) as resp:
            stats = json.loads(resp.read())
        return int(stats["requests"].get("POST /v1/chat/completions", 0))

    ok("add", sim_url, "--name", "sim", "--off")
    sent = chats()
    proc = fails("test", "sim", "hi", words="sim is switched OFF")
    assert "--force" in proc.stderr
    assert chats() == sent  # nothing was sent
    proc = ok("test", "sim", "hi", "--force")
    assert "Echo: hi" in proc.stdout
    assert "switched OFF; testing it anyway" in proc.stderr
    assert chats() == sent + 1
    [ep] = portfolio()
    assert ep["state"] == "off" and ep["enabled"] is False  # still OFF
