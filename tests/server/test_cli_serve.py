"""``desk serve`` as a real process: prints its URL, refuses an unprotected public bind,
generates a key, and stops cleanly on SIGTERM after in-flight requests finish."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from endpoint_desk.sim import SimConfig, SimServer

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).resolve().parents[2]


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "endpoint_desk",
        "serve",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


async def _url_of(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    found = re.search(rb"http://127\.0\.0\.1:\d+", line)
    assert found, line
    return found.group(0).decode()


async def test_refuses_public_bind_without_key() -> None:
    proc = await _spawn("--host", "0.0.0.0", "--port", "0")
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1
    assert b"without an API key" in err


async def test_generated_key_protects_the_server() -> None:
    proc = await _spawn("--port", "0", "--generate-key")
    try:
        url = await _url_of(proc)
        assert proc.stderr is not None
        banner = await asyncio.wait_for(proc.stderr.readline(), timeout=10)
        assert b"generated an API key" in banner
        key = (await proc.stderr.readline()).decode().strip()
        assert key.startswith("desk-")
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/v1/models") as resp:
                assert resp.status == 401
            headers = {"Authorization": f"Bearer {key}"}
            async with http.get(url + "/v1/models", headers=headers) as resp:
                assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), timeout=30)
    assert proc.returncode == 0


async def test_sigterm_lets_in_flight_stream_finish() -> None:
    async with SimServer(SimConfig(chunks=10, chunk_delay=0.1)) as sim:
        proc = await _spawn("--port", "0", "--grace", "10")
        try:
            url = await _url_of(proc)
            async with aiohttp.ClientSession() as http:
                create = {"name": "slow", "kind": "openai", "base_url": sim.url}
                async with http.post(url + "/api/endpoints", json=create) as resp:
                    assert resp.status == 201, await resp.text()
                payload = {
                    "model": "sim-model",
                    "messages": [{"role": "user", "content": "a b c d e f g h i j"}],
                    "stream": True,
                }
                async with http.post(url + "/v1/chat/completions", json=payload) as resp:
                    assert resp.status == 200
                    first = await resp.content.readline()
                    assert first.startswith(b"data: ")
                    proc.send_signal(signal.SIGTERM)
                    rest = await resp.content.read()
            assert rest.rstrip().endswith(b"data: [DONE]")
            await asyncio.wait_for(proc.wait(), timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert proc.returncode == 0
        assert proc.stderr is not None
        err = await proc.stderr.read()
        assert b"stopped" in err
