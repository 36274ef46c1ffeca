from __future__ import annotations

import pytest

from endpoint_desk.core.errors import ERROR_KINDS, BadRequest, DeskError
from endpoint_desk.core.models import (
    ChatRequest,
    ChatResult,
    EndpointKind,
    EndpointSpec,
    EndpointState,
    Usage,
    slugify,
)


def test_slugify_names() -> None:
    assert slugify("DeepSeek Web Chat") == "deepseek-web-chat"
    assert slugify("  My_API v2!! ") == "my-api-v2"
    assert slugify("!!!") == ""


def test_spec_validates_and_slugs() -> None:
    spec = EndpointSpec(name="My Sim", kind="openai", base_url="http://127.0.0.1:9/v1/")
    assert spec.name == "my-sim"
    assert spec.display_name == "my-sim"
    assert spec.base_url == "http://127.0.0.1:9/v1"
    assert spec.kind is EndpointKind.OPENAI
    with pytest.raises(ValueError, match="base_url"):
        EndpointSpec(name="x", kind="openai", base_url="ftp://nope")
    with pytest.raises(ValueError, match="name"):
        EndpointSpec(name="!!", kind="openai", base_url="http://h")
    with pytest.raises(ValueError):
        EndpointSpec(name="x", kind="telepathy", base_url="http://h")


def test_model_mapping_and_serving() -> None:
    spec = EndpointSpec(
        name="a",
        kind="openai",
        base_url="http://h",
        models=["up-1", "up-2"],
        model_mapping={"gpt-4": "up-2"},
    )
    assert spec.answers_to() == ["gpt-4", "up-1", "up-2"]
    assert spec.upstream_model("gpt-4") == "up-2"
    assert spec.upstream_model("up-1") == "up-1"
    assert spec.upstream_model(None) == "up-1"
    assert spec.serves("gpt-4") and spec.serves("up-2") and not spec.serves("other")
    open_spec = EndpointSpec(name="b", kind="ollama", base_url="http://h")
    assert open_spec.serves("anything")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ([], None),
        ({"model": 3, "messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": ["hi"]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"model": "m", "messages": [{"role": "user"}], "stream": "yes"}, "stream"),
        ({"model": "m", "messages": [{"role": "user"}], "temperature": 9}, "temperature"),
        ({"model": "m", "messages": [{"role": "user"}], "max_tokens": 0}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user"}], "max_tokens": True}, "max_tokens"),
        ({"model": "m", "messages": [{"role": "user"}], "stop": [1]}, "stop"),
    ],
)
def test_request_validation_names_the_field(body: object, param: str | None) -> None:
    with pytest.raises(BadRequest) as info:
        ChatRequest.from_openai(body)
    assert info.value.param == param
    assert info.value.http_status == 400


def test_request_parses_openai_body() -> None:
    req = ChatRequest.from_openai(
        {
            "model": "gpt-4",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0,
            "max_tokens": 5,
            "stop": "END",
            "seed": 7,
        }
    )
    assert req.stream and req.include_usage
    assert req.stop == ["END"]
    assert req.messages[1].text == "hi"
    assert req.extra == {"seed": 7}
    assert req.prompt_text() == "be brief\nhi"


def test_standardized_result_has_the_exact_names() -> None:
    result = ChatResult(
        id="chatcmpl-1",
        provider="openai",
        model="m",
        content="hello",
        endpoint="sim",
        usage=Usage(3, 4, 0.5),
        session_id="s1",
        session_persistent=True,
    )
    data = result.to_dict()
    assert {"id", "provider", "model", "response", "usage", "session"} <= set(data)
    assert data["response"]["content"] == "hello"
    assert data["response"]["type"] == "text"
    assert "metadata" in data["response"]
    assert data["usage"]["input_tokens"] == 3
    assert data["usage"]["output_tokens"] == 4
    assert data["usage"]["cost"] == 0.5
    assert data["session"] == {"id": "s1", "persistent": True}


def test_states_and_error_kinds() -> None:
    assert EndpointState.ON.serving and EndpointState.DEGRADED.serving
    assert not EndpointState.TRIPPED.serving and not EndpointState.OFF.serving
    for kind, cls in ERROR_KINDS.items():
        assert cls.kind == kind
        assert issubclass(cls, DeskError)
        err = cls("something\n went  wrong")
        assert err.one_line() == f"{cls.title}: something went wrong"


def test_unknown_fields_are_refused_when_a_list_is_given() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 1, "top_k": 2}
    assert ChatRequest.from_openai(body).extra == {"seed": 1, "top_k": 2}
    req = ChatRequest.from_openai(body, extra_fields=frozenset({"top_k"}))
    assert req.extra == {"seed": 1, "top_k": 2}
    with pytest.raises(BadRequest) as info:
        ChatRequest.from_openai(body, extra_fields=frozenset())
    assert info.value.param == "top_k"
