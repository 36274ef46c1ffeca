"""The framework fixtures of issue 12, started on 127.0.0.1 for ``bench/discovery.py``
and ``tests/discovery/test_frameworks.py``.

Third-party chat UIs from PyPI, each from its own venv under ``.venvs/``
(``scripts/thirdparty.sh``): Gradio, Streamlit, Panel, Mesop, NiceGUI and Chainlit; and
our own fixture pages (``endpoint_desk.sim.chatpages``) in the styles of a React/MUI and
a Vue/Quasar app plus the hard cases (``stopgen``, ``chrome``, ``pause``, ``widgets``,
``angular``). Every fixture reports the replies it served (``Instance.replies()``: the
prompt, the reply, the conversation's turn, when the prompt arrived and when the reply
was finished), so a caller can check a reply against what the page really said, tell a
continued conversation from a new one, and subtract the page's own reply time.

    with running("panel") as app:      # raises Missing when .venvs/panel is absent
        app.url, app.replies()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / ".venvs"
HERE = Path(__file__).resolve().parent

# start fast, offline and quiet: no analytics, telemetry or CDN
_QUIET_ENV = {
    "GRADIO_ANALYTICS_ENABLED": "False",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "BOKEH_RESOURCES": "server",
    "DO_NOT_TRACK": "1",
    "HF_HUB_OFFLINE": "1",
    "PYTHONUNBUFFERED": "1",
}


class Missing(Exception):
    """The fixture cannot run here (its venv is not installed); the text says why."""


class StartFailed(Exception):
    """The fixture's process did not get ready."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply a fixture served (wall clock, ``time.time()``); ``finished`` is ``None``
    while it is still being written, or when the browser went away before its end."""

    prompt: str
    reply: str
    turn: int
    received: float
    finished: float | None

    @property
    def seconds(self) -> float | None:
        """The page's own reply time: prompt received to last word sent."""
        return None if self.finished is None else self.finished - self.received


@dataclass(frozen=True, slots=True)
class Framework:
    """A fixture: ``venv`` names a third-party app's venv; ``style`` one of our pages."""

    name: str
    title: str
    venv: str | None = None
    style: str | None = None
    startup: float = 120.0


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("gradio", "Gradio ChatInterface", venv="gradio"),
    Framework("streamlit", "Streamlit chat", venv="streamlit"),
    Framework("panel", "Panel ChatInterface", venv="panel"),
    Framework("mesop", "Mesop labs chat", venv="mesop"),
    Framework("nicegui", "NiceGUI chat", venv="nicegui"),
    Framework("chainlit", "Chainlit", venv="chainlit"),
    Framework("mui", "React/MUI page", style="mui"),
    Framework("quasar", "Vue/Quasar page", style="quasar"),
    Framework("stopgen", "stop-generating page", style="stopgen"),
    Framework("chrome", "label+chrome page", style="chrome"),
    Framework("pause", "1.6 s pause page", style="pause"),
    Framework("widgets", "nested shadow page", style="widgets"),
    Framework("angular", "Angular-like page", style="angular"),
)
BY_NAME = {f.name: f for f in FRAMEWORKS}


def missing(name: str) -> str | None:
    """Why fixture ``name`` cannot run here, or ``None`` when it can."""
    fw = BY_NAME[name]
    if fw.venv and not (VENVS / fw.venv / "bin" / "python").exists():
        return f".venvs/{fw.venv} is missing: run scripts/thirdparty.sh"
    return None


@dataclass
class Instance:
    """A running fixture: its chat page's URL and the replies it served so far."""

    name: str
    url: str
    started_in: float
    _replies: Callable[[], list[Reply]] = field(repr=False)

    def replies(self) -> list[Reply]:
        """Every reply served so far, oldest first."""
        return self._replies()

    def reply_to(self, needle: str) -> Reply | None:
        """The latest reply to a prompt containing ``needle``."""
        for r in reversed(self.replies()):
            if needle in r.prompt:
                return r
        return None


@contextlib.contextmanager
def running(name: str) -> Iterator[Instance]:
    """Start fixture ``name`` on a free port of 127.0.0.1 until the block ends.

    Raises:
        Missing: its venv is not installed.
        StartFailed: it did not serve within its start-up limit.
    """
    why = missing(name)
    if why:
        raise Missing(why)
    fw = BY_NAME[name]
    if fw.style:
        with _pages(fw) as inst:
            yield inst
    else:
        with _app(fw) as inst:
            yield inst


# ---------------------------------------------------------------------- our pages


@contextlib.contextmanager
def _pages(fw: Framework) -> Iterator[Instance]:
    """A ``ChatPagesServer`` on its own loop in a thread (sync callers may block)."""
    from endpoint_desk.sim.chatpages import ChatPagesServer

    t0 = time.perf_counter()
    server = ChatPagesServer(username=None, password=None)
    ready = threading.Event()
    box: dict[str, Any] = {}

    def main() -> None:
        loop = asyncio.new_event_loop()
        box["loop"] = loop
        loop.run_until_complete(server.start())
        stop = asyncio.Event()
        box["stop"] = stop
        ready.set()
        loop.run_until_complete(stop.wait())
        loop.run_until_complete(server.close())
        loop.close()

    thread = threading.Thread(target=main, daemon=True, name=f"fixture-{fw.name}")
    thread.start()
    if not ready.wait(10):
        raise StartFailed(f"{fw.name}: the fixture pages did not start")
    assert fw.style is not None

    def replies() -> list[Reply]:
        offset = time.time() - time.perf_counter()  # both clocks, same machine
        return [
            Reply(
                r.prompt,
                r.reply,
                r.turn,
                r.started + offset,
                None if r.ended is None else r.ended + offset,
            )
            for r in list(server.replies)
        ]

    try:
        yield Instance(fw.name, server.url_for(fw.style), time.perf_counter() - t0, replies)
    finally:
        box["loop"].call_soon_threadsafe(box["stop"].set)
        thread.join(10)


# ---------------------------------------------------------------------- third-party apps


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_ok(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _command(fw: Framework, port: int, scratch: Path) -> tuple[list[str], str | None]:
    """The command line and, for apps that print no READY line, the URL to poll."""
    venv = VENVS / str(fw.venv)
    python = str(venv / "bin" / "python")
    if fw.name == "streamlit":
        cmd = [
            str(venv / "bin" / "streamlit"), "run", str(HERE / "streamlit_app.py"),
            "--server.address", "127.0.0.1", "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
        ]  # fmt: skip
        return cmd, f"http://127.0.0.1:{port}/_stcore/health"
    if fw.name == "chainlit":
        cmd = [
            str(venv / "bin" / "chainlit"), "run", str(HERE / "chainlit_app.py"),
            "--headless", "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        return cmd, f"http://127.0.0.1:{port}/"
    return [python, str(HERE / f"{fw.name}_app.py"), str(port)], None


@contextlib.contextmanager
def _app(fw: Framework) -> Iterator[Instance]:
    """A third-party app in its own process group, with a scratch folder as its working
    folder (Chainlit and others write there) and ``DESK_FIXTURE_LOG`` in it. A start that
    fails (another process took the free port first) is tried once more."""
    with tempfile.TemporaryDirectory(prefix=f"desk-fixture-{fw.name}-") as tmp:
        scratch = Path(tmp)
        log = scratch / "replies.jsonl"
        env = {
            # not PYTEST_CURRENT_TEST: NiceGUI takes it for its own screen tests
            **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
            **_QUIET_ENV,
            "DESK_FIXTURE_LOG": str(log),
            "CHAINLIT_APP_ROOT": str(scratch),
            "PYTHONPATH": str(HERE),
        }
        t0 = time.perf_counter()
        for attempt in (1, 2):
            port = _free_port()
            cmd, health = _command(fw, port, scratch)
            errors = scratch / f"stderr-{attempt}.txt"
            with open(errors, "w") as stderr:
                proc = subprocess.Popen(
                    cmd,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    text=True,
                    env=env,
                    cwd=scratch,
                    start_new_session=True,
                )
            try:
                url = _wait_ready(fw, proc, health, port)
            except StartFailed as exc:
                _stop(proc)
                tail = " | ".join(errors.read_text("utf-8", "replace").splitlines()[-3:])
                if attempt == 2:
                    raise StartFailed(f"{exc}; its last words: {tail or '(none)'}") from None
                continue
            break
        try:
            yield Instance(fw.name, url, time.perf_counter() - t0, lambda: _read_log(log))
        finally:
            _stop(proc)


def _read_log(log: Path) -> list[Reply]:
    """The replies in a ``fixturebot`` log: a "received" line, later a "finished" one."""
    if not log.exists():
        return []
    entries: dict[str, dict[str, Any]] = {}
    for line in log.read_text("utf-8").splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            d = json.loads(line)
            entries.setdefault(d["id"], {}).update(d)
    return [
        Reply(e["prompt"], e.get("reply", ""), e["turn"], e["received"], e.get("finished"))
        for e in entries.values()
        if "received" in e
    ]


def _wait_ready(fw: Framework, proc: subprocess.Popen[str], health: str | None, port: int) -> str:
    deadline = time.monotonic() + fw.startup
    url = f"http://127.0.0.1:{port}/"
    if health is None:
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise StartFailed(f"{fw.name} exited before it was ready")
            if line.startswith("READY "):
                url = line.split()[1]
                break
        else:
            raise StartFailed(f"{fw.name} did not print READY within {fw.startup:g} s")
        # READY comes when the server is bound; it answers a moment later
        health = url
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StartFailed(f"{fw.name} exited before it was ready")
        if _http_ok(health):
            return url
        time.sleep(0.1)
    raise StartFailed(f"{fw.name} did not answer {health} within {fw.startup:g} s")


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# ---------------------------------------------------------------------- judging replies

_MARKUP = (
    (re.compile(r"^```.*$", re.M), " "),  # code fences
    (re.compile(r"^\s*(?:[-*+]|\d+\.)\s+", re.M), " "),  # list markers
    (re.compile(r"\*\*|__|[*`]"), ""),  # emphasis and inline code
)


def plain(text: str) -> str:
    """``text`` without markdown syntax and with its whitespace squashed: the words a
    reader sees, so a page's rendered reply compares equal to its markdown source."""
    for pattern, repl in _MARKUP:
        text = pattern.sub(repl, text)
    return " ".join(text.split())


def holds(content: str, reply: str) -> bool:
    """The desk's ``content`` holds the page's whole reply (perhaps with more)."""
    return plain(reply) in plain(content)


def only(content: str, reply: str) -> bool:
    """The desk's ``content`` is the page's reply and nothing else."""
    return plain(content) == plain(reply)
