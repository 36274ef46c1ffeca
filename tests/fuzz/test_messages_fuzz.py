"""Property tests of the Anthropic front door (``/v1/messages`` and ``count_tokens``):
any body gets an answer that is never a 500 and never a traceback; every error is in
Anthropic's shape; a request the desk rejects itself changes nothing (no request is
counted); a stream ends with ``message_stop`` or an ``error`` event."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from .live import LiveDesk, Reply, assert_sane
from .test_v1_fuzz import encode, json_values

pytestmark = pytest.mark.timeout(300)

MESSAGES = "/v1/messages"
COUNT = "/v1/messages/count_tokens"
PNG = (  # a 1x1 PNG, base64
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)

blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=30) | json_values}),
    st.fixed_dictionaries(
        {
            "type": st.just("image"),
            "source": st.fixed_dictionaries(
                {
                    "type": st.sampled_from(["base64", "url", "file", ""]),
                    "media_type": st.sampled_from(["image/png", "image/jpeg", "text/plain"])
                    | json_values,
                    "data": st.sampled_from([PNG, "%%%", ""]) | json_values,
                    "url": st.sampled_from(["https://example.invalid/x.png", "ftp://x"])
                    | json_values,
                }
            )
            | json_values,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("tool_use"),
            "id": st.sampled_from(["toolu_1", "toolu_2", ""]) | json_values,
            "name": st.sampled_from(["get_weather", "f"]) | json_values,
            "input": json_values,
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("tool_result"),
            "tool_use_id": st.sampled_from(["toolu_1", "toolu_9"]) | json_values,
            "content": st.text(max_size=20) | st.lists(json_values, max_size=2) | json_values,
        },
        optional={"is_error": json_values},
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["thinking", "document", "x"])}),
    json_values,
)
turns = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant"]) | st.sampled_from(["system", "", "tool"]),
        "content": st.text(max_size=40) | st.lists(blocks, max_size=3) | json_values,
    }
)
plain_turn = st.fixed_dictionaries(
    {"role": st.just("user"), "content": st.text(min_size=1, max_size=40)}
)
tools = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["get_weather", "f", "bad name!"]) | json_values,
            "input_schema": st.sampled_from(
                [{"type": "object", "properties": {"city": {"type": "string"}}}, {"type": 3}]
            )
            | json_values,
        },
        optional={"description": json_values, "type": st.sampled_from(["custom", "bash_1"])},
    ),
    max_size=2,
)
message_bodies = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["sim-model", "sim/sim-model", "nope", ""]) | json_values,
        "messages": st.lists(plain_turn, min_size=1, max_size=2)
        | st.lists(turns, min_size=1, max_size=4)
        | json_values,
        "max_tokens": st.integers(min_value=1, max_value=50)
        | st.integers(min_value=-2, max_value=2**40)
        | json_values,
    },
    optional={
        "system": st.text(max_size=20) | st.lists(blocks, max_size=2) | json_values,
        "stream": st.booleans() | json_values,
        "temperature": st.floats(min_value=-1, max_value=2) | json_values,
        "top_p": json_values,
        "top_k": json_values,
        "stop_sequences": st.lists(st.text(max_size=4), max_size=2) | json_values,
        "tools": tools | json_values,
        "tool_choice": st.fixed_dictionaries(
            {"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
            optional={"name": st.sampled_from(["get_weather", "nope"])},
        )
        | json_values,
        "metadata": json_values,
        "thinking": json_values,
    },
)


def check(live: LiveDesk, reply: Reply, counted_before: int) -> None:
    """The properties every answer of the Anthropic door has."""
    event(f"status {reply.status}")
    assert_sane(reply)
    if reply.status >= 400:
        data = orjson.loads(reply.body)
        assert set(data) == {"type", "error"} and data["type"] == "error", data
        assert set(data["error"]) == {"type", "message"}, data
        assert isinstance(data["error"]["message"], str) and data["error"]["message"].strip()
        if "x-desk-endpoint" not in reply.headers:  # rejected by the desk itself
            assert reply.status in (400, 404, 413, 429, 503), reply.text
            assert live.requests_seen() == counted_before, "a rejected request was counted"
    elif reply.headers.get("content-type", "").startswith("text/event-stream"):
        tail = reply.body.rstrip()
        assert tail.endswith(b'data: {"type":"message_stop"}') or b"event: error" in tail
    else:
        data = orjson.loads(reply.body)
        assert data.get("type") == "message" or "input_tokens" in data, data


@given(body=json_values)
def test_any_json_value_as_body(live: LiveDesk, body: Any) -> None:
    for path in (MESSAGES, COUNT):
        before = live.requests_seen()
        check(live, live.request("POST", path, encode(body)), before)


@given(body=message_bodies)
def test_messages_shaped_bodies(live: LiveDesk, body: dict[str, Any]) -> None:
    before = live.requests_seen()
    check(live, live.request("POST", MESSAGES, encode(body)), before)


@given(body=message_bodies)
def test_count_tokens_asks_no_upstream(live: LiveDesk, body: dict[str, Any]) -> None:
    before = live.requests_seen()
    reply = live.request("POST", COUNT, encode(body))
    check(live, reply, before)
    assert live.requests_seen() == before
    if reply.status == 200:
        data = orjson.loads(reply.body)
        assert data["estimated"] is True and data["input_tokens"] >= 0


@given(raw=st.binary(max_size=300))
def test_raw_bytes_body(live: LiveDesk, raw: bytes) -> None:
    before = live.requests_seen()
    check(live, live.request("POST", MESSAGES, raw), before)


valid_frames = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["sim-model", "sim/sim-model", "sim-large"]),
        "max_tokens": st.integers(min_value=1, max_value=50),
        "messages": st.lists(plain_turn | turns, min_size=1, max_size=4),
        "stream": st.booleans(),
    },
    optional={"tools": tools, "system": st.text(max_size=20) | st.lists(blocks, max_size=2)},
)


@given(body=valid_frames)
def test_any_content_in_a_valid_frame(live: LiveDesk, body: dict[str, Any]) -> None:
    """Whatever the turns hold, what passes validation is served (converted for the
    upstream) and what does not is a 400 that reached no upstream."""
    before = live.requests_seen()
    reply = live.request("POST", MESSAGES, encode(body))
    check(live, reply, before)
    assert reply.status in (200, 400), reply.text
