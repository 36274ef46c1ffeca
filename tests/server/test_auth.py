"""Bearer keys: on and off, admin key for /api, constant-time compare, bind policy."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import aiohttp
import openai
import pytest

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.engine.desk import Desk
from endpoint_desk.server import auth
from endpoint_desk.server.app import start_server
from endpoint_desk.sim import SimServer

pytestmark = pytest.mark.timeout(60)

AddSim = Callable[..., Awaitable[str]]
KEY = "desk-test-key-0123456789"
ADMIN = "desk-admin-key-9876543210"
MESSAGES = [{"role": "user", "content": "hello"}]


async def _status(http: aiohttp.ClientSession, url: str, key: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.get(url, headers=headers) as resp:
        if resp.status == 401:
            body = await resp.json()
            assert body["error"]["code"] == "invalid_api_key"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert KEY not in await resp.text() and ADMIN not in await resp.text()
        return resp.status


async def test_key_protects_v1_api_and_metrics_not_health(
    sim: SimServer, add_sim: AddSim, desk: Desk, http: aiohttp.ClientSession
) -> None:
    await add_sim(sim)
    srv = await start_server(desk, port=0, api_key=KEY)
    try:
        for path in ("/v1/models", "/api/endpoints", "/metrics"):
            assert await _status(http, srv.url + path) == 401
            assert await _status(http, srv.url + path, "wrong-key-0000") == 401
            assert await _status(http, srv.url + path, KEY) == 200
        assert await _status(http, srv.url + "/health") == 200

        good = openai.AsyncOpenAI(base_url=srv.url + "/v1", api_key=KEY, max_retries=0)
        bad = openai.AsyncOpenAI(base_url=srv.url + "/v1", api_key="nope-nope", max_retries=0)
        try:
            done = await good.chat.completions.create(model="sim-model", messages=MESSAGES)
            assert done.choices[0].message.content == "Echo: hello"
            with pytest.raises(openai.AuthenticationError):
                await bad.chat.completions.create(model="sim-model", messages=MESSAGES)
        finally:
            await good.close()
            await bad.close()
    finally:
        await srv.aclose()


async def test_admin_key_guards_api_separately(desk: Desk, http: aiohttp.ClientSession) -> None:
    srv = await start_server(desk, port=0, api_key=KEY, admin_key=ADMIN)
    try:
        assert await _status(http, srv.url + "/api/endpoints", KEY) == 401
        assert await _status(http, srv.url + "/api/endpoints", ADMIN) == 200
        assert await _status(http, srv.url + "/v1/models", KEY) == 200
        assert await _status(http, srv.url + "/v1/models", ADMIN) == 401
    finally:
        await srv.aclose()


async def test_no_key_means_open_on_loopback(desk: Desk, http: aiohttp.ClientSession) -> None:
    srv = await start_server(desk, port=0)
    try:
        assert srv.url.startswith("http://127.0.0.1:")
        assert await _status(http, srv.url + "/v1/models") == 200
        assert await _status(http, srv.url + "/api/endpoints") == 200
    finally:
        await srv.aclose()


async def test_key_from_settings_as_secret_reference(
    desk: Desk, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = desk.secrets.put(auth.SECRET_NAME, KEY)
    monkeypatch.setattr(desk.settings.server, "api_key", ref)
    srv = await start_server(desk, port=0)
    try:
        assert await _status(http, srv.url + "/v1/models") == 401
        assert await _status(http, srv.url + "/v1/models", KEY) == 200
    finally:
        await srv.aclose()


def test_keys_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    check = auth.KeyCheck(KEY)
    assert check.allows_v1(f"Bearer {KEY}")
    assert not check.allows_v1("Bearer " + KEY[:-1] + "x")
    assert not check.allows_v1(None)
    assert not check.allows_v1(f"Basic {KEY}")
    assert len(calls) == 4  # every outcome goes through compare_digest


def test_bind_policy() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        assert auth.is_loopback(host)
        auth.check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.com"):
        assert not auth.is_loopback(host)
        with pytest.raises(ConfigError, match="without an API key"):
            auth.check_bind(host, None)
        auth.check_bind(host, KEY)


def test_short_keys_are_refused_and_generated_keys_are_long() -> None:
    with pytest.raises(ConfigError, match="too short"):
        auth.KeyCheck("abc")
    key = auth.generate_key()
    assert key.startswith(auth.KEY_PREFIX) and len(key) > 40
    assert key != auth.generate_key()


async def test_no_cors_unless_configured(desk: Desk, http: aiohttp.ClientSession) -> None:
    srv = await start_server(desk, port=0)
    try:
        headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
        async with http.options(srv.url + "/v1/chat/completions", headers=headers) as resp:
            assert resp.status == 405
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with http.get(srv.url + "/v1/models", headers={"Origin": "https://x"}) as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers
    finally:
        await srv.aclose()
