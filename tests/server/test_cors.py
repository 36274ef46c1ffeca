"""No CORS unless configured; configured origins get preflight answers and headers."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import start_server

pytestmark = pytest.mark.timeout(60)

ORIGIN = "https://app.example"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"server": {"cors_origins": [ORIGIN]}}


async def test_configured_origin(desk: Desk, http: aiohttp.ClientSession) -> None:
    srv = await start_server(desk, port=0, api_key="desk-cors-key-123456")
    try:
        url = srv.url + "/v1/chat/completions"
        async with http.options(url, headers=PREFLIGHT) as resp:
            assert resp.status == 204
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert "POST" in resp.headers["Access-Control-Allow-Methods"]
        headers = {"Origin": ORIGIN, "Authorization": "Bearer desk-cors-key-123456"}
        async with http.get(srv.url + "/v1/models", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
        other = {**PREFLIGHT, "Origin": "https://evil.example"}
        async with http.options(url, headers=other) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers
    finally:
        await srv.aclose()
