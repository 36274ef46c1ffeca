"""The OpenAI wire encoders: every chunk is valid JSON in OpenAI's shape."""

from __future__ import annotations

import json

from endpoint_desk.core.errors import NoEndpointAvailable, RateLimited
from endpoint_desk.core.models import Usage
from endpoint_desk.wire.openai import encode as wire


def _data(event: bytes) -> dict[str, object]:
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    return json.loads(event[6:-2])  # type: ignore[no-any-return]


def test_chunk_encoder_events_round_trip() -> None:
    enc = wire.ChunkEncoder('id-"quoted"', "model/é", 1700000000)
    role = _data(enc.role())
    assert role["id"] == 'id-"quoted"' and role["model"] == "model/é"
    assert role["object"] == "chat.completion.chunk" and role["created"] == 1700000000
    assert role["choices"] == [
        {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
    ]
    text = 'line "one"\nline two \u2028 ü'
    delta = _data(enc.delta(text))
    assert delta["choices"][0]["delta"] == {"content": text}  # type: ignore[index]
    finish = _data(enc.finish("max_tokens"))
    assert finish["choices"][0]["finish_reason"] == "length"  # type: ignore[index]
    usage = _data(enc.usage(Usage(3, 4), {"endpoint": "a"}))
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert usage["desk"] == {"endpoint": "a"}


def test_finish_reasons_map_onto_openai_values() -> None:
    assert wire.finish_reason(None) == "stop"
    assert wire.finish_reason("end_turn") == "stop"
    assert wire.finish_reason("MAX_TOKENS") == "length"
    assert wire.finish_reason("SAFETY") == "content_filter"
    assert wire.finish_reason("something-new") == "stop"


def test_errors_and_retry_after() -> None:
    body = json.loads(wire.error_of(NoEndpointAvailable("all tripped")))
    assert body == {
        "error": {
            "message": "No endpoint available: all tripped",
            "type": "api_error",
            "param": None,
            "code": "no_endpoint",
        }
    }
    event = _data(wire.stream_error_event(RateLimited("slow down")))
    assert event["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert wire.retry_after_header(None) == "1"
    assert wire.retry_after_header(0.2) == "1"
    assert wire.retry_after_header(12.1) == "13"
