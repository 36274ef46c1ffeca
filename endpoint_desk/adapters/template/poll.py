"""Submit-then-poll: after the submit answer, ask the status URL until the job is done.

The job id is read from the submit answer (``poll.id``) and inserted as ``{{id}}`` into
the poll templates. A status in ``poll.done`` ends the wait with that answer, one in
``poll.failed`` raises ``UpstreamError`` (with the ``poll.error`` text), and past
``poll.timeout`` the wait raises ``UpstreamTimeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from endpoint_desk.adapters.template.config import PollConfig, status_key
from endpoint_desk.adapters.template.paths import PathError, get_path, read_path
from endpoint_desk.adapters.template.render import as_text
from endpoint_desk.core.errors import ProtocolError, UpstreamError, UpstreamTimeout

__all__ = ["Exchange", "wait_for_job"]

Exchange = Callable[[str, str, Any, Mapping[str, Any], str | None], Awaitable[Any]]
"""One HTTP exchange: ``(method, url template, body template, values, model)`` -> the
parsed answer."""


async def wait_for_job(
    poll: PollConfig, doc: Any, values: dict[str, Any], *, endpoint: str, exchange: Exchange
) -> Any:
    """Poll until the job is done; returns the final answer."""
    name = endpoint
    job_id = read_path(doc, poll.id, "job id", endpoint=name)
    if not isinstance(job_id, str | int) or isinstance(job_id, bool) or job_id == "":
        raise ProtocolError(f"{name}: the job id at {poll.id!r} is {job_id!r}", endpoint=name)
    values = {**values, "id": str(job_id)}
    started = time.monotonic()
    deadline = started + poll.timeout
    first = True
    while True:
        try:
            status = get_path(doc, poll.status)
        except PathError as exc:
            if not first:
                raise ProtocolError(
                    f"{name}: cannot read the job status at {poll.status!r}: {exc}",
                    endpoint=name,
                ) from None
            status = None  # a submit answer may carry only the id
        first = False
        state = status_key(status) if status is not None else ""
        if state in poll.done:
            return doc
        if state in poll.failed:
            detail = ""
            if poll.error:
                try:
                    detail = as_text(get_path(doc, poll.error))
                except PathError:
                    detail = ""
            raise UpstreamError(
                f"{name}: job {job_id} failed (status {status!r})"
                + (f": {detail[:300]}" if detail else ""),
                endpoint=name,
            )
        now = time.monotonic()
        if now >= deadline:
            raise UpstreamTimeout(
                f"{name}: job {job_id} was not done after {poll.timeout:g} s "
                f"(last status {status!r})",
                endpoint=name,
            )
        await asyncio.sleep(min(poll.interval, deadline - now))
        doc = await exchange(poll.method, poll.url, poll.body, values, None)
