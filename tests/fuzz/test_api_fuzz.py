"""Property tests of the management API (``/api/endpoints``): create, update, test and
health with any body or query string. Never a 500 or a traceback; every error in
OpenAI's shape; a rejected request leaves the portfolio and the secret file as they
were; no secret value ever comes back."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from .live import LiveDesk, Reply
from .test_v1_fuzz import json_values

pytestmark = pytest.mark.timeout(300)

SECRET = "pw-FUZZ-very-secret-0123456789"

limits_fields = {
    "max_requests_per_minute": st.integers(-5, 10**6) | json_values,
    "max_concurrent_requests": st.integers(-1, 100),
    "timeout_seconds": st.floats(-1, 60) | st.text(max_size=3),
    "retry_attempts": st.integers(-1, 5),
    "health_check_interval": st.floats(-1, 600),
    "daily_budget": st.none() | st.floats(-1, 10),
}
create_bodies = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=30) | st.sampled_from(["sim", "victim", "New One", "--"]),
        "base_url": st.sampled_from(
            ["LIVE", "http://127.0.0.1:1", "not a url", "ftp://127.0.0.1/", "http://", ""]
        )
        | json_values,
        "kind": st.sampled_from(["openai", "anthropic", "web_chat", "bogus"]) | json_values,
        "provider_type": st.sampled_from(["rest_api", "api_token", "web_chat", "magic"]),
        "api_key": st.just(SECRET) | json_values,
        "password": st.just(SECRET),
        "username": st.just(SECRET) | st.integers(),
        "headers": st.dictionaries(
            st.sampled_from(["Authorization", "X-Api-Key", "X-Other"]),
            st.just(SECRET) | json_values,
        )
        | json_values,
        "models": st.lists(st.text(max_size=10), max_size=3) | json_values,
        "model_mapping": st.dictionaries(st.text(max_size=5), st.text(max_size=5)) | json_values,
        "limits": st.fixed_dictionaries({}, optional=limits_fields) | json_values,
        "prove": st.booleans() | json_values,
        "start": st.booleans() | json_values,
        "selectors": json_values,
        "browser_config": json_values,
        "weight": st.floats(-1, 5) | st.just(float("nan")) | json_values,
        "tier": st.integers(-2, 3),
        "unknown_field": json_values,
        **{k: v for k, v in limits_fields.items() if k != "daily_budget"},
    },
)


def encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def secrets_file(live: LiveDesk) -> bytes | None:
    from endpoint_desk.core.paths import get_paths

    path = get_paths().secrets_file
    return path.read_bytes() if path.exists() else None


def check(live: LiveDesk, reply: Reply) -> None:
    event(f"status {reply.status}")
    assert reply.status != 500 and reply.status < 600, reply.text
    assert "Traceback" not in reply.text
    assert SECRET not in reply.text, "a secret value came back"
    if reply.status >= 400:
        err = orjson.loads(reply.body)["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert err["message"].strip()


def _fill(body: dict[str, Any], live: LiveDesk) -> dict[str, Any]:
    if body.get("base_url") == "LIVE":
        body["base_url"] = live.sim_url
    # no proof or detection against the outside world: only 127.0.0.1 is reachable
    if isinstance(body.get("base_url"), str) and not body["base_url"].startswith(
        ("http://127.0.0.1", live.sim_url)
    ):
        body.setdefault("kind", "openai")
    return body


@given(body=create_bodies)
def test_create_with_any_body(live: LiveDesk, body: dict[str, Any]) -> None:
    body = _fill(body, live)
    before, secrets_before = live.portfolio(), secrets_file(live)
    reply = live.request("POST", "/api/endpoints", encode(body))
    check(live, reply)
    if reply.status >= 400:
        assert live.portfolio() == before, "a rejected create changed the portfolio"
        assert secrets_file(live) == secrets_before, "a rejected create left secrets"
    else:
        assert reply.status == 201
        made = orjson.loads(reply.body)["name"]
        gone = live.request("DELETE", f"/api/endpoints/{made}")
        assert gone.status == 200, gone.text
        assert live.portfolio() == before


@given(body=json_values)
def test_create_with_any_json(live: LiveDesk, body: Any) -> None:
    before = live.portfolio()
    reply = live.request("POST", "/api/endpoints", encode(body))
    check(live, reply)
    assert reply.status >= 400 or isinstance(body, dict)
    if reply.status >= 400:
        assert live.portfolio() == before


update_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["victim", "other-name"]) | json_values,
            "base_url": st.sampled_from(["not a url", "ftp://x"]) | json_values,
            "kind": st.sampled_from(["bogus"]) | json_values,
            "models": json_values,
            "model_mapping": json_values,
            "limits": json_values | st.fixed_dictionaries({}, optional=limits_fields),
            "weight": st.floats(-1, 5) | st.just(float("nan")) | json_values,
            "tier": st.integers(-2, 3) | json_values,
            "enabled": json_values,
            "selectors": json_values,
            "unknown": json_values,
            **limits_fields,
        },
    )
    | json_values
)


@given(body=update_bodies)
def test_update_with_any_body(live: LiveDesk, body: Any) -> None:
    before = live.portfolio()
    reply = live.request("PATCH", "/api/endpoints/victim", encode(body))
    check(live, reply)
    if reply.status >= 400:
        assert live.portfolio() == before, "a rejected update changed the portfolio"
    else:
        # put it back for the next example
        victim = next(e for e in before if e["name"] == "victim")["spec"]
        restore = {
            k: victim[k]
            for k in ("base_url", "models", "model_mapping", "limits", "weight", "tier", "options")
        }
        assert live.request("PATCH", "/api/endpoints/victim", orjson.dumps(restore)).status == 200


@given(
    body=st.fixed_dictionaries(
        {}, optional={"message": json_values | st.text(max_size=50), "model": json_values}
    )
    | json_values,
    name=st.sampled_from(["sim", "nope", "SIM", "sim%20x", "..", "%2e%2e"]),
)
def test_test_with_any_body(live: LiveDesk, body: Any, name: str) -> None:
    before = live.portfolio()
    reply = live.request("POST", f"/api/endpoints/{name}/test", encode(body))
    check(live, reply)
    assert live.portfolio() == before


@given(q=st.text(max_size=30))
def test_health_with_any_query(live: LiveDesk, q: str) -> None:
    from urllib.parse import quote

    reply = live.request("GET", "/api/endpoints/sim/health?deep=" + quote(q))
    check(live, reply)
    assert reply.status == 200
    assert orjson.loads(reply.body)["name"] == "sim"
