"""Upstream faults through the real gateway: every request gets an answer (failover) or
a clean error, never later than the endpoint's timeout, and nothing leaks (file
descriptors, tasks, pooled upstream connections).

Each fault is a real sim on 127.0.0.1 with one knob set (or a port nobody listens on);
the breaker is set so that it never trips, so every request meets the fault.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
import pytest

from endpoint_desk.engine.desk import Desk
from endpoint_desk.server.app import RunningServer
from endpoint_desk.sim import SimServer

from .kit import TIMEOUT, AddEndpoint, Resources, free_port, settle

pytestmark = pytest.mark.timeout(60)

Sims = Callable[..., Awaitable[SimServer]]

# fault name -> sim knobs (None: a port nobody listens on)
FAULTS: dict[str, dict[str, Any] | None] = {
    "refused": None,
    "hang_before_headers": {"hang": True},
    "silence_after_headers": {"ttft": 30.0},
    "truncated_body": {"truncate": True, "chunks": 6},
    "garbage_body": {"garbage": True},
    "http_500": {"fail_rate": 1.0, "fail_status": 500},
    "http_503": {"fail_rate": 1.0, "fail_status": 503},
    "slow_drip": {"drip": 0.5},
}
SLOW = {"hang_before_headers", "silence_after_headers", "slow_drip"}
"""Faults that cost one timeout per request (the others fail at once)."""

LIMIT = TIMEOUT + 1.5
"""The longest a request may take when an upstream misbehaves: one timeout plus the
failover and the scheduling noise of a loaded 2-core machine."""


def body(stream: bool = False, text: str = "hello") -> bytes:
    """An OpenAI chat request body."""
    return orjson.dumps(
        {"model": "sim-model", "messages": [{"role": "user", "content": text}], "stream": stream}
    )


async def call(
    http: aiohttp.ClientSession, server: RunningServer, stream: bool, text: str = "hello"
) -> tuple[int, str, dict[str, str], float]:
    """POST one chat request; (status, full body text, headers, seconds)."""
    t0 = time.perf_counter()
    async with http.post(
        server.url + "/v1/chat/completions",
        data=body(stream, text),
        headers={"Content-Type": "application/json"},
    ) as resp:
        raw = await resp.read()
        return resp.status, raw.decode(), dict(resp.headers), time.perf_counter() - t0


def sse_events(text: str) -> list[Any]:
    """The JSON payloads of an SSE body (``[DONE]`` as the string)."""
    out: list[Any] = []
    for line in text.splitlines():
        if line.startswith("data: "):
            data = line[6:]
            out.append(data if data == "[DONE]" else orjson.loads(data))
    return out


def streamed_text(text: str) -> str:
    """The content deltas of an SSE body, joined."""
    parts = []
    for ev in sse_events(text):
        if isinstance(ev, dict):
            for ch in ev.get("choices") or ():
                parts.append((ch.get("delta") or {}).get("content") or "")
    return "".join(parts)


async def bad_url(sims: Sims, fault: str) -> tuple[str, SimServer | None]:
    knobs = FAULTS[fault]
    if knobs is None:
        return f"http://127.0.0.1:{free_port()}", None
    sim = await sims(**knobs)
    return sim.url, sim


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_failover_hides_the_fault(
    fault: str,
    sims: Sims,
    add: AddEndpoint,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    """The faulty endpoint is tried first (tier 0); every request, plain and streamed,
    is answered by the good one within one timeout, and nothing leaks."""
    url, bad_sim = await bad_url(sims, fault)
    good = await sims()
    await add(url, "bad", tier=0)
    await add(good.url, "good", tier=1)
    n = 8 if fault in SLOW else 16

    # a stream cut after content began is not failed over (see the mid-stream test)
    streams = fault != "truncated_body"

    async def round_(tag: str) -> None:
        results = await asyncio.gather(
            *(call(http, server, streams and i % 2 == 1, f"{tag}{i}") for i in range(n))
        )
        for i, (status, text, headers, took) in enumerate(results):
            assert status == 200, (fault, text)
            assert headers["x-desk-endpoint"] == "good", (fault, i % 2, text)
            if streams and i % 2:
                content = streamed_text(text)
            else:
                content = orjson.loads(text)["choices"][0]["message"]["content"]
            assert content == f"Echo: {tag}{i}"
            assert took < LIMIT, f"{fault}: a request took {took:.2f} s"

    # The first round fills the connection pools; the second must not hold more.
    await round_("a")
    before = await settle(Resources.now(), fd_slack=10**6, task_slack=10**6)
    await round_("b")
    await settle(before, fd_slack=2, task_slack=1)
    if bad_sim is not None:
        assert bad_sim.stats.total >= 2 * n  # the fault was really met every time
    metrics = desk.endpoint("bad").metrics
    assert metrics.errors >= 2 * n and metrics.in_flight == 0


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_alone_the_fault_is_a_clean_error_in_time(
    fault: str,
    sims: Sims,
    add: AddEndpoint,
    desk: Desk,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    """With no other endpoint, every request ends in an OpenAI-shaped 5xx (or a clean
    error event) within one timeout; the desk keeps serving afterwards."""
    url, _ = await bad_url(sims, fault)
    await add(url, "bad", limits={"retry_attempts": 0})
    n = 4 if fault in SLOW else 8
    results = await asyncio.gather(*(call(http, server, i % 2 == 1) for i in range(n)))
    before = await settle(Resources.now(), fd_slack=10**6, task_slack=10**6)
    results += await asyncio.gather(*(call(http, server, i % 2 == 1) for i in range(n)))
    await settle(before, fd_slack=2, task_slack=1)
    for status, text, _headers, took in results:
        assert took < LIMIT, f"{fault}: took {took:.2f} s"
        assert "Traceback" not in text
        if status == 200:  # a stream that failed after it began: an error event
            events = sse_events(text)
            assert any(isinstance(e, dict) and "error" in e for e in events), text
        else:
            assert 500 <= status < 600, (status, text)
            err = orjson.loads(text)["error"]
            assert set(err) == {"message", "type", "param", "code"}
            assert err["message"] and "Traceback" not in err["message"]
            assert status != 500, f"{fault}: the desk itself failed: {text}"
    # the gateway is still healthy
    async with http.get(server.url + "/health") as resp:
        assert resp.status == 200


@pytest.mark.parametrize(
    ("fault", "knobs"),
    [
        ("truncated_stream", {"truncate": True, "chunks": 6}),
        ("stall_mid_stream", {"chunks": 4, "chunk_delay": 30.0}),
    ],
)
async def test_mid_stream_faults_end_the_stream_cleanly(
    fault: str,
    knobs: dict[str, Any],
    sims: Sims,
    add: AddEndpoint,
    server: RunningServer,
    http: aiohttp.ClientSession,
) -> None:
    """After the first content chunk reached the client there is no failover (two
    answers must never mix): the stream carries what came, then an error event, and
    ends within one timeout of the last byte."""
    bad = await sims(**knobs)
    good = await sims()
    await add(bad.url, "bad", tier=0)
    await add(good.url, "good", tier=1)
    said = "one two three four five six"
    before: Resources | None = None
    for _ in range(2):  # the second round must not hold more than the first
        status, text, headers, took = await call(http, server, True, said)
        assert status == 200
        assert headers["x-desk-endpoint"] == "bad"
        events = sse_events(text)
        content = streamed_text(text)
        assert content and ("Echo: " + said).startswith(content)
        assert content != "Echo: " + said
        errors = [e for e in events if isinstance(e, dict) and "error" in e]
        assert len(errors) == 1, text
        assert set(errors[0]["error"]) >= {"message", "type"}
        assert events[-1] != "[DONE]"
        assert took < LIMIT
        if before is None:
            before = await settle(Resources.now(), fd_slack=10**6, task_slack=10**6)
    assert before is not None
    await settle(before, fd_slack=2, task_slack=1)


async def test_a_steady_trickle_is_bounded_between_chunks(
    sims: Sims, add: AddEndpoint, server: RunningServer, http: aiohttp.ClientSession
) -> None:
    """``timeout_seconds`` bounds the silence before and between chunks. An upstream
    that keeps a stream trickling (each event well within the timeout, the whole reply
    several timeouts long) is not cut, and a plain request never waits past it. (A
    drip slower than the timeout per event is cut: ``slow_drip`` above.) So a stream's
    whole duration is not capped by ``timeout_seconds``, only its gaps."""
    timeout = 2.0
    slow = await sims(drip=0.0005, chunks=8)  # ~0.5 s per event, ~5 s per reply
    good = await sims()
    await add(slow.url, "slow", tier=0, limits={"timeout_seconds": timeout})
    await add(good.url, "good", tier=1)
    text = " ".join(f"w{i}" for i in range(8))
    status, body_text, headers, took = await call(http, server, False, text)
    assert status == 200  # one short body: served by either, never late
    assert orjson.loads(body_text)["choices"][0]["message"]["content"] == "Echo: " + text
    assert took < timeout + 1.5, f"plain request took {took:.2f} s past a {timeout} s timeout"
    status, body_text, headers, took = await call(http, server, True, text)
    assert status == 200 and headers["x-desk-endpoint"] == "slow"
    assert streamed_text(body_text) == "Echo: " + text
    assert took > 1.5 * timeout  # really longer than one timeout, and not cut
