"""What a user meets on one framework fixture, measured: the harness behind
``bench/discovery.py`` and ``tests/discovery/test_frameworks.py`` (issue 12).

``evaluate(name, home)`` starts the fixture (``frameworks.running``) and, like a user:

1. runs a bare ``desk add URL --json`` as a real CLI process with its own ``DESK_HOME``
   (configured or not, the error's first line, wall time);
2. starts a second instance of the same framework on another port and adds it to the
   same ``DESK_HOME`` (the learned pattern warm);
3. runs ``desk test NAME MSG --json`` in fresh processes (cold start: wall time minus
   the page's own reply time, which the fixture reports);
4. in this process, through the engine (``Desk.chat``, as ``desk serve`` would): a
   first message, a follow-up carrying the conversation so far, and a new single
   message; each is judged against what the page itself answered (its reply text and
   the turn of its conversation).

Every step that noticed the end of a reply more than ``LATE`` seconds after the page had
finished it is listed in ``Outcome.late`` (a time limit or a quiet window did the job).
Nothing here raises for a fixture that misbehaves: the outcome says what happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.thirdparty.frameworks import (
    BY_NAME,
    ROOT,
    Instance,
    Missing,
    Reply,
    StartFailed,
    holds,
    only,
    plain,
    running,
)

LATE = 2.0
"""Seconds after the page finished beyond which the desk's finish counts as late."""

ADD_TIMEOUT = 300.0
TEST_TIMEOUT = 120.0


@dataclass
class Check:
    """One yes/no finding; ``ok`` is ``None`` when the step could not run."""

    ok: bool | None = None
    detail: str = "not run"

    @property
    def mark(self) -> str:
        return {True: "yes", False: "NO", None: "-"}[self.ok]


@dataclass
class Outcome:
    """Everything ``evaluate`` saw on one fixture."""

    name: str
    title: str
    skipped: str | None = None
    start_s: float | None = None
    configured: Check = field(default_factory=Check)
    first_s: float | None = None
    warm: Check = field(default_factory=Check)
    warm_s: float | None = None
    reply: Check = field(default_factory=Check)
    only_answer: Check = field(default_factory=Check)
    follow_up: Check = field(default_factory=Check)
    new_conversation: Check = field(default_factory=Check)
    markdown: Check = field(default_factory=Check)
    cold_overheads: list[float] = field(default_factory=list)
    cold_runs: list[dict[str, float]] = field(default_factory=list)  # see _cold_tests
    late: list[str] = field(default_factory=list)
    early: list[str] = field(default_factory=list)  # returned before the page finished
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # discovery's own, ms
    warm_timings: dict[str, float] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cold_overhead(self) -> float | None:
        """Median cold ``desk test`` wall time minus the page's own reply time."""
        return statistics.median(self.cold_overheads) if self.cold_overheads else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {**asdict(self), "cold_overhead": self.cold_overhead}


# ---------------------------------------------------------------------- the desk CLI


@dataclass
class CliRun:
    rc: int | None  # None: killed at its time limit
    out: str
    err: str
    wall: float
    launched: float = 0.0  # time.time() just before the process was started

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.out)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def error_line(self) -> str:
        """The first line of the error a user sees."""
        if self.rc is None:
            return f"killed after {self.wall:.0f} s (no answer)"
        for line in self.err.splitlines():
            if line.startswith("error:"):
                return line.removeprefix("error:").strip()
        lines = [x for x in self.err.splitlines() if x.strip()]
        return lines[-1].strip() if lines else f"exit status {self.rc}"


def desk_cli(args: list[str], home: Path, timeout: float) -> CliRun:
    """``desk ARGS`` as a fresh process with ``DESK_HOME=home`` (this checkout's code)."""
    env = {**os.environ, "DESK_HOME": str(home), "NO_COLOR": "1", "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    launched, t0 = time.time(), time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "endpoint_desk", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=home,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return CliRun(None, out, err, time.perf_counter() - t0, launched)
    return CliRun(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0, launched)


# ---------------------------------------------------------------------- evaluation


def evaluate(name: str, home: Path, *, cold_runs: int = 3, warm: bool = True) -> Outcome:
    """Run the whole user path on fixture ``name`` with a fresh ``home``."""
    fw = BY_NAME[name]
    result = Outcome(name, fw.title)
    home.mkdir(parents=True, exist_ok=True)
    try:
        with running(name) as app:
            result.start_s = round(app.started_in, 1)
            if _add(result, app, home, name, first=True) and warm:
                with running(name) as second:
                    _add(result, second, home, f"{name}-2", first=False)
            if result.configured.ok:
                _cold_tests(result, app, home, name, cold_runs)
                asyncio.run(_converse(result, app, home, name))
    except Missing as exc:
        result.skipped = str(exc)
    except StartFailed as exc:
        result.configured = Check(False, f"the fixture did not start: {exc}")
    return result


def _add(result: Outcome, app: Instance, home: Path, name: str, *, first: bool) -> bool:
    run = desk_cli(["add", app.url, "--name", name, "--json"], home, ADD_TIMEOUT)
    data = run.json()
    found = data.get("discovery") or {}
    ok = run.rc == 0 and bool(data)
    if first:
        result.first_s = round(run.wall, 1)
        result.steps = list(found.get("steps") or [])
        result.options = dict((found.get("spec") or {}).get("options") or {})
        result.timings = dict(found.get("timings") or {})
        result.configured = Check(ok, "configured" if ok else run.error_line())
        if run.rc is None:
            result.late.append(f"desk add killed at its {ADD_TIMEOUT:g} s limit")
        result.late += _late_in_discovery(result.steps, app)
    else:
        result.warm_s = round(run.wall, 1)
        result.warm_timings = dict(found.get("timings") or {})
        how = "from the learned pattern" if found.get("from_pattern") else "by a full analysis"
        result.warm = Check(
            ok and bool(found.get("from_pattern")),
            f"configured {how}" if ok else run.error_line(),
        )
    return ok


_COMPLETE = re.compile(r"complete after (\d+) ms")
_VERIFY = re.compile(r" in (\d+) ms \(ready to send (\d+) ms")


def _late_in_discovery(steps: list[dict[str, Any]], app: Instance) -> list[str]:
    """Discovery's reply and verify steps against the page's own times for its canaries."""
    canaries = [r for r in app.replies() if "(check k" in r.prompt and r.seconds is not None]
    out: list[str] = []
    for step in steps:
        detail = str(step.get("detail", ""))
        m = _COMPLETE.search(detail) if step.get("name") == "reply" else None
        v = _VERIFY.search(detail) if step.get("name") == "verify" else None
        if m and canaries:
            lag = int(m.group(1)) / 1000 - (canaries[0].seconds or 0.0)
            if lag > LATE:
                out.append(f"discovery's canary reply ended {lag:.1f} s after the page's")
        if v and len(canaries) >= 2:
            lag = (int(v.group(1)) - int(v.group(2))) / 1000 - (canaries[1].seconds or 0.0)
            if lag > LATE:
                out.append(f"discovery's verify canary ended {lag:.1f} s after the page's")
    return out


def _cold_tests(result: Outcome, app: Instance, home: Path, name: str, runs: int) -> None:
    """``desk test`` in fresh processes; each run's wall time split at the desk's request
    start and end (its ``attempts``) and the page's own receipt and finish."""
    for i in range(runs):
        msg = f"cold start {i + 1} {secrets.token_hex(3)}"
        run = desk_cli(["test", name, msg, "--json"], home, TEST_TIMEOUT)
        page = app.reply_to(msg)
        if run.rc is None:
            result.late.append(f"desk test killed at its {TEST_TIMEOUT:g} s limit")
        if run.rc == 0 and page is not None and page.finished is None:
            content = str((run.json().get("response") or {}).get("content", ""))
            result.early.append(
                f"cold desk test returned {content[:80]!r} before the page finished its reply"
            )
        if run.rc != 0 or page is None or page.seconds is None or page.finished is None:
            continue
        data = run.json()
        result.cold_overheads.append(round(run.wall - page.seconds, 2))
        attempts = data.get("attempts") or [{}]
        started = float(attempts[-1].get("started") or page.received)
        done = started + float(attempts[-1].get("elapsed_ms") or 0) / 1000
        # where the wall time went, in order (seconds)
        result.cold_runs.append(
            {
                "wall": round(run.wall, 2),
                "start-up": round(started - run.launched, 2),
                "open, load, send": round(page.received - started, 2),
                "page": round(page.seconds, 2),
                "end noticed": round(done - page.finished, 2),
                "exit": round(run.launched + run.wall - done, 2),
            }
        )
        lag = _lag(data, page.finished)
        if lag is not None and lag > LATE:
            result.late.append(f"cold desk test ended {lag:.1f} s after the page's reply")


def _lag(result: dict[str, Any], page_finished: float) -> float | None:
    """Seconds between the page finishing its reply and the desk finishing the request."""
    attempts = result.get("attempts") or []
    if not attempts:
        return None
    last = attempts[-1]
    return float(last["started"]) + float(last["elapsed_ms"]) / 1000 - page_finished


async def _converse(result: Outcome, app: Instance, home: Path, name: str) -> None:
    """First message, follow-up, new conversation: through the engine in this process."""
    from endpoint_desk.adapters.base import close_shared_resources
    from endpoint_desk.core.config import load_settings
    from endpoint_desk.core.models import ChatMessage, ChatRequest
    from endpoint_desk.engine.desk import Desk

    tag = secrets.token_hex(3)
    u1, u2 = f"hello desk {tag}", f"and a follow-up {tag}"
    u3 = f"a fresh start {tag}, in markdown please"  # fixturebot answers in markdown
    saved = os.environ.get("DESK_HOME")
    os.environ["DESK_HOME"] = str(home)
    try:
        async with Desk(load_settings(), autostart=False) as desk:

            async def ask(messages: list[ChatMessage], label: str) -> tuple[str, str]:
                """(content, "") or ("", the error's first line)."""
                try:
                    res = await desk.chat(ChatRequest(messages=messages), endpoint=name)
                except Exception as exc:
                    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    if "within" in first:
                        result.late.append(f"{label}: {first}")
                    return "", f"{type(exc).__name__}: {first}"
                page = await _page_done(app, messages[-1].text)
                lag = _lag(res.to_dict(), page.finished) if page and page.finished else None
                if lag is not None and lag > LATE:
                    result.late.append(f"{label} ended {lag:.1f} s after the page's reply")
                return res.content, ""

            c1, e1 = await ask([ChatMessage("user", u1)], "first message")
            result.reply, result.only_answer = _judge_first(c1, e1, app.reply_to(u1))
            if e1:
                return
            history = [ChatMessage("user", u1), ChatMessage("assistant", c1)]
            c2, e2 = await ask([*history, ChatMessage("user", u2)], "follow-up")
            result.follow_up = _judge_turn(c2, e2, app.reply_to(u2), app.reply_to(u1))
            c3, e3 = await ask([ChatMessage("user", u3)], "new conversation")
            result.new_conversation = _judge_turn(c3, e3, app.reply_to(u3), None)
            result.markdown = _judge_structure(c3, e3, app.reply_to(u3))
    finally:
        await close_shared_resources()
        if saved is None:
            os.environ.pop("DESK_HOME", None)
        else:
            os.environ["DESK_HOME"] = saved


async def _page_done(app: Instance, prompt: str, timeout: float = 5.0) -> Reply | None:
    """The page's reply to ``prompt`` once the page has finished it (or ``timeout``
    passed: a reply left unfinished, because the desk moved on, stays unfinished)."""
    deadline = time.monotonic() + timeout
    while True:
        page = app.reply_to(prompt)
        if (page is not None and page.finished is not None) or time.monotonic() >= deadline:
            return page
        await asyncio.sleep(0.05)


def _judge_first(content: str, error: str, page: Reply | None) -> tuple[Check, Check]:
    """Is the first reply right, and is it only the answer?"""
    if error:
        return Check(False, error), Check(None, "no content")
    if page is None:
        return Check(False, "the page never received the message"), Check(None, "no reply")
    if page.finished is None:
        cut = _cut_short(content, page)
        return Check(False, cut), Check(None, "the page had not finished")
    got = f"content {content[:120]!r}, the page said {page.reply[:120]!r}"
    whole = holds(content, page.reply)
    if whole:
        extra = plain(content).replace(plain(page.reply), "").strip()
        beyond = f"; extra {extra!r}" if extra else ""
    else:
        beyond = "; part of the reply is missing"
    return Check(whole, got), Check(only(content, page.reply), got + beyond)


def _judge_turn(content: str, error: str, page: Reply | None, before: Reply | None) -> Check:
    """A follow-up (``before``: the reply it follows) must be the next turn of the same
    conversation; a new conversation (``before`` None) must be turn 1."""
    if error:
        return Check(False, error)
    if page is None:
        return Check(False, "the page never received the message")
    if page.finished is None:
        return Check(False, _cut_short(content, page))
    want = before.turn + 1 if before is not None else 1
    where = f"the page answered as turn {page.turn} (wanted {want})"
    if page.turn != want:
        if before is not None and page.turn == 1:
            where += ": the desk started a new conversation and sent the history flattened"
        elif before is None:
            where += ": the desk continued the old conversation"
        return Check(False, where)
    if not holds(content, page.reply):
        return Check(False, f"{where}, but the content {content[:120]!r} misses its reply")
    return Check(True, where)


def _cut_short(content: str, page: Reply) -> str:
    """The desk returned while the page was still answering (or cut it off)."""
    what = f" (the page meant to say {page.reply[:100]!r})" if page.reply else ""
    return f"the desk returned {content[:100]!r} while the page was still answering{what}"


def _judge_structure(content: str, error: str, page: Reply | None) -> Check:
    """A markdown reply keeps its structure as text: each paragraph, list item and code
    line of the page's reply is a line of its own in the content."""
    if error or page is None or page.finished is None:
        return Check(None, "no finished reply to judge")
    lines = [plain(x) for x in page.reply.splitlines() if plain(x)]
    if len(lines) < 2:
        return Check(None, "the page's reply has no markdown structure")
    have = {plain(x) for x in content.splitlines()}
    lost = [x for x in lines if x not in have]
    if lost:
        return Check(False, f"not a line of their own: {lost[:3]!r} in content {content[:160]!r}")
    return Check(True, f"{len(lines)} blocks kept as lines")
