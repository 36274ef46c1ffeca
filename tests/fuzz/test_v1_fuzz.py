"""Property tests of ``/v1``: any body, header, path or query string gets an answer that
is never a 500 and never a traceback; every error is in OpenAI's shape (Anthropic's on
``/v1/messages``, see ``test_messages_fuzz.py``); a request the
desk rejects itself changes nothing (no request is counted or logged)."""

from __future__ import annotations

import json
import string
from typing import Any

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from yarl import URL

from .live import LiveDesk, Reply, assert_sane

pytestmark = pytest.mark.timeout(300)

CHAT = "/v1/chat/completions"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=16,
)

roles = st.sampled_from(["user", "system", "assistant"]) | st.sampled_from(
    ["tool", "developer", "wizard", "", "USER"]
)
contents = (
    st.text(max_size=60)
    | st.text(max_size=60)
    | st.none()
    | st.integers()
    | st.lists(
        st.fixed_dictionaries(
            {"type": st.sampled_from(["text", "image_url", "x"])},
            optional={"text": st.text(max_size=20)},
        )
        | json_values,
        max_size=3,
    )
)
messages = st.fixed_dictionaries(
    {"role": roles, "content": contents},
    optional={"name": st.text(max_size=10) | st.integers(), "tool_call_id": st.text(max_size=5)},
)
models = st.sampled_from(
    ["sim-model", "sim-large", "nope", "sim/sim-model", "victim/other", "sim/", "/", ""]
) | st.text(max_size=20)
chat_bodies = st.fixed_dictionaries(
    {
        "model": models | st.integers(),
        "messages": st.lists(messages, min_size=1, max_size=5)
        | st.lists(messages, max_size=5)
        | json_values,
    },
    optional={
        "stream": st.booleans() | json_values,
        "temperature": st.floats(allow_nan=False, allow_infinity=False, min_value=-1, max_value=3)
        | json_values,
        "top_p": st.floats(min_value=-1, max_value=2) | st.text(max_size=3),
        "max_tokens": st.integers(min_value=-5, max_value=2**40) | json_values,
        "max_completion_tokens": st.integers(min_value=-5, max_value=100),
        "stop": st.text(max_size=5) | st.lists(st.text(max_size=5), max_size=3) | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": json_values}) | json_values,
        "cache": json_values,
        "n": st.integers(min_value=-2, max_value=5),
        "user": st.text(max_size=10),
        "response_format": json_values,
        "tools": json_values,
        "x-unknown-field": json_values,
    },
)


def encode(value: Any) -> bytes:
    """Serialize like a careless client would: big integers, NaN and Infinity included."""
    return json.dumps(value, allow_nan=True).encode()


def check(live: LiveDesk, reply: Reply, counted_before: int) -> None:
    """The properties every answer has."""
    event(f"status {reply.status}")
    assert_sane(reply)
    if reply.status >= 400:
        data = orjson.loads(reply.body)
        assert set(data) == {"error"}, data
        err = data["error"]
        assert set(err) == {"message", "type", "param", "code"}
        assert isinstance(err["message"], str) and err["message"].strip()
        if "x-desk-endpoint" not in reply.headers:  # rejected by the desk itself
            assert reply.status in (400, 401, 404, 405, 413, 415, 422, 429, 503), reply.text
            assert live.requests_seen() == counted_before, "a rejected request was counted"
    elif reply.headers.get("content-type", "").startswith("text/event-stream"):
        assert reply.body.rstrip().endswith(b"data: [DONE]") or b'"error"' in reply.body
    else:
        data = orjson.loads(reply.body)
        assert data["object"] == "chat.completion"


@given(body=json_values)
def test_any_json_value_as_body(live: LiveDesk, body: Any) -> None:
    before = live.requests_seen()
    check(live, live.request("POST", CHAT, encode(body)), before)


@given(body=chat_bodies)
def test_chat_shaped_bodies(live: LiveDesk, body: dict[str, Any]) -> None:
    before = live.requests_seen()
    check(live, live.request("POST", CHAT, encode(body)), before)


@given(raw=st.binary(max_size=300))
def test_raw_bytes_body(live: LiveDesk, raw: bytes) -> None:
    before = live.requests_seen()
    reply = live.request("POST", CHAT, raw)
    check(live, reply, before)


_VALID = orjson.dumps({"model": "sim-model", "messages": [{"role": "user", "content": "hi"}]})
header_names = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=20
).filter(
    lambda n: (
        n.lower()
        not in {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade"}
    )
)
header_values = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"),
    max_size=60,
).map(str.strip)


@given(
    headers=st.dictionaries(
        header_names
        | st.sampled_from(
            [
                "Content-Type",
                "Authorization",
                "Content-Encoding",
                "Accept",
                "Accept-Encoding",
                "Origin",
                "Cookie",
            ]
        ),
        header_values,
        max_size=6,
    )
)
def test_any_headers(live: LiveDesk, headers: dict[str, str]) -> None:
    before = live.requests_seen()
    reply = live.request("POST", CHAT, _VALID, headers=headers)
    check(live, reply, before)


path_chars = string.ascii_letters + string.digits + "-._~%/!$&'()*+,;=:@"
query = st.lists(
    st.tuples(st.text(path_chars, max_size=8), st.text(path_chars + "?#[]", max_size=12)),
    max_size=4,
).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv))


@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]),
    base=st.sampled_from(
        [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1/messages/count_tokens",
            "/v1/models",
            "/v1/models/",
            "/v1/models/sim-model",
            "/v1/",
            "/v1",
            "/health",
            "/metrics",
            "/",
            "/api/endpoints",
            "/api/endpoints/victim",
            "/api/endpoints/victim/health",
            "/api/endpoints/nope/test",
        ]
    ),
    tail=st.text(path_chars, max_size=20),
    q=query,
)
def test_any_path_method_and_query(
    live: LiveDesk, method: str, base: str, tail: str, q: str
) -> None:
    # (the /api routes name "victim": a DELETE or stop may hit it; "sim" must keep serving)
    path = base + tail.replace("//", "/") + ("?" + q if q else "")
    if not path.startswith("/"):
        path = "/" + path
    body = None if method in ("GET", "HEAD", "DELETE", "OPTIONS") else b"{}"
    mutating = method in ("POST", "PUT", "PATCH", "DELETE") and base.startswith("/api/")
    before = live.portfolio()
    reply = live.request(method, path, body)
    assert reply.status != 500 and reply.status < 600, (path, reply.text)
    assert "Traceback" not in reply.text
    if reply.status >= 400 and method != "HEAD":
        data = orjson.loads(reply.body)
        served = URL(path).path  # as the server reads it
        if served == "/v1/messages" or served.startswith("/v1/messages/"):
            assert set(data) == {"type", "error"} and set(data["error"]) == {"type", "message"}
        else:
            assert set(data["error"]) == {"message", "type", "param", "code"}
    if not mutating or reply.status >= 400:
        assert live.portfolio() == before


# ---------------------------------------------------------------- limits, one by one


def _chat(messages: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "model": "sim-model",
        "messages": messages or [{"role": "user", "content": "hi"}],
        **extra,
    }


def test_body_over_the_limit_is_413(live: LiveDesk) -> None:
    limit = live.desk.settings.server.max_body_bytes
    before = live.requests_seen()
    big = _chat([{"role": "user", "content": "x" * limit}])
    reply = live.request("POST", CHAT, orjson.dumps(big))
    assert reply.status == 413, reply.text
    assert orjson.loads(reply.body)["error"]["code"] == "request_too_large"
    assert live.requests_seen() == before


def test_body_just_under_the_limit_is_served(live: LiveDesk) -> None:
    limit = live.desk.settings.server.max_body_bytes
    body = orjson.dumps(_chat([{"role": "user", "content": "y" * (limit - 200)}]))
    assert len(body) <= limit
    reply = live.request("POST", CHAT, body)
    assert reply.status == 200, reply.text[:300]


@pytest.mark.parametrize("depth", [200, 5_000, 200_000])
def test_deeply_nested_json_is_400(live: LiveDesk, depth: int) -> None:
    before = live.requests_seen()
    nested = b'{"model":"sim-model","messages":[{"role":"user","content":"x"}],"tools":'
    nested += b"[" * depth + b"]" * depth + b"}"
    reply = live.request("POST", CHAT, nested)
    assert reply.status in (200, 400), reply.text[:300]
    if depth > 1000:
        assert reply.status == 400
        assert "JSON" in orjson.loads(reply.body)["error"]["message"]
        assert live.requests_seen() == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"sim-model","messages":[{"role":"user","content":"\xff\xfe"}]}',
        b'{"model":"sim-\xc3","messages":[]}',
        b"\xef\xbb\xbf" + _VALID,  # a byte-order mark
        b'{"model":"sim-model","messages":[{"role":"user","content":"\\ud800"}]}',
    ],
)
def test_invalid_utf8_and_lone_surrogates_are_400(live: LiveDesk, raw: bytes) -> None:
    before = live.requests_seen()
    reply = live.request("POST", CHAT, raw)
    assert reply.status == 400, reply.text
    assert orjson.loads(reply.body)["error"]["code"] == "invalid_json"
    assert live.requests_seen() == before


def test_too_many_messages_is_400_and_the_limit_itself_is_served(live: LiveDesk) -> None:
    limit = live.desk.settings.server.max_messages
    many = [{"role": "user", "content": "m"}] * (limit + 1)
    before = live.requests_seen()
    reply = live.request("POST", CHAT, orjson.dumps(_chat(many)))
    assert reply.status == 400 and orjson.loads(reply.body)["error"]["param"] == "messages"
    assert live.requests_seen() == before
    reply = live.request("POST", CHAT, orjson.dumps(_chat(many[:limit])))
    assert reply.status == 200, reply.text[:300]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model":"sim-model","messages":[{"role":"user","content":"x"}],"max_tokens":'
        + b"9" * 400
        + b"}",
        b'{"model":"sim-model","messages":[{"role":"user","content":"x"}],"temperature":1e999}',
        b'{"model":"sim-model","messages":[{"role":"user","content":"x"}],"temperature":NaN}',
    ],
)
def test_huge_and_non_finite_numbers_are_400(live: LiveDesk, raw: bytes) -> None:
    before = live.requests_seen()
    reply = live.request("POST", CHAT, raw)
    assert reply.status == 400, reply.text
    assert live.requests_seen() == before


def test_unknown_fields_are_400_and_known_ones_pass_through(live: LiveDesk) -> None:
    """OpenAI's own fields and the configured provider extensions (``[server]
    extra_fields``) are forwarded; any other top-level field is a 400 naming it."""
    body = _chat(seed=7, logit_bias={"1": 2}, response_format={"type": "text"}, top_k=3)
    reply = live.request("POST", CHAT, orjson.dumps(body))
    assert reply.status == 200, reply.text
    before = live.requests_seen()
    reply = live.request("POST", CHAT, orjson.dumps(_chat(x_vendor_flag={"a": [1, 2]})))
    assert reply.status == 400, reply.text
    err = orjson.loads(reply.body)["error"]
    assert err["param"] == "x_vendor_flag" and "extra_fields" in err["message"]
    assert live.requests_seen() == before
