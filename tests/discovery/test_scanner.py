"""``desk scan``: keys named (never shown), local servers verified by their own API."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator

import pytest
from aiohttp import web
from typer.testing import CliRunner

from endpoint_desk.adapters.base import close_shared_resources
from endpoint_desk.cli import app
from endpoint_desk.core.errors import BadRequest
from endpoint_desk.core.models import EndpointKind
from endpoint_desk.discovery.scanner import scan
from endpoint_desk.discovery.scanner.keys import KNOWN_PROVIDERS, find_keys
from endpoint_desk.discovery.scanner.ports import parse_ports, ports_from_env
from endpoint_desk.sim import SimConfig, SimServer, start_sim_in_thread

SECRET = "sk-test-THIS-MUST-NEVER-BE-PRINTED-0123456789"
ANTHROPIC_SECRET = "sk-ant-ALSO-SECRET-9876543210"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test without any provider key or DESK_SCAN_PORTS from the developer."""
    for p in KNOWN_PROVIDERS:
        for var in p.env_vars:
            monkeypatch.delenv(var, raising=False)
        if p.base_url_env:
            monkeypatch.delenv(p.base_url_env, raising=False)
    monkeypatch.delenv("DESK_SCAN_PORTS", raising=False)


@pytest.fixture
async def _close_pool() -> AsyncIterator[None]:
    yield
    await close_shared_resources()


def free_port() -> int:
    """A port nothing listens on (bound, read back, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _page(_: web.Request) -> web.Response:
    return web.Response(
        text="<html><body><textarea placeholder='Message'></textarea></body></html>",
        content_type="text/html",
    )


@pytest.fixture
async def html_server() -> AsyncIterator[int]:
    app_ = web.Application()
    app_.router.add_get("/", _page)
    runner = web.AppRunner(app_, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield int(port)
    await runner.cleanup()


def test_keys_are_named_never_valued() -> None:
    env = {"OPENAI_API_KEY": SECRET, "GROQ_API_KEY": "gsk-x", "MISTRAL_API_KEY": "  "}
    found = find_keys(env)
    names = [k.provider for k in found]
    assert names == ["openai", "groq"]  # an empty/blank variable is not a key
    dumped = json.dumps([k.to_dict() for k in found])
    assert SECRET not in dumped and "gsk-x" not in dumped
    openai = found[0]
    assert openai.command == (
        "desk add https://api.openai.com/v1 --name openai --kind openai "
        "--api-key-env OPENAI_API_KEY"
    )


def test_gemini_aliases_and_base_url_override() -> None:
    env = {
        "GOOGLE_API_KEY": "g1",
        "GEMINI_API_KEY": "g2",
        "DEEPSEEK_API_KEY": "d",
        "DEEPSEEK_BASE_URL": "http://127.0.0.1:9/v1/",
        "ZHIPUAI_API_KEY": "z",
    }
    by = {k.provider: k for k in find_keys(env)}
    assert by["gemini"].env_var == "GEMINI_API_KEY"
    assert by["gemini"].also_set == ["GOOGLE_API_KEY"]
    assert by["gemini"].kind == EndpointKind.GEMINI
    assert by["deepseek"].base_url == "http://127.0.0.1:9/v1"
    assert by["zhipu"].base_url.endswith("/api/paas/v4")


def test_port_lists_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_ports(["11434", 1234, "11434"]) == [11434, 1234]
    with pytest.raises(BadRequest, match="'abc' is not a port"):
        parse_ports(["abc"])
    with pytest.raises(BadRequest, match="70000"):
        parse_ports([70000])
    assert ports_from_env({}) is None
    assert ports_from_env({"DESK_SCAN_PORTS": "1, 2 3"}) == [1, 2, 3]
    with pytest.raises(BadRequest, match="DESK_SCAN_PORTS"):
        ports_from_env({"DESK_SCAN_PORTS": "1,x"})


@pytest.mark.usefixtures("_close_pool")
async def test_scan_finds_servers_by_their_own_api(html_server: int) -> None:
    closed = free_port()
    async with (
        SimServer(SimConfig(models=["llama3:8b", "qwen2:7b"])) as sim,
        SimServer(SimConfig(api_key="sk-sim-locked")) as locked,
    ):
        report = await scan([closed, sim.port, locked.port, html_server], env={}, timeout=3.0)
    by_port = {s.port: s for s in report.servers}
    assert closed not in by_port  # nothing listens: nothing reported
    api = by_port[sim.port]
    assert api.kind in (EndpointKind.OPENAI, EndpointKind.OLLAMA)
    assert set(api.models) >= {"llama3:8b", "qwen2:7b"}
    assert any("answered" in e for e in api.evidence)
    assert api.command.startswith(f"desk add {api.url} --name ")
    assert f"--kind {api.kind.value}" in api.command
    assert by_port[locked.port].needs_key
    assert "--api-key-env" in by_port[locked.port].command
    page = by_port[html_server]
    assert page.kind == EndpointKind.WEB_CHAT
    assert "--kind" not in page.command  # a page is configured by `desk add URL`
    assert report.scanned_ports == [closed, sim.port, locked.port, html_server]
    assert len({s.name for s in report.servers}) == len(report.servers)


@pytest.mark.usefixtures("_close_pool")
async def test_scan_ports_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    async with SimServer() as sim:
        monkeypatch.setenv("DESK_SCAN_PORTS", f"{sim.port},{free_port()}")
        report = await scan(env={"DESK_SCAN_PORTS": f"{sim.port}"}, timeout=3.0)
    assert report.scanned_ports == [sim.port]
    assert [s.port for s in report.servers] == [sim.port]


@pytest.fixture
def thread_sim() -> Iterator[str]:
    url, stop = start_sim_in_thread(SimConfig(api_key=SECRET, models=["gpt-sim"]))
    yield url
    stop()


def test_cli_scan_names_keys_and_adds_everything(
    monkeypatch: pytest.MonkeyPatch, thread_sim: str
) -> None:
    """`desk scan --add`: the env key's provider (pointed at the sim) and the local server
    are added and proved; no key value ever reaches the output."""
    port = int(thread_sim.rsplit(":", 1)[1])
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", thread_sim + "/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_SECRET)
    runner = CliRunner()
    res = runner.invoke(app, ["scan", "--port", str(port), "--port", str(free_port())])
    assert res.exit_code == 0, res.output
    assert "$OPENAI_API_KEY is set" in res.output
    assert "$ANTHROPIC_API_KEY is set" in res.output
    assert f"desk add {thread_sim}/v1 --name openai --kind openai --api-key-env OPENAI_API_KEY" in (
        res.output
    )
    assert f":{port}" in res.output  # the locked sim is reported, wanting a key
    assert SECRET not in res.output and ANTHROPIC_SECRET not in res.output

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    res = runner.invoke(app, ["scan", "--port", str(port), "--add", "--json"])
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output
    data = json.loads(res.output)
    added = {a["name"]: a for a in data["added"]}
    assert added["openai"]["ok"] and added["openai"]["state"] == "on"
    res = runner.invoke(app, ["ls", "--json"])
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output
    listed = {e["name"]: e for e in json.loads(res.output)}
    assert listed["openai"]["spec"]["api_key"] == "env:OPENAI_API_KEY"
    # a second --add skips what is already there
    res = runner.invoke(app, ["scan", "--port", str(port), "--add", "--json"])
    again = {a["name"]: a for a in json.loads(res.output)["added"]}
    assert again["openai"]["skipped"]


def test_cli_scan_rejects_a_bad_port() -> None:
    res = CliRunner().invoke(app, ["scan", "--port", "0"])
    assert res.exit_code != 0
