"""The management API round trip, with the body people already write."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimConfig, SimServer
from tests.secretkit import secrets_left

pytestmark = pytest.mark.timeout(60)

SIM_KEY = "sk-upstream-secret-0123456789"
PASSWORD = "hunter2-very-secret-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, **kw: Any
) -> tuple[int, Any, str]:
    async with http.request(method, url, **kw) as resp:
        text = await resp.text()
        return resp.status, (await resp.json(content_type=None) if text else None), text


async def test_round_trip(desk: Desk, server: RunningServer, http: aiohttp.ClientSession) -> None:
    api = server.url + "/api/endpoints"
    seen: list[str] = []
    async with SimServer(SimConfig(api_key=SIM_KEY)) as sim:
        status, body, text = await _call(
            http,
            "POST",
            api,
            json={
                "name": "Sim Rest API",
                "provider_type": "rest_api",
                "base_url": sim.url,
                "api_key": SIM_KEY,
                "model_mapping": {"gpt-4": "sim-model"},
                "max_requests_per_minute": 120,
            },
        )
        seen.append(text)
        assert status == 201, text
        assert body["name"] == "sim-rest-api"
        assert body["display_name"] == "Sim Rest API"
        assert body["kind"] == "openai"  # probed: rest_api -> the exact kind
        assert body["state"] == "on"
        assert body["spec"]["api_key"].endswith("sim-rest-api.api_key")
        assert body["spec"]["limits"]["max_requests_per_minute"] == 120
        assert desk.secrets.resolve(body["spec"]["api_key"]) == SIM_KEY

        status, body, text = await _call(http, "GET", api)
        seen.append(text)
        assert status == 200
        assert [e["name"] for e in body["endpoints"]] == ["sim-rest-api"]
        assert "requests" in body["endpoints"][0]["metrics"]

        status, body, text = await _call(http, "GET", api + "/sim-rest-api")
        seen.append(text)
        assert status == 200 and body["kind"] == "openai"

        status, body, text = await _call(
            http, "PATCH", api + "/sim-rest-api", json={"weight": 2.5, "timeout_seconds": 12}
        )
        seen.append(text)
        assert status == 200, text
        assert body["spec"]["weight"] == 2.5
        assert body["spec"]["limits"]["timeout_seconds"] == 12
        assert body["spec"]["limits"]["max_requests_per_minute"] == 120  # merged, not reset

        status, body, text = await _call(http, "POST", api + "/sim-rest-api/stop")
        seen.append(text)
        assert status == 200 and body["state"] == "off"
        status, body, text = await _call(http, "POST", api + "/sim-rest-api/start")
        seen.append(text)
        assert status == 200 and body["state"] == "on"

        status, body, text = await _call(
            http,
            "POST",
            api + "/sim-rest-api/test",
            json={"message": "What is artificial intelligence?", "model": "gpt-4"},
        )
        seen.append(text)
        assert status == 200, text
        assert body["response"]["content"] == "Echo: What is artificial intelligence?"
        assert body["endpoint"] == "sim-rest-api"
        assert body["model"] == "sim-model"
        assert set(body) >= {"id", "provider", "model", "response", "usage", "session"}
        assert body["usage"]["input_tokens"] > 0

        status, body, text = await _call(http, "GET", api + "/sim-rest-api/health")
        seen.append(text)
        assert status == 200 and body["ok"] is True and "sim-model" in body["models"]

        sim.config.update({"api_key": "a-different-key-000"})
        status, body, text = await _call(http, "GET", api + "/sim-rest-api/health")
        seen.append(text)
        assert status == 200 and body["ok"] is False
        assert body["error"]["kind"] == "auth"

        status, body, text = await _call(http, "DELETE", api + "/sim-rest-api")
        seen.append(text)
        assert status == 200 and body == {"deleted": "sim-rest-api"}
        status, body, text = await _call(http, "GET", api + "/sim-rest-api")
        assert status == 404 and body["error"]["code"] == "not_found"
    for text in seen:
        assert SIM_KEY not in text


async def test_test_failure_is_an_error_in_openai_shape(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with SimServer(SimConfig()) as sim:
        status, _, text = await _call(
            http,
            "POST",
            server.url + "/api/endpoints",
            json={"name": "s", "kind": "openai", "base_url": sim.url},
        )
        assert status == 201, text
        status, body, _ = await _call(
            http, "POST", server.url + "/api/endpoints/s/test", json={"model": "unknown-x"}
        )
        assert status == 404
        assert body["error"]["code"] == "model_not_found"


@pytest.mark.parametrize(
    ("payload", "status", "param"),
    [
        ({"provider_type": "rest_api", "base_url": "http://127.0.0.1:9"}, 422, "name"),
        ({"name": "x", "provider_type": "rest_api"}, 422, "base_url"),
        (
            {"name": "x", "base_url": "http://127.0.0.1:9", "provider_type": "soap"},
            422,
            "provider_type",
        ),
        ({"name": "x", "base_url": "http://127.0.0.1:9", "kind": "fax"}, 422, "kind"),
        (
            {"name": "x", "base_url": "http://127.0.0.1:9", "kind": "openai", "colour": "red"},
            422,
            "colour",
        ),
        ({"name": "x", "base_url": "ftp://nope", "kind": "openai"}, 422, "base_url"),
        (
            {"name": "x", "base_url": "http://127.0.0.1:9", "kind": "openai", "prove": "yes"},
            422,
            "prove",
        ),
    ],
)
async def test_create_rejects_wrong_fields(
    server: RunningServer,
    http: aiohttp.ClientSession,
    payload: Any,
    status: int,
    param: str,
) -> None:
    got, body, text = await _call(http, "POST", server.url + "/api/endpoints", json=payload)
    assert got == status, text
    assert body["error"]["param"] == param


async def test_create_malformed_json_and_duplicates(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    got, body, _ = await _call(
        http,
        "POST",
        server.url + "/api/endpoints",
        data=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert got == 400 and set(body["error"]) == {"message", "type", "param", "code"}
    async with SimServer(SimConfig()) as sim:
        payload = {"name": "dup", "kind": "openai", "base_url": sim.url}
        assert (await _call(http, "POST", server.url + "/api/endpoints", json=payload))[0] == 201
        got, body, _ = await _call(http, "POST", server.url + "/api/endpoints", json=payload)
        assert got == 409 and body["error"]["code"] == "duplicate"


async def test_unreachable_url_is_reported_and_no_secret_is_left(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    got, body, text = await _call(
        http,
        "POST",
        server.url + "/api/endpoints",
        json={
            "name": "gone",
            "provider_type": "api_token",
            "base_url": "http://127.0.0.1:9",
            "api_key": SIM_KEY,
        },
    )
    assert got == 502, text
    assert body["error"]["code"] == "unreachable"
    assert SIM_KEY not in text
    assert desk.secrets._read_file() == {}


@pytest.mark.browser
@pytest.mark.timeout(120)
async def test_web_chat_whose_discovery_fails_leaves_no_secret(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """The login is stored before discovery runs (discovery signs in with it); when the
    page cannot be configured, the secrets go again and nothing is saved."""
    got, _, text = await _call(
        http,
        "POST",
        server.url + "/api/endpoints",
        json={
            "name": "Gone Chat",
            "provider_type": "web_chat",
            "base_url": f"http://127.0.0.1:{free_port()}/",
            "username": "your_email@example.com",
            "password": PASSWORD,
            "headers": {"Cookie": "session=" + PASSWORD},
        },
    )
    assert got == 502, text
    assert PASSWORD not in text
    assert desk.secrets._read_file() == {}, "secrets of a failed create are removed"
    assert not secrets_left(desk.secrets, ["file:gone-chat.username", "file:gone-chat.password"])
    assert desk.endpoints() == [] and await desk.store.list_endpoints() == []


async def test_a_failed_proof_rolls_back_every_secret_it_stored(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """Kind given (no probing), secrets stored, then the live proof is refused: no secret
    and no endpoint row is left."""
    async with SimServer(SimConfig(api_key=SIM_KEY)) as sim:
        got, body, text = await _call(
            http,
            "POST",
            server.url + "/api/endpoints",
            json={
                "name": "wrong",
                "kind": "openai",
                "base_url": sim.url,
                "api_key": "sk-wrong-key-000000000000",
                "headers": {"X-Api-Key": "hk-extra-secret-0000", "Accept": "application/json"},
            },
        )
        assert got == 502, text
        assert body["error"]["code"] == "auth"
    assert "hk-extra-secret" not in text and "sk-wrong-key" not in text
    assert desk.secrets._read_file() == {}
    assert not secrets_left(desk.secrets, ["file:wrong.api_key", "file:wrong.header.x-api-key"])
    assert desk.endpoints() == [] and await desk.store.list_endpoints() == []


async def test_delete_removes_every_secret_of_the_endpoint(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    api = server.url + "/api/endpoints"
    async with SimServer(SimConfig(api_key=SIM_KEY)) as sim:
        got, body, text = await _call(
            http,
            "POST",
            api,
            json={
                "name": "keyed",
                "kind": "openai",
                "base_url": sim.url,
                "api_key": SIM_KEY,
                "headers": {"X-Api-Key": "hk-extra-secret-0000", "Cookie": "sid=cookie-secret"},
            },
        )
        assert got == 201, text
        refs = [body["spec"]["api_key"], *body["spec"]["headers"].values()]
        stored_as = [r.split(":", 1)[1] for r in refs]
        assert stored_as == ["keyed.api_key", "keyed.header.x-api-key", "keyed.header.cookie"]
        assert "hk-extra-secret" not in text and "cookie-secret" not in text
        got, body, text = await _call(
            http,
            "POST",
            api,
            json={
                "name": "Login Chat",
                "provider_type": "web_chat",
                "base_url": sim.url + "/chat",
                "username": "me@example.com",
                "password": PASSWORD,
                "selectors": {"input": "textarea", "assistant": ".msg"},
                "prove": False,
                "start": False,
            },
        )
        assert got == 201, text
        chat_refs = [body["spec"]["username"], body["spec"]["password"]]
        assert all(desk.secrets.resolve(r) for r in refs + chat_refs)

        assert (await _call(http, "DELETE", api + "/keyed"))[0] == 200
        assert not secrets_left(desk.secrets, refs)
        assert desk.secrets.resolve(chat_refs[1]) == PASSWORD  # the other endpoint's stay
        assert (await _call(http, "DELETE", api + "/login-chat"))[0] == 200
        assert not secrets_left(desk.secrets, chat_refs)
    assert desk.secrets._read_file() == {}


async def test_web_chat_body_is_accepted_and_secrets_stored(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    got, body, text = await _call(
        http,
        "POST",
        server.url + "/api/endpoints",
        json={
            "name": "DeepSeek Web Chat",
            "provider_type": "web_chat",
            "base_url": "https://chat.deepseek.com",
            "login_url": "https://chat.deepseek.com/login",
            "username": "your_email@example.com",
            "password": PASSWORD,
            "browser_config": {"headless": True, "anti_detection": True},
            "selectors": {"input": "textarea", "send": "button[type=submit]", "assistant": ".msg"},
            "prove": False,
            "start": False,
        },
    )
    assert got == 201, text
    assert body["name"] == "deepseek-web-chat"
    assert body["kind"] == "web_chat"
    spec = body["spec"]
    assert spec["browser_config"]["anti_detection"] is True
    assert spec["options"]["input"] == "textarea"
    assert spec["password"].endswith("deepseek-web-chat.password")
    assert spec["username"].endswith("deepseek-web-chat.username")
    assert PASSWORD not in text and "your_email@example.com" not in text
    assert desk.secrets.resolve(spec["password"]) == PASSWORD
    listing = await _call(http, "GET", server.url + "/api/endpoints")
    assert PASSWORD not in listing[2]


@pytest.mark.browser
@pytest.mark.timeout(240)
async def test_web_chat_without_selectors_is_configured_by_discovery(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    from endpoint_desk.sim.chatpages import ChatPagesServer

    async with ChatPagesServer() as pages:
        got, body, text = await _call(
            http,
            "POST",
            server.url + "/api/endpoints",
            json={
                "name": "Local Chat",
                "provider_type": "web_chat",
                "base_url": pages.url_for("textarea", delay=0.01),
                "browser_config": {"headless": True},
            },
        )
        assert got == 201, text
        assert body["kind"] == "web_chat"
        assert body["spec"]["options"]["input"] and body["spec"]["options"]["assistant"]
        got, body, text = await _call(
            http,
            "POST",
            server.url + "/api/endpoints/local-chat/test",
            json={"message": "Reply with the word banana", "model": "gpt-4"},
        )
        assert got == 200, text
        assert "banana" in body["response"]["content"].lower()


async def test_update_stores_a_new_key_as_a_secret(
    desk: Desk, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with SimServer(SimConfig(api_key=SIM_KEY)) as sim:
        create = {"name": "k", "kind": "openai", "base_url": sim.url, "api_key": SIM_KEY}
        got, body, text = await _call(http, "POST", server.url + "/api/endpoints", json=create)
        assert got == 201, text
        new_key = "sk-rotated-secret-0000000000"
        sim.config.update({"api_key": new_key})
        got, body, text = await _call(
            http, "PATCH", server.url + "/api/endpoints/k", json={"api_key": new_key}
        )
        assert got == 200, text
        assert new_key not in text and SIM_KEY not in text
        assert desk.secrets.resolve(body["spec"]["api_key"]) == new_key
        got, body, text = await _call(
            http, "POST", server.url + "/api/endpoints/k/test", json={"message": "hi"}
        )
        assert got == 200, text
        got, body, _ = await _call(
            http, "PATCH", server.url + "/api/endpoints/k", json={"colour": "red"}
        )
        assert got == 422 and body["error"]["param"] == "colour"
        got, body, _ = await _call(
            http, "PATCH", server.url + "/api/endpoints/k", json={"weight": -1}
        )
        assert got == 422 and "weight" in body["error"]["message"]


async def test_create_finishes_when_the_client_goes_away(desk: Desk, server: RunningServer) -> None:
    async with SimServer(SimConfig(latency=0.5)) as sim:
        body = {"name": "patient", "kind": "openai", "base_url": sim.url, "api_key": SIM_KEY}
        timeout = aiohttp.ClientTimeout(total=0.2)
        async with aiohttp.ClientSession(timeout=timeout) as impatient:
            with pytest.raises(TimeoutError):
                async with impatient.post(server.url + "/api/endpoints", json=body):
                    pass

        async def created() -> None:
            while "patient" not in {v.name for v in desk.endpoints()}:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(created(), timeout=10)
        ref = desk.endpoint("patient").spec.api_key
        assert ref is not None and desk.secrets.resolve(ref) == SIM_KEY
