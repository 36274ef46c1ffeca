"""LangChain's ``ChatOpenAI.bind_tools`` agent loop through the desk: the model calls
the tool, the loop runs it and sends the result back, the model answers with it; plain
and streamed, over each of the four protocols."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer

pytestmark = pytest.mark.timeout(60)

langchain_openai = pytest.importorskip("langchain_openai")
messages_mod = pytest.importorskip("langchain_core.messages")
tools_mod = pytest.importorskip("langchain_core.tools")

AddSim = Callable[..., Awaitable[str]]
CALLS: list[str] = []


@tools_mod.tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    CALLS.append(city)
    return f"{city}: 21 C and clear"


async def agent(llm: Any, question: str, stream: bool) -> tuple[str, int]:
    """A minimal agent loop: ask, run the tools the model calls, ask again."""
    bound = llm.bind_tools([get_weather])
    history: list[Any] = [messages_mod.HumanMessage(question)]
    for turn in range(1, 5):
        if stream:
            reply: Any = None
            async for chunk in bound.astream(history):
                reply = chunk if reply is None else reply + chunk
        else:
            reply = await bound.ainvoke(history)
        history.append(reply)
        if not reply.tool_calls:
            return str(reply.content), turn
        for call in reply.tool_calls:
            result = get_weather.invoke(call["args"])
            history.append(messages_mod.ToolMessage(result, tool_call_id=call["id"]))
    raise AssertionError("the agent never answered")


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "ollama"])
async def test_bind_tools_agent_loop(
    kind: str, stream: bool, sim: SimServer, add_sim: AddSim, server: RunningServer
) -> None:
    await add_sim(sim, name=kind, kind=kind, models=["sim-model"])
    llm = langchain_openai.ChatOpenAI(
        model="sim-model", base_url=server.url + "/v1", api_key="unused", max_retries=0
    )
    CALLS.clear()
    answer, turns = await agent(llm, "What's the weather in Porto?", stream)
    assert CALLS == ["Porto"]
    assert turns == 2
    assert answer == "get_weather returned: Porto: 21 C and clear."
