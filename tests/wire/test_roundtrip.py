"""Each protocol's wire module both ways: what the adapters write, the sim and the front
doors read back into the same canonical request; what those write, the adapters read
back into the same text and tool calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from endpoint_desk.core.models import ChatChunk, ChatMessage, ChatRequest, Usage
from endpoint_desk.core.tools import ToolCallAssembler, parse_arguments
from endpoint_desk.wire.anthropic import encode as anth_enc
from endpoint_desk.wire.anthropic import read as anth_read
from endpoint_desk.wire.anthropic import request as anth_req
from endpoint_desk.wire.anthropic import response as anth_resp
from endpoint_desk.wire.gemini import request as gem_req
from endpoint_desk.wire.gemini import response as gem_resp
from endpoint_desk.wire.ollama import request as oll_req
from endpoint_desk.wire.ollama import response as oll_resp
from endpoint_desk.wire.openai import encode as oai_enc
from endpoint_desk.wire.openai import request as oai_req
from endpoint_desk.wire.openai import response as oai_resp

PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    },
]


def conversation(**kw: Any) -> ChatRequest:
    calls = [
        {
            "id": "call_a",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "days": 2}'},
        },
        {
            "id": "call_b",
            "type": "function",
            "function": {"name": "search", "arguments": '{"q": "x"}'},
        },
    ]
    return ChatRequest(
        messages=[
            ChatMessage("system", "Be brief."),
            ChatMessage(
                "user",
                [
                    {"type": "text", "text": "Weather where this photo was taken?"},
                    {"type": "image_url", "image_url": {"url": PNG}},
                ],
            ),
            ChatMessage("assistant", "Let me check.", tool_calls=calls),
            ChatMessage("tool", '{"temp": 3}', tool_call_id="call_a"),
            ChatMessage("tool", "nothing found", tool_call_id="call_b"),
            ChatMessage("user", "And tomorrow?"),
        ],
        model="m",
        max_tokens=100,
        tools=TOOLS,
        **kw,
    )


def shape(req: ChatRequest) -> list[Any]:
    """What must survive a round trip, with tool-call ids replaced by call order."""
    ids: dict[str, int] = {}
    out: list[Any] = []
    for m in req.messages:
        calls = [
            (c["function"]["name"], parse_arguments(c["function"]["arguments"]))
            for c in m.tool_calls or ()
        ]
        for c in m.tool_calls or ():
            ids[c["id"]] = len(ids)
        answered = ids.get(m.tool_call_id) if m.tool_call_id else None
        text = m.text
        if m.role == "tool":
            text = parse_arguments(text) if text.startswith("{") else text
        out.append((m.role, text, m.images, calls, answered))
    return out


def tool_names(req: ChatRequest) -> list[str]:
    return [t["function"]["name"] for t in req.tools or ()]


def test_anthropic_request_round_trip() -> None:
    req = conversation(tool_choice={"type": "function", "function": {"name": "search"}})
    body = anth_req.messages_body(req, stream=True)
    assert body["system"] == "Be brief."
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][2]["content"][0]["type"] == "tool_result"
    assert body["tool_choice"] == {"type": "tool", "name": "search"}
    assert body["tools"][0]["input_schema"] == TOOLS[0]["function"]["parameters"]
    back = anth_read.parse_messages_request(orjson.loads(orjson.dumps(body)))
    assert shape(back) == shape(req)
    assert tool_names(back) == tool_names(req)
    assert back.tool_choice == req.tool_choice
    assert back.stream and back.max_tokens == 100


def test_anthropic_json_format_is_a_forced_tool() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}}
    req = ChatRequest.from_text("2+2?", model="m")
    req.response_format = {"type": "json_schema", "json_schema": {"name": "sum", "schema": schema}}
    body = anth_req.messages_body(req, stream=False)
    assert body["tool_choice"] == {"type": "tool", "name": "sum"}
    assert body["tools"] == [
        {"name": "sum", "description": "Reply with this tool's input.", "input_schema": schema}
    ]
    reply = anth_enc.message_body(
        "msg_1",
        "m",
        "",
        finish="tool_calls",
        usage=Usage(3, 4),
        tool_calls=[{"id": "t", "function": {"name": "sum", "arguments": '{"answer": 4}'}}],
    )
    chunk = anth_resp.parse_message(reply, "e", structured="sum")
    assert orjson.loads(chunk.delta) == {"answer": 4}
    assert chunk.tool_calls is None and chunk.finish_reason == "stop"


def test_gemini_request_round_trip() -> None:
    req = conversation(tool_choice="required", temperature=0.5)
    body = gem_req.generate_body(req)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    responses = [p["functionResponse"] for p in body["contents"][2]["parts"][:2]]
    assert [r["name"] for r in responses] == ["get_weather", "search"]
    assert responses[0]["response"] == {"temp": 3}
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    decl = body["tools"][0]["functionDeclarations"][0]
    assert decl["parameters"]["required"] == ["city"]
    back = gem_req.parse_generate_request(orjson.loads(orjson.dumps(body)))
    assert shape(back) == shape(req)
    assert tool_names(back) == tool_names(req)
    assert back.tool_choice == "required" and back.temperature == 0.5


def test_gemini_schema_reduction() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
        "properties": {
            "unit": {"$ref": "#/$defs/Unit"},
            "note": {"type": ["string", "null"], "default": "x"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        },
        "required": ["unit", "gone"],
    }
    req = ChatRequest.from_text("x", model="m")
    req.response_format = {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}
    gen = gem_req.generate_body(req)["generationConfig"]
    assert gen["responseMimeType"] == "application/json"
    assert gen["responseSchema"] == {
        "type": "object",
        "properties": {
            "unit": {"type": "string", "enum": ["c", "f"]},
            "note": {"type": "string", "nullable": True},
            "n": {"type": "integer", "nullable": True},
        },
        "required": ["unit"],
    }


def test_ollama_request_round_trip() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    req = conversation(
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    )
    body = oll_req.chat_body(req, stream=True)
    assert body["messages"][1]["images"] == [PNG.split(",", 1)[1]]
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == {
        "city": "Oslo",
        "days": 2,
    }
    assert body["messages"][3]["tool_name"] == "get_weather"
    assert body["format"] == schema
    assert body["tools"] == TOOLS
    back = oll_req.parse_chat_request(orjson.loads(orjson.dumps(body)))
    assert [s[4] for s in shape(back)] == [s[4] for s in shape(req)]
    assert [s[3] for s in shape(back)] == [s[3] for s in shape(req)]
    assert back.response_format is not None and back.response_format["type"] == "json_schema"


def test_openai_request_is_the_canonical_shape() -> None:
    req = conversation(tool_choice="auto", parallel_tool_calls=False)
    body = oai_req.chat_body(req, stream=True)
    back = ChatRequest.from_openai(orjson.loads(orjson.dumps(body)))
    assert shape(back) == shape(req)
    assert back.tools == TOOLS and back.parallel_tool_calls is False


REPLY_CALLS = [
    {
        "index": 0,
        "id": "call_x",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    },
    {"index": 0, "function": {"arguments": '{"city": '}},
    {"index": 0, "function": {"arguments": '"Oslo"}'}},
    {
        "index": 1,
        "id": "call_y",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": "z"}'},
    },
]
STREAM = [
    ChatChunk(delta="Checking "),
    ChatChunk(delta="now."),
    *(ChatChunk(tool_calls=[f]) for f in REPLY_CALLS),
]


def collect(chunks: list[ChatChunk]) -> tuple[str, list[dict[str, Any]]]:
    acc = ToolCallAssembler()
    for c in chunks:
        if c.tool_calls:
            acc.feed(c.tool_calls)
    calls = [
        (c["function"]["name"], parse_arguments(c["function"]["arguments"])) for c in acc.calls()
    ]
    return "".join(c.delta for c in chunks), calls  # type: ignore[return-value]


EXPECTED = ("Checking now.", [("get_weather", {"city": "Oslo"}), ("search", {"q": "z"})])


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name = None
        data = b""
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        out.append((name, data))
    return out


def test_anthropic_stream_round_trip() -> None:
    enc = anth_enc.StreamEncoder("msg_1", "m")
    raw = enc.start(5) + b"".join(enc.feed(c) for c in STREAM) + enc.end("tool_calls", Usage(5, 9))
    dec = anth_resp.StreamDecoder("e")
    chunks = [
        c for name, data in sse_events(raw) if (c := dec.feed(name, orjson.loads(data))) is not None
    ]
    final = dec.final()
    assert collect(chunks) == EXPECTED
    assert final.finish_reason == "tool_calls"
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (
        5,
        9,
    )
    whole = anth_enc.message_body(
        "msg_1",
        "m",
        "Checking now.",
        finish="tool_calls",
        usage=Usage(1, 2),
        tool_calls=whole_calls(),
    )
    assert collect([anth_resp.parse_message(whole, "e")]) == EXPECTED


def whole_calls() -> list[dict[str, Any]]:
    acc = ToolCallAssembler()
    acc.feed(REPLY_CALLS)
    return acc.calls()


def test_openai_stream_round_trip() -> None:
    enc = oai_enc.ChunkEncoder("c1", "m", 0)
    raw = enc.role() + b"".join(
        enc.delta(c.delta) if c.delta else enc.tool_calls(c.tool_calls or []) for c in STREAM
    )
    raw += enc.finish("tool_calls") + enc.usage(Usage(1, 2)) + oai_enc.DONE
    state = oai_resp.StreamState("e")
    chunks: list[ChatChunk] = []
    for _, data in sse_events(raw):
        if data == b"[DONE]":
            state.done = True
            continue
        text, frags = state.feed(orjson.loads(data))
        chunks.append(ChatChunk(delta=text, tool_calls=frags))
    assert collect(chunks) == EXPECTED
    assert state.final().finish_reason == "tool_calls"
    body = oai_enc.completion(
        "c", "m", 0, "Checking now.", finish="tool_calls", usage=Usage(), tool_calls=whole_calls()
    )
    assert collect([oai_resp.parse_completion(body, "e")]) == EXPECTED


def test_gemini_response_round_trip() -> None:
    body = gem_resp.response_body(
        "m", "Checking now.", finish="tool_calls", usage=Usage(2, 3), tool_calls=whole_calls()
    )
    chunk = gem_resp.parse_response(orjson.loads(orjson.dumps(body)), "e")
    assert collect([chunk]) == EXPECTED
    assert chunk.finish_reason == "tool_calls"
    events = [
        gem_resp.response_body("m", "Checking ", finish=None, usage=None),
        gem_resp.response_body("m", "now.", finish=None, usage=None),
        gem_resp.response_body("m", "", finish="stop", usage=Usage(2, 3), tool_calls=whole_calls()),
    ]
    dec = gem_resp.StreamDecoder("e")
    chunks = [c for e in events if (c := dec.feed(e)) is not None]
    assert collect(chunks) == EXPECTED
    assert dec.final().finish_reason == "tool_calls"


def test_ollama_response_round_trip() -> None:
    lines = [
        oll_resp.message_line("m", "t", "Checking "),
        oll_resp.message_line("m", "t", "now.", whole_calls()),
        oll_resp.done_line("m", "t", "", finish="stop", usage=Usage(2, 3), elapsed_ns=10),
    ]
    dec = oll_resp.LineDecoder("e")
    chunks: list[ChatChunk] = []
    for line in lines:
        chunk, done = dec.feed(orjson.loads(orjson.dumps(line)))
        if chunk:
            chunks.append(chunk)
        if done:
            final = oll_resp.final_chunk(line, dec.calls > 0)
    assert collect(chunks) == EXPECTED
    assert final.finish_reason == "tool_calls" and final.usage == Usage(2, 3)


@pytest.mark.parametrize(
    "parse",
    [anth_read.parse_messages_request, gem_req.parse_generate_request, oll_req.parse_chat_request],
)
@pytest.mark.parametrize("body", [None, [], {}, {"model": 5}, {"messages": "x", "model": "m"}])
def test_bad_bodies_are_bad_requests(parse: Callable[[Any], ChatRequest], body: Any) -> None:
    from endpoint_desk.core.errors import BadRequest

    with pytest.raises(BadRequest):
        parse(body)
