"""The gateway's keys: every route but ``/health`` refuses a request without the right
key (the route list is read from the app, so a new route is covered at once); the admin
key guards ``/api`` apart from ``/v1``; keys are compared in constant time (checked in the
source); a non-loopback bind without a key is refused, in Python and by ``desk serve``."""

from __future__ import annotations

import ast
import inspect
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from endpoint_desk.core.config import load_settings
from endpoint_desk.core.errors import ConfigError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server import app as server_app
from endpoint_desk.server import auth
from endpoint_desk.server.app import RunningServer, start_server

pytestmark = pytest.mark.timeout(60)

KEY = "desk-test-api-key-0123456789"
ADMIN = "desk-test-admin-key-9876543210"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    monkeypatch.setenv("DESK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DESK_API_KEY", raising=False)
    async with Desk(load_settings(health={"enabled": False})) as d:
        yield d


def routes(server: RunningServer) -> list[tuple[str, str]]:
    """(method, concrete path) of every route the app serves."""
    app = server._runner.app
    out: list[tuple[str, str]] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        path = path.replace("{name}", "sim").replace("{model:.+}", "sim-model")
        path = path.replace("{model}", "sim-model")
        if route.method in ("HEAD", "*"):
            continue
        out.append((route.method, path))
    assert len(out) >= 10, out
    return out


BAD_AUTH = [
    None,
    "",
    "Bearer",
    "Bearer ",
    f"Basic {KEY}",
    f"bearer{KEY}",
    f"Bearer {KEY[:-1]}",
    f"Bearer {KEY}x",
    f"Bearer {KEY.upper()}",
    f"Bearer {ADMIN[:10]}",
    "Bearer \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
]


async def _status(
    http: aiohttp.ClientSession, method: str, url: str, authorization: str | None
) -> int:
    headers = {} if authorization is None else {"Authorization": authorization}
    data = b"{}" if method in ("POST", "PUT", "PATCH") else None
    async with http.request(method, url, headers=headers, data=data) as resp:
        body = await resp.text()
        if resp.status == 401:
            assert KEY not in body and ADMIN not in body
            assert resp.headers.get("WWW-Authenticate", "").startswith("Bearer")
        return resp.status


async def test_every_route_refuses_without_the_key(desk: Desk) -> None:
    server = await start_server(desk, port=0, api_key=KEY, admin_key=ADMIN)
    try:
        async with aiohttp.ClientSession() as http:
            for method, path in routes(server):
                url = server.url + path
                for bad in BAD_AUTH:
                    status = await _status(
                        http, method, url, bad.encode("utf-8").decode("latin-1") if bad else bad
                    )
                    if path.startswith("/health"):
                        assert status != 401, (method, path)
                    else:
                        assert status == 401, (method, path, bad, status)
                right = ADMIN if path.startswith("/api/") else KEY
                status = await _status(http, method, url, f"Bearer {right}")
                assert status != 401, (method, path)
                if path.startswith("/api/"):  # the /v1 key is not the admin key
                    assert await _status(http, method, url, f"Bearer {KEY}") == 401
    finally:
        await server.aclose()


async def test_one_key_guards_both_when_there_is_no_admin_key(desk: Desk) -> None:
    server = await start_server(desk, port=0, api_key=KEY)
    try:
        async with aiohttp.ClientSession() as http:
            for path in ("/api/endpoints", "/v1/models", "/metrics"):
                assert await _status(http, "GET", server.url + path, None) == 401
                assert await _status(http, "GET", server.url + path, f"Bearer {KEY}") == 200
    finally:
        await server.aclose()


def test_keys_are_compared_in_constant_time() -> None:
    """The only comparison of a presented key is hmac/secrets.compare_digest, and the
    middleware asks KeyCheck (no ``==`` on keys anywhere in the server package)."""
    src = inspect.getsource(auth)
    tree = ast.parse(src)
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert calls & {"hmac.compare_digest", "secrets.compare_digest", "compare_digest"}
    key_matches = next(
        n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "key_matches"
    )
    for node in ast.walk(key_matches):
        if isinstance(node, ast.Compare):
            ops = {type(op) for op in node.ops}
            assert not ops & {ast.Eq, ast.NotEq}, ast.unparse(node)
    for fn in ("allows_v1", "allows_admin"):
        body = inspect.getsource(getattr(auth.KeyCheck, fn))
        assert "key_matches(" in body and "==" not in body
    # nothing else in the server compares an Authorization value with ==
    for module in Path(server_app.__file__).parent.glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(
                isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops
            ):
                text = ast.unparse(node).lower()
                assert not any(w in text for w in ("authorization", "api_key", "token", "_key")), (
                    f"{module.name}: {text}"
                )
    assert auth.key_matches(KEY, KEY.encode()) and not auth.key_matches(None, KEY.encode())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", "10.0.0.1"])
async def test_non_loopback_bind_without_a_key_is_refused(desk: Desk, host: str) -> None:
    with pytest.raises(ConfigError, match="without an API key"):
        await start_server(desk, host=host, port=0)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_is_loopback(host: str) -> None:
    assert auth.is_loopback(host)
    auth.check_bind(host, None)


async def test_non_loopback_bind_with_a_key_is_allowed_and_guarded(desk: Desk) -> None:
    server = await start_server(desk, host="0.0.0.0", port=0, api_key=KEY)
    try:
        url = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            assert await _status(http, "GET", url + "/v1/models", None) == 401
            assert await _status(http, "GET", url + "/v1/models", f"Bearer {KEY}") == 200
    finally:
        await server.aclose()


def test_desk_serve_refuses_a_public_bind_without_a_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DESK_")}
    env.update(DESK_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "endpoint_desk", "serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=str(tmp_path),
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "without an API key" in proc.stderr and "Traceback" not in proc.stderr
    assert "serving on" not in proc.stdout


def test_short_keys_are_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        auth.KeyCheck("short")
