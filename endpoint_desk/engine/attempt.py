"""One attempt: one try of a request at one position.

The request path (``engine/request_path.py``) picks the positions and fails over; an
attempt opens the position's adapter when needed, streams its chunks with a silence
timeout between them, and, when it ends, counts the outcome (``engine/ledger.py``),
prices it (``engine/cost.py``) and feeds the position's breaker
(``engine/verdicts.py``). This is the hot path: per chunk it does no more than a
timestamp and an append.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import TYPE_CHECKING

from endpoint_desk.adapters.base import Adapter
from endpoint_desk.core.errors import DeskError, UpstreamError, UpstreamTimeout
from endpoint_desk.core.models import ChatChunk, ChatRequest, ChatResult, Usage
from endpoint_desk.core.tools import ToolCallAssembler
from endpoint_desk.engine.cost import cost_of, estimate_tokens
from endpoint_desk.engine.ledger import Ledger
from endpoint_desk.engine.portfolio import Portfolio
from endpoint_desk.engine.position import Position
from endpoint_desk.engine.verdicts import Verdicts

if TYPE_CHECKING:
    from endpoint_desk.engine.request_path import Outcome

_RID_PREFIX = "chatcmpl-" + secrets.token_hex(6)
_rid_counter = itertools.count(int.from_bytes(secrets.token_bytes(3), "big"))


def _request_id() -> str:
    """A request id shaped like ``new_id()`` (``chatcmpl-`` and 24 hex digits), far
    cheaper than a uuid4 per attempt: a random per-process prefix and a counter. Ids of
    one process sort in issue order, so the request log's primary key grows at its end."""
    return f"{_RID_PREFIX}{next(_rid_counter) & 0xFFFFFFFFFFFF:012x}"


def adapter_bug(endpoint: str, exc: Exception) -> UpstreamError:
    """An adapter's unexpected exception as the desk error of a failed attempt (an
    adapter bug fails one request, never the desk)."""
    return UpstreamError(f"{endpoint}: {type(exc).__name__}: {exc}", endpoint=endpoint)


class AttemptRunner:
    """Runs attempts at the positions of one portfolio.

    Args:
        portfolio: opens adapters.
        verdicts: judges each outcome (the breaker).
        ledger: counts each outcome.
    """

    def __init__(self, portfolio: Portfolio, verdicts: Verdicts, ledger: Ledger) -> None:
        self.portfolio = portfolio
        self.verdicts = verdicts
        self.ledger = ledger

    async def prove(self, pos: Position) -> None:
        """Open the adapter, list models if it can, and make one real chat call (a new
        endpoint's proof before it is saved)."""
        adapter = await self.portfolio.open_adapter(pos)
        try:
            if adapter.capabilities.list_models:
                models = await adapter.list_models()
                if models and not pos.spec.models:
                    pos.spec = pos.spec.model_copy(update={"models": models[:200]})
            model = pos.spec.upstream_model(None) or ""
            request = ChatRequest.from_text("Reply with the word OK.", model=model, max_tokens=8)
            request.stream = True
            async with contextlib.aclosing(self.run(pos, request, model)) as chunks:
                async for _ in chunks:
                    pass
        except BaseException:
            await self.portfolio.close_adapter(pos)
            raise

    async def open(self, pos: Position) -> Adapter:
        """``pos``'s adapter, opened now (a failure to open counts for its breaker)."""
        try:
            return await self.portfolio.open_adapter(pos)
        except DeskError as exc:
            self.verdicts.judge(pos, exc)
            raise

    async def run(
        self,
        pos: Position,
        request: ChatRequest,
        upstream_model: str,
        outcome: Outcome | None = None,
        t0: float | None = None,
        attempt_no: int = 1,
    ) -> AsyncGenerator[ChatChunk, None]:
        """One try at one position: timeouts, metrics, cost, breaker, request log.

        ``outcome`` (the request path's) learns the serving endpoint at the first
        content chunk and the standardized result when the reply ended."""
        t0 = t0 if t0 is not None else time.perf_counter()
        adapter = pos.adapter
        if adapter is None or not pos.opened:
            adapter = await self.open(pos)
        req = request if request.model == upstream_model else replace(request, model=upstream_model)
        timeout = pos.spec.limits.timeout_seconds
        ttft: float | None = None
        parts: list[str] = []
        calls: ToolCallAssembler | None = None
        final: ChatChunk | None = None
        session_id: str | None = None
        pos.metrics.in_flight += 1
        ok = False
        error: DeskError | None = None
        rid = _request_id()
        it = adapter.chat(req).__aiter__()
        watch = _Silence(timeout)
        try:
            while True:
                watch.resume()
                try:
                    chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                except (TimeoutError, asyncio.CancelledError) as exc:
                    if isinstance(exc, TimeoutError) or watch.expired():
                        raise UpstreamTimeout(
                            f"{pos.name} sent nothing for {timeout:g} s", endpoint=pos.name
                        ) from exc
                    raise
                watch.pause()
                if chunk.delta:
                    if ttft is None:
                        ttft = (time.perf_counter() - t0) * 1000
                        if outcome is not None:
                            outcome.endpoint = pos.name
                    parts.append(chunk.delta)
                if chunk.tool_calls:
                    if ttft is None:
                        ttft = (time.perf_counter() - t0) * 1000
                        if outcome is not None:
                            outcome.endpoint = pos.name
                    if calls is None:
                        calls = ToolCallAssembler()
                    calls.feed(chunk.tool_calls)
                if chunk.session_id:
                    session_id = chunk.session_id
                if chunk.finish_reason is not None or chunk.usage is not None:
                    final = chunk
                yield chunk
            ok = True
        except DeskError as exc:
            error = exc
            raise
        except Exception as exc:  # an adapter bug must not take the desk down
            error = adapter_bug(pos.name, exc)
            raise error from exc
        finally:
            watch.close()
            with contextlib.suppress(Exception):
                await it.aclose()  # type: ignore[attr-defined]
            pos.metrics.in_flight -= 1
            latency = (time.perf_counter() - t0) * 1000
            content = "".join(parts)
            tool_calls = calls.calls() if calls else None
            usage = final.usage if final and final.usage else None
            if usage is None:
                produced = content
                if tool_calls:
                    produced += "".join(c["function"]["arguments"] for c in tool_calls)
                usage = Usage(
                    input_tokens=estimate_tokens(request.prompt_text()),
                    output_tokens=estimate_tokens(produced),
                    estimated=True,
                )
            if not ok:
                usage = usage if content or tool_calls else Usage()
            cost_of(usage, upstream_model, pos.spec.prices)
            self.ledger.record_request(
                pos,
                rid,
                request.stream,
                upstream_model,
                ok,
                error,
                latency,
                ttft,
                usage,
                attempt_no,
            )
            if ok and outcome is not None:
                outcome.endpoint = pos.name
                outcome.result = ChatResult(
                    id=rid,
                    provider=pos.spec.kind.value,
                    model=(final.model if final and final.model else upstream_model),
                    content=content,
                    endpoint=pos.name,
                    finish_reason=final.finish_reason if final else "stop",
                    usage=usage,
                    session_id=session_id,
                    session_persistent=bool(session_id),
                    latency_ms=latency,
                    ttft_ms=ttft,
                    metadata=(final.metadata or {}) if final else {},
                    tool_calls=tool_calls,
                )
            if ok or error is not None:  # a caller who went away says nothing of it
                self.verdicts.judge(pos, error)


class _Silence:
    """The per-chunk timeout of an attempt, cheaply: one timer for the whole attempt
    instead of an ``asyncio.timeout`` (a timer scheduled and cancelled) per chunk.

    Between ``resume()`` (awaiting the upstream) and ``pause()`` (a chunk came) the
    clock runs; the timer, when it fires, looks at how long the current wait has lasted
    and either cancels the task (``expired()`` then says so) or sleeps until the wait
    could reach ``timeout``. While paused (the consumer holds a chunk) nothing expires.
    """

    __slots__ = ("_cancelling", "_fired", "_handle", "_loop", "_since", "_task", "_timeout")

    def __init__(self, timeout: float) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task(self._loop)
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._timeout = timeout
        self._fired = False
        self._since: float | None = None
        self._handle = self._loop.call_at(self._loop.time() + timeout, self._check)

    def resume(self) -> None:
        """The attempt waits for the upstream again (in the task now iterating it)."""
        task = asyncio.current_task(self._loop)
        if task is not self._task and task is not None:
            self._task = task
            self._cancelling = task.cancelling()
        self._since = self._loop.time()

    def pause(self) -> None:
        """A chunk came: the clock stops while the consumer has it."""
        self._since = None

    def _check(self) -> None:
        now = self._loop.time()
        since = self._since
        if since is not None and now - since >= self._timeout:
            self._fired = True
            self._task.cancel()
        else:
            base = now if since is None else since
            self._handle = self._loop.call_at(base + self._timeout, self._check)

    def expired(self) -> bool:
        """After a ``CancelledError``: whether it was this timeout (and only it) that
        cancelled the task; if so the cancellation is withdrawn."""
        return self._fired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        self._handle.cancel()
