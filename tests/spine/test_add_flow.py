"""The one add flow's promises, through the CLI as a user runs it and the engine: a failed
add leaves no secret and no endpoint row; removing an endpoint deletes every secret it
refers to (whatever field holds it), but none another endpoint still uses."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import AuthFailed, Duplicate
from endpoint_desk.core.models import BrowserConfig, EndpointSpec, ProxyConfig
from endpoint_desk.core.paths import get_paths
from endpoint_desk.engine.desk import Desk
from endpoint_desk.engine.onboard import AddRequest, AddStep, Onboarding, onboard
from endpoint_desk.sim import SimConfig, SimServer
from endpoint_desk.store.secrets import SecretStore
from tests.secretkit import secrets_left
from tests.spine.test_cli import SECRET, fails, ok, portfolio

HEADER_SECRET = "hk-header-secret-0123456789"
COOKIE_SECRET = "sid-cookie-secret-0123456789"


def stored(name: str, fields: list[str]) -> list[str]:
    """Which of an endpoint's secrets (``{name}.{field}``) are stored, file or keyring."""
    refs = [f"{scheme}:{name}.{field}" for field in fields for scheme in ("file", "keyring")]
    return [ref.split(".", 1)[1] for ref in secrets_left(SecretStore(get_paths()), refs)]


def endpoint_rows(desk_home: Path) -> list[str]:
    with sqlite3.connect(desk_home / "data" / "desk.sqlite3") as conn:
        return [row[0] for row in conn.execute("SELECT name FROM endpoints")]


FIELDS = ["api_key", "header.x-api-key", "header.cookie"]


def test_cli_failed_proof_leaves_no_secret_and_no_row(desk_home: Path, keyed_sim_url: str) -> None:
    """``--kind`` skips probing, so the key and the credential headers are stored and
    the live proof is what fails: they are all deleted again."""
    fails(
        "add", keyed_sim_url, "--name", "bad", "--kind", "openai",
        "--api-key", "sk-wrong-0000000000",
        "--header", f"X-Api-Key: {HEADER_SECRET}", "--header", f"Cookie: {COOKIE_SECRET}",
        words="Authentication failed",
    )  # fmt: skip
    assert stored("bad", FIELDS) == []
    assert portfolio() == []
    assert endpoint_rows(desk_home) == []


def test_cli_rm_deletes_every_secret_of_the_endpoint(desk_home: Path, keyed_sim_url: str) -> None:
    proc = ok(
        "add", keyed_sim_url, "--name", "keyed", "--api-key", SECRET,
        "--header", f"X-Api-Key: {HEADER_SECRET}", "--header", f"Cookie: {COOKIE_SECRET}",
        "--header", "Accept: application/json", "--json",
    )  # fmt: skip
    for value in (SECRET, HEADER_SECRET, COOKIE_SECRET):
        assert value not in proc.stdout + proc.stderr
    spec = json.loads(proc.stdout)["spec"]
    assert spec["headers"]["Accept"] == "application/json"  # not a credential: kept
    assert stored("keyed", FIELDS) == FIELDS
    assert "Echo: hi" in ok("test", "keyed", "hi").stdout  # the key works from its secret
    ok("add", keyed_sim_url + "/v1", "--name", "other", "--kind", "openai", "--api-key", SECRET)
    ok("rm", "keyed", "--yes")
    assert stored("keyed", FIELDS) == []
    assert stored("other", ["api_key"]) == ["api_key"]
    secrets_file = desk_home / "config" / "secrets.json"
    if secrets_file.exists():
        assert "keyed" not in secrets_file.read_text()


@pytest.fixture
async def desk(desk_home: Path) -> AsyncIterator[Desk]:
    async with Desk(load_settings(), autostart=False) as d:
        yield d


async def test_remove_finds_secrets_in_any_field_and_keeps_shared_ones(desk: Desk) -> None:
    put = desk.store_secret
    shared = put("team", "api_key", "sk-shared-000000000000")
    refs = [
        put("many", "header.authorization", "Bearer tok-000000000000"),
        put("many", "proxy", "proxy-password-000000"),
        put("many", "options-token", "opt-token-0000000000"),
        put("many", "password", "hunter2-0000000000"),
    ]
    spec = EndpointSpec(
        name="many",
        kind="web_chat",
        base_url="http://127.0.0.1:9/chat",
        api_key=shared,
        password=refs[3],
        username="env:CHAT_USER",
        headers={"Authorization": refs[0]},
        browser_config=BrowserConfig(proxy=ProxyConfig(server="http://p:3128", password=refs[1])),
        options={"input": "textarea", "assistant": ".m", "extra": {"token": refs[2]}},
    )
    await desk.add(spec, prove=False, start=False)
    await desk.add(
        EndpointSpec(name="team", kind="openai", base_url="http://127.0.0.1:9", api_key=shared),
        prove=False,
        start=False,
    )
    await desk.remove("many")
    for ref in refs:
        with pytest.raises(AuthFailed):
            desk.secrets.resolve(ref)
    assert desk.secrets.resolve(shared) == "sk-shared-000000000000"  # "team" still uses it
    await desk.remove("team")
    with pytest.raises(AuthFailed):
        desk.secrets.resolve(shared)


async def test_engine_flow_reports_steps_and_rolls_back_a_failed_proof(desk: Desk) -> None:
    steps: list[AddStep] = []
    async with SimServer(SimConfig(api_key=SECRET)) as sim:
        request = AddRequest(url=sim.url, name="Keyed Sim", api_key=SECRET, headers={})
        flow = Onboarding(desk, steps.append)
        plan = await flow.plan(request)
        assert [s.stage for s in steps][:2] == ["probe", "probe_step"]
        assert steps[-1].stage == "detected" and "openai" in steps[-1].text
        assert plan.spec.name == "keyed-sim" and plan.spec.display_name == "Keyed Sim"
        assert desk.secrets.resolve(plan.spec.api_key or "") == SECRET
        sim.config.update({"api_key": "sk-rotated-before-the-proof-0000"})
        with pytest.raises(AuthFailed):
            await flow.commit(plan)
        assert steps[-1].stage == "prove"
        with pytest.raises(AuthFailed):
            desk.secrets.resolve(plan.spec.api_key or "")
        assert desk.endpoints() == [] and await desk.store.list_endpoints() == []

        sim.config.update({"api_key": SECRET})
        added = await onboard(desk, request)
        assert added.view.state.value == "on" and "sim-model" in added.view.spec.models
        with pytest.raises(Duplicate, match="already exists"):
            await onboard(desk, AddRequest(url=sim.url, name="keyed sim", api_key="sk-other-0"))
        assert desk.secrets.resolve(added.view.spec.api_key or "") == SECRET
