"""The template adapter: rendering (JSON values, never string splicing), paths, config
checks, and the submit-then-poll mode against the sim's job API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from endpoint_desk.adapters.template.adapter import TemplateAdapter, request_values
from endpoint_desk.adapters.template.paths import PathError, get_path
from endpoint_desk.adapters.template.render import render, render_url
from endpoint_desk.core.errors import (
    ConfigError,
    NotFound,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from endpoint_desk.core.models import ChatMessage, ChatRequest, EndpointSpec
from endpoint_desk.sim import SimServer
from tests.adapters.simkit import (
    adapter_for,
    ask,
    collect,
    custom_template,
    jobs_template,
)

pytestmark = pytest.mark.timeout(30)

# ---------------------------------------------------------------------------- rendering


def test_render_inserts_json_values() -> None:
    request = ChatRequest(
        messages=[ChatMessage("system", "sys"), ChatMessage("user", "hi")],
        model="m1",
        temperature=0.5,
        max_tokens=12,
    )
    values = request_values(request)
    body = render(
        {
            "q": "{{prompt}}",
            "msgs": "{{ messages }}",
            "params": {"t": "{{temperature}}", "n": "{{max_tokens}}", "p": "{{top_p}}"},
            "sys": "{{system}}",
            "label": "model={{model}} n={{max_tokens}}",
            "list": ["{{model}}", 3, True],
        },
        values,
    )
    assert body == {
        "q": "hi",
        "msgs": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        "params": {"t": 0.5, "n": 12},  # top_p was not given: left out, not null
        "sys": "sys",
        "label": "model=m1 n=12",
        "list": ["m1", 3, True],
    }


def test_render_cannot_be_broken_by_the_prompt() -> None:
    nasty = 'he said "}], "admin": true, {"x": "\\u0000 {{model}}'
    values = request_values(ChatRequest.from_text(nasty, model="m"))
    raw = orjson.dumps(render({"input": "Q: {{prompt}}", "admin": False}, values))
    parsed = orjson.loads(raw)
    assert parsed == {"input": "Q: " + nasty, "admin": False}


def test_render_url_encodes() -> None:
    assert render_url("/ask?q={{prompt}}&m={{model}}", {"prompt": "a b&c", "model": "x/y"}) == (
        "/ask?q=a%20b%26c&m=x%2Fy"
    )


def test_get_path() -> None:
    doc = {"choices": [{"message": {"content": "hi"}}], "n": [1, 2, 3]}
    assert get_path(doc, "choices.0.message.content") == "hi"
    assert get_path(doc, "n.-1") == 3
    assert get_path(doc, "") is doc
    with pytest.raises(PathError, match=r"choices\.0\.message has no 'text' \(keys: content\)"):
        get_path(doc, "choices.0.message.text")
    with pytest.raises(PathError, match="array of 3"):
        get_path(doc, "n.7")
    with pytest.raises(PathError, match="not an object"):
        get_path(doc, "choices.0.message.content.x")


# ---------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        (None, "options.template is missing"),
        ({"url": "/x"}, "response is required"),
        ({"response": "a", "bodyy": {}}, "unknown keys"),
        ({"response": "a", "body": {"q": "{{promt}}"}}, "unknown placeholders"),
        ({"response": "a", "body": '{"q": {{prompt}}}'}, "not JSON"),
        ({"response": "a", "headers": {"X": 1}}, "headers must be a table of strings"),
        (
            {"response": "a", "headers": {"Authorization": "Bearer sk-plain"}},
            "credential as plain text",
        ),
        ({"response": "a", "poll": {"id": "id", "url": "/j/{{id}}"}}, "poll.status is required"),
        (
            {
                "response": "a",
                "poll": {"id": "i", "url": "u", "status": "s", "done": "d", "interval": 0},
            },
            "interval must be a positive number",
        ),
    ],
)
def test_config_errors_name_the_problem(template: Any, problem: str) -> None:
    options = {} if template is None else {"template": template}
    with pytest.raises(ConfigError, match=problem):
        adapter_for("template", "http://127.0.0.1:9", options=options)


def test_body_as_json_text() -> None:
    options = {"template": {**custom_template(), "body": '{"input": "{{prompt}}"}'}}
    adapter = adapter_for("template", "http://127.0.0.1:9", options=options)
    assert isinstance(adapter, TemplateAdapter)
    assert adapter.config.body == {"input": "{{prompt}}"}


# ---------------------------------------------------------------------------- against the sim


async def test_secret_reference_in_header(sim: SimServer) -> None:
    # jobs_template sends the key as x-api-key: env:... (resolved at request time)
    adapter = adapter_for("template-jobs", sim.url)
    chunks = await collect(adapter, ask())
    assert chunks[-1].delta == "Echo: hello there friend"
    assert sim.stats.last["POST /jobs"]["headers"]["x-api-key"] == "***"


async def test_default_bearer_when_no_template_uses_the_key(sim: SimServer) -> None:
    template = {**custom_template(), "headers": {}}
    adapter = adapter_for("template", sim.url, options={"template": template})
    chunks = await collect(adapter, ask())
    assert chunks[-1].usage is not None


async def test_no_usage_paths_means_no_usage(sim: SimServer) -> None:
    template = {k: v for k, v in custom_template().items() if k != "usage"}
    adapter = adapter_for("template", sim.url, options={"template": template})
    (chunk,) = await collect(adapter, ask())
    assert chunk.delta == "Echo: hello there friend"
    assert chunk.usage is None  # the engine estimates it and marks it estimated


async def test_wrong_response_path_is_a_protocol_error(sim: SimServer) -> None:
    template = {**custom_template(), "response": "output.answer"}
    adapter = adapter_for("template", sim.url, options={"template": template})
    with pytest.raises(ProtocolError, match=r"'output\.answer'.*keys: text"):
        await collect(adapter, ask())


async def test_reply_that_is_not_text(sim: SimServer) -> None:
    template = {**custom_template(), "response": "output"}
    adapter = adapter_for("template", sim.url, options={"template": template})
    with pytest.raises(ProtocolError, match="dict, not text"):
        await collect(adapter, ask())


async def test_error_path_on_a_2xx_answer(sim: SimServer) -> None:
    template = {**custom_template(), "error": "output.text"}
    adapter = adapter_for("template", sim.url, options={"template": template})
    with pytest.raises(UpstreamError, match="answered with an error: Echo"):
        await collect(adapter, ask())


async def test_job_polls_until_done(sim: SimServer) -> None:
    adapter = adapter_for("template-jobs", sim.url)
    chunks = await collect(adapter, ask(model="sim-model@job_delay=0.15"))
    assert chunks[-1].delta == "Echo: hello there friend"
    assert sim.stats.count("GET /jobs/{id}") >= 2  # running at least once, then done


async def test_job_failure(sim: SimServer) -> None:
    adapter = adapter_for("template-jobs", sim.url)
    with pytest.raises(UpstreamError, match=r"job job_\w+ failed .*simulated job failure"):
        await collect(adapter, ask(model="sim-model@job_fail"))


async def test_job_time_limit(sim: SimServer) -> None:
    options = {"template": jobs_template(interval=0.05, timeout=0.3)}
    adapter = adapter_for("template-jobs", sim.url, options=options)
    with pytest.raises(UpstreamTimeout, match=r"not done after 0\.3 s \(last status 'running'\)"):
        await collect(adapter, ask(model="sim-model@job_delay=30"))


async def test_job_answer_without_id(sim: SimServer) -> None:
    template = jobs_template()
    template["poll"]["id"] = "job_id"
    adapter = adapter_for("template-jobs", sim.url, options={"template": template})
    with pytest.raises(ProtocolError, match="job id"):
        await collect(adapter, ask())


def test_the_documented_examples_are_valid() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "rest-apis.md"
    if not doc.exists():
        pytest.skip("docs/rest-apis.md was moved")
    blocks = re.findall(r"```json\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) == 2
    for block in blocks:
        data = orjson.loads(block)
        data.pop("api_key_env")
        spec = EndpointSpec(**data, api_key="env:DOC_EXAMPLE_KEY")
        adapter = TemplateAdapter(spec, lambda ref: "k")
        assert adapter.config.response == "output.text" or adapter.config.poll is not None


async def test_plain_text_api_by_get() -> None:
    """A GET API that answers plain text: the prompt goes in the query string."""

    async def ask_handler(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer k-123"
        return web.Response(text="you asked: " + request.query["q"])

    app = web.Application()
    app.router.add_get("/ask", ask_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        spec = EndpointSpec(
            name="plain",
            kind="template",  # type: ignore[arg-type]
            base_url=url,
            api_key="env:PLAIN_KEY",
            options={"template": {"url": "/ask?q={{prompt}}", "method": "GET", "response": ""}},
        )
        adapter = TemplateAdapter(spec, lambda ref: "k-123")
        (chunk,) = await collect(adapter, ask("a&b = c?"))
        assert chunk.delta == "you asked: a&b = c?"
        assert chunk.finish_reason == "stop" and chunk.usage is None
    finally:
        await runner.cleanup()


async def test_wrong_url_is_not_an_unknown_model(sim: SimServer) -> None:
    template = {**custom_template(), "url": "/custom/generat"}
    adapter = adapter_for("template", sim.url, options={"template": template})
    with pytest.raises(NotFound) as info:
        await collect(adapter, ask())
    assert type(info.value) is NotFound
    assert "POST " + sim.url + "/custom/generat" in str(info.value)
