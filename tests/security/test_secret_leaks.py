"""No key, password, user name or session cookie leaks: not into logs (at DEBUG), the
request log or any other file of the desk but the owner-only secret file, error
messages, any ``/api``, ``/v1``, ``/metrics`` or ``/health`` answer, ``desk ls --json``,
or the terminal UI. Stored secret and session files are owner-only."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import DeskError
from endpoint_desk.core.paths import get_paths
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import start_server
from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(120)

SIM_KEY = "sk-LEAKCHECK-upstream-key-7f3a9c"
WRONG_KEY = "sk-LEAKCHECK-wrong-key-0b1d2e"
PASSWORD = "pw-LEAKCHECK-hunter2-55aa"
USERNAME = "user-LEAKCHECK@example.com"
COOKIE = "cookie-LEAKCHECK-sessionid-9e8d"
DESK_KEY = "desk-LEAKCHECK-gateway-key-4c4c"
ADMIN_KEY = "desk-LEAKCHECK-admin-key-8d8d"
REPO = Path(__file__).resolve().parents[2]
SECRETS = [SIM_KEY, WRONG_KEY, PASSWORD, USERNAME, COOKIE, DESK_KEY, ADMIN_KEY]


def leaks(text: str | bytes) -> list[str]:
    """The secret values found in ``text`` (also as the inner part of a masked value)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [s for s in SECRETS if s in text or s[8:-4] in text]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DESK_HOME", str(home))
    for name in ("DESK_API_KEY", "DATABASE_URL", "OPENAI_API_KEY", "DESK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DESK_LOG__LEVEL", "DEBUG")
    # the secret file is what this suite inspects: keep an OS keyring (if some earlier
    # test or the machine provides one) out of it
    monkeypatch.setattr("endpoint_desk.store.secrets._keyring_backend_works", lambda: False)
    return home


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with SimServer(SimConfig(api_key=SIM_KEY)) as server:
        yield server


async def test_no_secret_anywhere_but_the_secret_file(
    home: Path, sim: SimServer, tmp_path: Path
) -> None:
    seen: list[str] = []  # every answer body and header the clients got
    errors: list[str] = []  # every desk error message met in Python
    settings = load_settings(store={"flush_interval": 0.05}, health={"jitter": 0.0})
    async with Desk(settings, autostart=True) as desk:
        server = await start_server(desk, port=0, api_key=DESK_KEY, admin_key=ADMIN_KEY)
        v1 = {"Authorization": f"Bearer {DESK_KEY}"}
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        async with aiohttp.ClientSession() as http:

            async def call(method: str, path: str, headers: dict[str, str], **kw: Any) -> int:
                async with http.request(method, server.url + path, headers=headers, **kw) as r:
                    seen.append(await r.text())
                    seen.append(json.dumps(dict(r.headers)))
                    return r.status

            good = {
                "name": "Good One",
                "kind": "openai",
                "base_url": sim.url,
                "api_key": SIM_KEY,
                "username": USERNAME,
                "password": PASSWORD,
                "headers": {"Cookie": f"sid={COOKIE}", "X-Trace": "plain"},
                "health_check_interval": 0.2,
            }
            assert await call("POST", "/api/endpoints", admin, json=good) == 201
            bad = {
                "name": "bad",
                "kind": "openai",
                "base_url": sim.url,
                "api_key": WRONG_KEY,
                "prove": False,
                "health_check_interval": 0.2,
            }
            assert await call("POST", "/api/endpoints", admin, json=bad) == 201
            chat = {"model": "sim-model", "messages": [{"role": "user", "content": "hi"}]}
            assert await call("POST", "/v1/chat/completions", v1, json=chat) == 200
            assert (
                await call("POST", "/v1/chat/completions", v1, json={**chat, "stream": True}) == 200
            )
            pinned = {**chat, "model": "bad/sim-model"}
            assert await call("POST", "/v1/chat/completions", v1, json=pinned) >= 400
            # a wrong key presented to the desk: refused without echoing it
            assert (
                await call(
                    "POST",
                    "/v1/chat/completions",
                    {"Authorization": f"Bearer {WRONG_KEY}"},
                    json=chat,
                )
                == 401
            )
            assert (
                await call("GET", "/api/endpoints", {"Authorization": f"Bearer {DESK_KEY}"}) == 401
            )
            for path in (
                "/api/endpoints",
                "/api/endpoints/good-one",
                "/api/endpoints/bad",
                "/api/endpoints/good-one/health?deep=1",
                "/api/endpoints/bad/health",
            ):
                await call("GET", path, admin)
            for name in ("good-one", "bad"):
                await call(
                    "POST",
                    f"/api/endpoints/{name}/test",
                    admin,
                    json={"message": "hello", "model": "sim-model"},
                )
            await call("PATCH", "/api/endpoints/bad", admin, json={"api_key": WRONG_KEY + "x"})
            for path in ("/metrics", "/v1/models"):
                await call("GET", path, v1)
            await call("GET", "/health", {})
        for name in ("good-one", "bad"):
            try:
                await desk.test(name, "hello", "sim-model")
            except DeskError as exc:
                errors.extend([exc.one_line(), str(exc), repr(exc), json.dumps(exc.to_dict())])
        views = [json.dumps(v.to_dict()) for v in desk.endpoints()]
        await server.aclose()

    assert not leaks("\n".join(seen)), "a secret in an HTTP answer"
    assert errors and not leaks("\n".join(errors)), "a secret in an error message"
    assert not leaks("\n".join(views)), "a secret in an endpoint view"

    await asyncio.to_thread(_files_and_cli_hold_no_secret, home)


def _files_and_cli_hold_no_secret(home: Path) -> None:
    """Every file under DESK_HOME but the secret file, and ``desk ls --json``."""
    secret_file = get_paths().secrets_file
    assert secret_file.exists()
    # the values really were stored (so the scan below looks for what is there)
    assert set(leaks(secret_file.read_bytes())) >= {SIM_KEY, PASSWORD, COOKIE}
    for path in home.rglob("*"):
        if path.is_file() and path != secret_file:
            assert not leaks(path.read_bytes()), f"a secret in {path}"
    logs = list(home.rglob("*.log*"))
    assert logs and sum(p.stat().st_size for p in logs) > 0, "DEBUG logging wrote nothing"

    # owner-only secret storage
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.parent.stat().st_mode) & 0o077 == 0

    # desk ls --json, as a user runs it
    env = {**os.environ, "DESK_HOME": str(home), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "endpoint_desk", "ls", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=str(home),
    )
    assert proc.returncode == 0, proc.stderr
    assert not leaks(proc.stdout + proc.stderr)
    names = {e["name"] for e in json.loads(proc.stdout)}
    assert names == {"good-one", "bad"}


def test_session_files_are_owner_only(home: Path) -> None:
    from endpoint_desk.adapters.webchat.browser import session_file, write_session

    state = {
        "cookies": [{"name": "sid", "value": COOKIE, "domain": "127.0.0.1", "path": "/"}],
        "origins": [],
    }
    path = write_session("some-chat", state)
    assert path == session_file("some-chat")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    leftovers = [p for p in path.parent.iterdir() if p != path]
    assert not leftovers, f"temporary files left next to the session: {leftovers}"


async def test_the_terminal_ui_never_shows_a_secret(home: Path, sim: SimServer) -> None:
    pytest.importorskip("textual")
    from endpoint_desk.core.models import EndpointSpec
    from endpoint_desk.tui.app import DeskApp

    settings = load_settings(health={"enabled": False})
    desk = Desk(settings, autostart=True)
    app = DeskApp(settings, desk=desk)
    screens: list[str] = []
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(100):
            if app.desk_ready:
                break
            await pilot.pause(0.05)
        assert app.desk_ready
        ref = desk.store_secret("good", "api_key", SIM_KEY)
        pw = desk.store_secret("good", "password", PASSWORD)
        user = desk.store_secret("good", "username", USERNAME)
        spec = EndpointSpec(
            name="good",
            kind="openai",
            base_url=sim.url,
            api_key=ref,
            password=pw,
            username=user,
            headers={"X-Note": "plain"},
        )
        await desk.add(spec)
        bad = desk.store_secret("bad", "api_key", WRONG_KEY)
        await desk.add(
            EndpointSpec(name="bad", kind="openai", base_url=sim.url, api_key=bad), prove=False
        )
        try:
            await desk.test("bad", "hello", "sim-model")
        except DeskError:
            pass
        await pilot.pause(0.5)
        for keys in (["1"], ["enter"], ["escape"], ["2"], ["3"], ["4"], ["1"], ["down", "enter"]):
            for key in keys:
                await pilot.press(key)
            await pilot.pause(0.3)
            screens.append(app.export_screenshot())
            screens.append(" ".join(str(n.message) for n in app._notifications))
    text = "\n".join(screens).replace("&#160;", " ")
    assert "good" in text
    assert not leaks(text), "a secret on the terminal screen"
    await asyncio.sleep(0)
