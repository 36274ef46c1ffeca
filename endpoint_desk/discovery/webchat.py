"""Configure a web chat page by itself, from evidence on the page.

``configure_web_chat(url)`` loads the page in the desk's one Chromium, works out the
whole ``web_chat`` configuration (the keys of
:class:`endpoint_desk.adapters.webchat.options.WebChatOptions`) and proves it:

1. Load the page (with the endpoint's saved session, if any); a login wall is filled
   with stored credentials when given, else reported as ``LoginRequired`` (offering
   ``desk login NAME``).
2. Rank message-input candidates across frames and open shadow roots (textarea,
   contenteditable, ``role=textbox``; visible, enabled, near the bottom, labelled
   "message"/"ask"/...; not search or login fields).
3. Type into the best one and find the send control by what changed (a button that
   appeared or became enabled), by its name and its position; fall back to Enter.
4. Send a canary question whose answer does not appear in the prompt, record DOM
   mutations while the page answers and derive the assistant-message selector
   (roles, data attributes and test ids before classes; hashed classes never), the
   text part, the busy signal and the longest pause. An echo bot's reply (the prompt
   repeated) still locates the assistant message: it is the *later* of the two
   elements holding the prompt.
5. Find the new-conversation control, use it, and verify the whole configuration
   with a second canary read through the adapter's own in-page script
   (``__deskChat.arm``/``take``).

A verified configuration is kept in the pattern library (``patterns.py``); the next
page with the same fingerprint tries the best patterns first and skips the analysis
when one passes its canary. When the heuristics are unsure, an ``assist`` callable
(one of the user's own endpoints, passed in by the engine) may choose among numbered
candidates; its choice is kept only when the canary confirms it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import random
import re
import secrets as pysecrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from endpoint_desk.core.errors import (
    BrowserError,
    ConfigError,
    DeskError,
    LoginRequired,
    Unreachable,
)
from endpoint_desk.core.models import BrowserConfig, EndpointKind, EndpointSpec, Limits, slugify

log = logging.getLogger(__name__)

__all__ = [
    "AssistFn",
    "ProgressFn",
    "Step",
    "WebChatDiscovery",
    "configure_web_chat",
    "discovery_script",
]

_UNREACHABLE = (
    "ERR_CONNECTION_REFUSED",
    "ERR_NAME_NOT_RESOLVED",
    "ERR_CONNECTION_RESET",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_INTERNET_DISCONNECTED",
)

ProgressFn = Callable[["Step"], Any]
"""Called with every step as it finishes (may be a coroutine function)."""

from endpoint_desk.discovery.assist import AssistFn  # noqa: E402 - re-exported


@dataclass(slots=True)
class Step:
    """One step of discovery, as shown to the user."""

    name: str
    ok: bool
    detail: str
    ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "ms": round(self.ms, 1)}


@dataclass(slots=True)
class WebChatDiscovery:
    """What discovery found: the spec ready to save, the evidence and how sure it is.

    Attributes:
        spec: a ``web_chat`` ``EndpointSpec`` with ``options`` filled in.
        confidence: 0..1, from the evidence (see ``evidence``).
        evidence: one line per finding, for the user.
        steps: every step with its outcome and duration.
        timings: milliseconds per phase and ``total``.
        fingerprint: the page's fingerprint (framework markers, DOM shape).
        pattern_id: the pattern-library entry used or learned (``None`` without a store).
        from_pattern: the configuration came from the pattern library (no analysis).
        assisted: an endpoint of the user's portfolio helped choose.
    """

    spec: EndpointSpec
    confidence: float
    evidence: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    pattern_id: int | None = None
    from_pattern: bool = False
    assisted: bool = False

    @property
    def options(self) -> dict[str, Any]:
        """The web chat selector configuration (``spec.options``)."""
        return self.spec.options

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no secret: credentials appear only as references)."""
        return {
            "spec": self.spec.model_dump(mode="json"),
            "confidence": round(self.confidence, 3),
            "evidence": list(self.evidence),
            "steps": [s.to_dict() for s in self.steps],
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "fingerprint": self.fingerprint,
            "pattern_id": self.pattern_id,
            "from_pattern": self.from_pattern,
            "assisted": self.assisted,
        }


def discovery_script() -> str:
    """The in-page discovery script's source (``window.__deskDiscover``)."""
    return resources.files("endpoint_desk.discovery").joinpath("webchat.js").read_text("utf-8")


# ---------------------------------------------------------------------------- canaries


@dataclass(slots=True)
class Canary:
    """A question whose answer does not appear in it, tagged with a unique nonce."""

    prompt: str
    answer: str
    nonce: str

    @classmethod
    def make(cls, rng: random.Random | None = None) -> Canary:
        """A fresh canary (``What is 17 + 25? ...`` -> ``42``)."""
        rng = rng or random.Random(pysecrets.randbits(32))
        while True:
            a, b = rng.randint(12, 89), rng.randint(12, 89)
            nonce = f"k{pysecrets.token_hex(3)}"
            prompt = f"What is {a} + {b}? Reply with just the number. (check {nonce})"
            answer = str(a + b)
            if answer not in prompt:
                return cls(prompt, answer, nonce)

    def answered(self, text: str) -> bool:
        """The reply holds the answer (a model) or repeats the prompt (an echo bot)."""
        return _has_number(text, self.answer) or self.nonce in text


def _has_number(text: str, number: str) -> bool:
    return re.search(rf"(?<!\d){re.escape(number)}(?!\d)", text) is not None


# ---------------------------------------------------------------------------- helpers


class _Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


async def _wait_for(
    predicate: Callable[[], Awaitable[Any]], timeout: float, interval: float = 0.1
) -> Any:
    """Poll ``predicate`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return value
        await asyncio.sleep(interval)


def _default_resolver(ref: str) -> str:
    import os

    kind, _, name = ref.partition(":")
    if kind == "env" and os.environ.get(name):
        return os.environ[name]
    raise ConfigError(f"cannot resolve the secret reference {ref!r} here")


def _name_from(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "chat").lower()
    if host in ("127.0.0.1", "localhost", "::1"):
        path = slugify(parts.path) or "chat"
        return slugify(f"local-{parts.port or 80}-{path}")
    labels = [x for x in host.split(".") if x not in ("www", "chat", "com", "ai", "io", "app")]
    return slugify((labels[0] if labels else host) + "-web")


class _Analysis:
    """State of one discovery run on one page."""

    def __init__(self, page: Any, progress: ProgressFn | None) -> None:
        self.page = page
        self.frame: Any = page.main_frame
        self.progress = progress
        self.steps: list[Step] = []
        self.evidence: list[str] = []
        self.timings: dict[str, float] = {}
        self.score: dict[str, float] = {}
        self.forbidden: list[str] = []
        self.moved_to: str | None = None

    async def step(self, name: str, ok: bool, detail: str, ms: float = 0.0) -> None:
        s = Step(name, ok, detail, ms)
        self.steps.append(s)
        if self.progress is not None:
            res = self.progress(s)
            if inspect.isawaitable(res):
                await res

    async def js(self, expr: str, arg: Any = None) -> Any:
        """Call ``__deskDiscover.<expr>`` in the chat's frame."""
        return await self.frame.evaluate(f"(arg) => window.__deskDiscover.{expr}", arg)

    async def chat_js(self, expr: str, arg: Any = None) -> Any:
        return await self.frame.evaluate(f"(arg) => window.__deskChat.{expr}", arg)

    def loc(self, selector: str) -> Any:
        return self.frame.locator(selector)


# ---------------------------------------------------------------------------- entry


async def configure_web_chat(
    url: str,
    *,
    name: str | None = None,
    description: str | None = None,
    progress: ProgressFn | None = None,
    store: Any = None,
    assist: AssistFn | None = None,
    browser_config: BrowserConfig | None = None,
    username: str | None = None,
    password: str | None = None,
    resolve_secret: Callable[[str], str] | None = None,
    login_url: str | None = None,
    reply_timeout: float = 60.0,
    load_timeout: float = 30.0,
    use_patterns: bool = True,
) -> WebChatDiscovery:
    """Work out and verify the ``web_chat`` configuration of the chat page at ``url``.

    Args:
        url: the chat page.
        name: endpoint name (default: from the URL).
        description: kept as the endpoint's note.
        progress: called with each :class:`Step` as it finishes.
        store: the desk's ``Store`` (pattern library); ``None``: no learning.
        assist: asks one of the user's ON endpoints to choose among candidates when
            the heuristics are unsure (see ``assist.py``); ``None``: heuristics only.
        browser_config: how to set up the browser (headless, viewport, proxy...).
        username, password: secret *references* of stored credentials for a login wall.
        resolve_secret: resolves those references (default: ``env:`` only).
        login_url: the login page, when it is not where the chat redirects.
        reply_timeout: seconds to wait for one canary reply.
        load_timeout: seconds to wait for the page to show an input.
        use_patterns: try the pattern library before analysing.

    Returns:
        A :class:`WebChatDiscovery` whose ``spec`` is ready for ``Desk.add``.

    Raises:
        LoginRequired: the page shows a login wall and no credentials were given
            (or they did not get past it).
        DeskError: the page could not be configured (the message says which step).
    """
    from endpoint_desk.adapters.webchat import browser as wbrowser
    from endpoint_desk.adapters.webchat import page_script
    from endpoint_desk.discovery.patterns import PatternLibrary, pattern_config

    url = url.strip()
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    ep_name = slugify(name) if name else _name_from(url)
    if not ep_name:
        raise ConfigError("the endpoint name must contain a letter or a digit")
    total = _Timer()
    bconf = browser_config or BrowserConfig()
    resolve = resolve_secret or _default_resolver
    library = PatternLibrary(store) if store is not None and use_patterns else None

    t = _Timer()
    browser = await wbrowser.shared_browser(bconf)
    state = wbrowser.read_session(ep_name)
    context = await wbrowser.new_context(browser, bconf, storage_state=state)
    await context.add_init_script(script=page_script())
    await context.add_init_script(script=discovery_script())
    page = await context.new_page()
    an = _Analysis(page, progress)
    an.timings["browser"] = t.ms
    t = _Timer()
    try:
        try:
            await page.goto(url, wait_until="domcontentloaded", timeout=load_timeout * 1000)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if any(m in first for m in _UNREACHABLE):
                raise Unreachable(f"cannot load {url}: {first}") from exc
            raise BrowserError(f"cannot load {url}: {first}") from exc
        ready = await _wait_ready(an, load_timeout)
        an.timings["load"] = t.ms
        await an.step(
            "load",
            True,
            f"loaded {page.url}" + (" with the saved session" if state else ""),
            t.ms,
        )
        login_opts: dict[str, Any] = {}
        if ready == "login":
            login_opts = await _login(an, ep_name, username, password, resolve, url, load_timeout)
            ready = await _wait_ready(an, load_timeout)
        if ready != "input":
            await _try_frames(an, load_timeout)
        fp_raw = await an.js("fingerprint()")
        cands = await an.js("inputs()")
        visible = [c for c in cands if c["visible"]]
        if not visible:
            link = await an.js("loginLink()")
            if link:
                await an.step("login", False, f"no chat input, but a sign-in control: {link}")
                raise LoginRequired(
                    f"{url} shows no chat input but a sign-in control ({link!r}): sign in "
                    f"once with `desk login {ep_name} {url}` (a visible browser; the session "
                    "is kept), then run `desk add` again"
                )
            raise DeskError(
                f"{url}: no visible message input on the page (looked for textarea, "
                "contenteditable and role=textbox across open shadow roots and frames)"
            )
        from endpoint_desk.discovery.patterns import Fingerprint

        fp = Fingerprint.from_page(fp_raw, visible[0])
        an.evidence.append(
            f"page fingerprint: {fp.framework} ({', '.join(fp.markers) or 'no framework markers'})"
        )
        options: dict[str, Any] | None = None
        pattern_id: int | None = None
        from_pattern = False
        if library is not None:
            t = _Timer()
            tried = 0
            for rec in await library.candidates(fp):
                tried += 1
                opts = dict(rec.config)
                ok, detail = await _verify_pattern(an, opts, reply_timeout)
                await library.record(rec.id, ok)
                await an.step("pattern", ok, f"pattern #{rec.id} ({rec.framework}): {detail}", t.ms)
                if ok:
                    options, pattern_id, from_pattern = opts, rec.id, True
                    if pattern_config(opts) != pattern_config(rec.config):
                        pattern_id = await library.learn(fp, opts)  # the adapted variant
                    an.evidence.append(
                        f"a learned pattern (#{rec.id}, {rec.successes + 1} successes) "
                        f"for {rec.framework} pages passed a canary"
                    )
                    an.score.update(pattern=0.9)
                    break
                await _fresh_page(an, an.moved_to or url, load_timeout)
            an.timings["patterns"] = t.ms
            if tried == 0:
                await an.step("pattern", True, "no learned pattern fits this page yet", t.ms)
        assisted = False
        if options is None:
            if from_pattern is False and library is not None and an.steps[-1].name == "pattern":
                # a failed pattern reloaded the page: take the candidates afresh
                visible = [c for c in await an.js("inputs()") if c["visible"]] or visible
            options, assisted = await _analyse(an, url, visible, reply_timeout, assist)
            if library is not None:
                pattern_id = await library.learn(fp, options)
        options.update(login_opts)
        options.setdefault("meta", {})
        options["meta"] = {
            **options["meta"],
            "fingerprint": fp.key,
            "framework": fp.framework,
            "discovered": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "pattern_id": pattern_id,
        }
        if an.moved_to:
            options["url"] = an.moved_to
        with contextlib.suppress(Exception):
            if options.get("save_session", True) and (state or login_opts):
                wbrowser.write_session(ep_name, await context.storage_state())
        confidence = _confidence(an.score)
        an.timings["total"] = total.ms
        spec = EndpointSpec(
            name=ep_name,
            kind=EndpointKind.WEB_CHAT,
            base_url=options.get("url") or url,
            browser_config=browser_config,
            options=options,
            note=description or "",
            username=username,
            password=password,
            login_url=login_url,
            limits=Limits(timeout_seconds=max(30.0, reply_timeout)),
        )
        return WebChatDiscovery(
            spec=spec,
            confidence=confidence,
            evidence=an.evidence,
            steps=an.steps,
            timings=an.timings,
            fingerprint=fp.to_dict(),
            pattern_id=pattern_id,
            from_pattern=from_pattern,
            assisted=assisted,
        )
    finally:
        with contextlib.suppress(Exception):
            await context.close()


# ---------------------------------------------------------------------------- loading


async def _wait_ready(an: _Analysis, timeout: float) -> str:
    """Wait until the page shows a usable input or a login wall: ``input``/``login``/``""``."""

    started = time.monotonic()

    async def check() -> str:
        try:
            wall = await an.js("loginWall()")
            if wall:
                return "login"
            cands = await an.js("inputs()")
        except Exception:  # navigation in progress: the scripts are not there yet
            return ""
        if any(c["visible"] and c["score"] > 0 for c in cands):
            return "input"
        for frame in an.page.frames[1:] if an.frame is an.page.main_frame else []:
            with contextlib.suppress(Exception):
                inner = await frame.evaluate("() => window.__deskDiscover.inputs()")
                if any(c["visible"] and c["score"] > 0 for c in inner):
                    return "frame"
        if time.monotonic() - started > 8.0:
            # loaded a while ago, no input, only a way to sign in: stop waiting
            with contextlib.suppress(Exception):
                if await an.js("loginLink()"):
                    return "link"
        return ""

    result: str = await _wait_for(check, timeout, 0.15)
    return result


async def _fresh_page(an: _Analysis, url: str, timeout: float) -> None:
    """Reload the page (a new conversation; throws away a failed pattern's state)."""
    await an.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
    an.frame = an.page.main_frame
    await _wait_ready(an, timeout)


async def _try_frames(an: _Analysis, timeout: float) -> None:
    """When the main document has no input, look inside frames; a chat that lives in a
    frame is configured on the frame's own page."""
    for frame in an.page.frames[1:]:
        with contextlib.suppress(Exception):
            cands = await frame.evaluate("() => window.__deskDiscover.inputs()")
            if any(c["visible"] and c["score"] > 0 for c in cands):
                frame_url = frame.url
                an.evidence.append(
                    f"the chat lives in a frame from {frame_url}; configured that page directly"
                )
                await an.page.goto(frame_url, wait_until="domcontentloaded")
                an.frame = an.page.main_frame
                an.moved_to = frame_url
                await _wait_ready(an, timeout)
                return


async def _login(
    an: _Analysis,
    name: str,
    username: str | None,
    password: str | None,
    resolve: Callable[[str], str],
    url: str,
    timeout: float,
) -> dict[str, Any]:
    """Fill a simple login form with stored credentials; the selectors it used."""
    wall = await an.js("loginWall()")
    if not username or not password:
        await an.step("login", False, f"the page shows a login wall ({wall['text'][:60]}...)")
        raise LoginRequired(
            f"{url} shows a login wall instead of a chat: sign in once with "
            f"`desk login {name} {url}` (a visible browser; the session is kept), or give "
            "stored credentials (--username-env/--password-env) and run `desk add` again"
        )
    t = _Timer()
    user_value, pass_value = resolve(username), resolve(password)
    an.forbidden += [user_value, pass_value]
    page = an.page
    pw = page.locator("input[type=password]").first
    form_user = page.locator(
        "input[autocomplete=username], input[type=email], input[name*=user i], "
        "input[name*=login i], input[name*=email i], input[type=text]"
    ).first
    await form_user.fill(user_value)
    await pw.fill(pass_value)
    submit = page.locator("button[type=submit], input[type=submit]").first
    async with contextlib.AsyncExitStack():
        if await submit.count():
            await submit.click()
        else:
            await pw.press("Enter")
    with contextlib.suppress(Exception):
        await page.wait_for_load_state("domcontentloaded", timeout=timeout * 1000)
    if an.page.url.rstrip("/") != url.rstrip("/") and "login" in an.page.url:
        await page.goto(url, wait_until="domcontentloaded")
    state = await _wait_ready(an, timeout)
    if state != "input":
        await an.step("login", False, "stored credentials did not get past the login wall")
        raise LoginRequired(
            f"{url}: the stored credentials did not get past the login wall "
            f"(try `desk login {name} {url}`)"
        )
    await an.step("login", True, "signed in with the stored credentials", t.ms)
    an.evidence.append("a login wall (password field) was passed with stored credentials")
    return {"login_wall": "input[type=password]"}


# ---------------------------------------------------------------------------- analysis


async def _analyse(
    an: _Analysis,
    url: str,
    inputs: list[dict[str, Any]],
    reply_timeout: float,
    assist: AssistFn | None,
) -> tuple[dict[str, Any], bool]:
    """The full analysis: input, send, canary, assistant selector, busy, new chat."""
    assisted = advised = False
    t = _Timer()
    order = [c for c in inputs if c["score"] > -50][:3] or inputs[:1]
    if assist is not None and len(order) > 1 and order[0]["score"] - order[1]["score"] < 10:
        from endpoint_desk.discovery.assist import choose_candidate

        pick = await choose_candidate(
            assist,
            "Which element is the chat's message input, where a person types a message "
            "to the assistant?",
            [
                f"<{c['tag']}> {c['label'] or '(no label)'}; {', '.join(c['reasons'])}"
                for c in order
            ],
            forbidden=an.forbidden,
        )
        await an.step(
            "assist",
            pick is not None,
            "asked an endpoint of your portfolio to choose the input: "
            + (f"candidate {pick + 1}" if pick is not None else "no usable answer"),
            t.ms,
        )
        if pick is not None:
            order = [order[pick]] + [c for i, c in enumerate(order) if i != pick]
            advised = True
    canary = Canary.make()
    sent: tuple[dict[str, Any], str | None, str, float] | None = None
    for n, cand in enumerate(order):
        sent = await _try_send(an, cand, canary)
        if sent is not None:
            assisted = advised and n == 0
            if advised and n > 0:
                an.evidence.append(
                    "the input an endpoint of your portfolio chose did not send; "
                    f"candidate {n + 1} of the heuristics did"
                )
            break
    if sent is None:
        raise DeskError(
            f"{url}: typing into the likely inputs and clicking the likely send controls or "
            "pressing Enter did not send the message"
        )
    best, send_sel, send_why, t_sent = sent
    if assisted:
        an.evidence.append("an endpoint of your portfolio chose the input; the canary confirmed it")
    input_sel = best["selectors"][0] if best["selectors"] else f'[data-desk-cand="{best["id"]}"]'
    an.score["input"] = 0.15 if best["score"] >= 40 or assisted else 0.08
    why = ", ".join(best["reasons"]) or "the only candidate"
    an.evidence.append(f"message input: {input_sel} ({best['kind']}; {why})")
    an.evidence.append(send_why)
    an.score["send"] = 0.15 if "changed" in send_why else 0.12 if send_sel else 0.1
    await an.step("input", True, f"{input_sel} ({len(inputs)} candidates; {why})")
    await an.step(
        "send", True, f"sent with {send_sel}" if send_sel else "sent with the Enter key", t.ms
    )
    an.timings["send"] = t.ms

    # --- the canary's reply: where it appears, what signals its end
    t = _Timer()
    reply = await _watch_reply(an, canary, best, reply_timeout)
    an.timings["reply"] = t.ms
    if reply is None:
        raise DeskError(
            f"{url}: the message was sent but no reply holding the canary's answer "
            f"({canary.answer}) or its text appeared within {reply_timeout:g} s"
        )
    desc, echo, busy_seen, busy_input = reply
    first_reply_ms = (time.perf_counter() - t_sent) * 1000
    await an.step(
        "reply",
        True,
        ("an echo reply (the prompt repeated)" if echo else f"the answer {canary.answer}")
        + f" arrived; complete after {first_reply_ms:.0f} ms",
        t.ms,
    )
    t = _Timer()
    assistant, assistant_text, alts = _choose_assistant(desc)
    if assistant is None:
        raise DeskError(f"{url}: the reply was found but no stable selector picks it")
    an.score["assistant"] = (0.22 if not echo else 0.18) + (0.08 if _stable(assistant) else 0.0)
    an.evidence.append(
        f"assistant messages: {assistant}"
        + (f" (text in {assistant_text})" if assistant_text else "")
        + (" — located by the echoed prompt" if echo else " — located by the canary's answer")
    )
    options: dict[str, Any] = {"input": input_sel, "assistant": assistant}
    if assistant_text:
        options["assistant_text"] = assistant_text
    if send_sel:
        options["send"] = send_sel
    else:
        options["send_key"] = "Enter"
    user_sels = (
        await an.js("selectorsDetail(arg[0], arg[1])", [desc["user_message"], [desc["message"]]])
        if desc.get("user_message")
        else []
    )
    if user_sels:
        options["user_message"] = user_sels[0]
    alternates: dict[str, list[str]] = {}
    if alts:
        alternates["assistant"] = alts
    if len(best["selectors"]) > 1:
        alternates["input"] = best["selectors"][1:4]
    # busy signal and pauses
    if busy_seen:
        options["busy"] = busy_seen[0]
        if len(busy_seen) > 1:
            alternates["busy"] = busy_seen[1:3]
        an.evidence.append(f"busy signal: {busy_seen[0]} is shown while the page answers")
        an.score["busy"] = 0.1
    if busy_input:
        options["busy_input"] = True
        an.evidence.append("busy signal: the input is not editable while the page answers")
        an.score["busy"] = 0.1
    growth = await an.js("growth(arg)", desc["message"])
    gaps = [b - a for a, b in itertools.pairwise(growth)]
    longest = max(gaps) if gaps else 0.0
    if longest:
        an.evidence.append(f"longest pause inside the reply: {longest:.0f} ms")
    if not (busy_seen or busy_input):
        options["idle_quiet_ms"] = int(max(1500, longest * 2.5))
        an.evidence.append(
            f"no busy signal: a reply ends after {options['idle_quiet_ms']} ms of quiet"
        )
    await an.step(
        "assistant", True, f"{assistant} (busy: {options.get('busy') or busy_input})", t.ms
    )
    await an.js("stopRecording()")

    # --- new conversation, verified with a second canary
    t = _Timer()
    new_chat = await _find_new_chat(an, options, url)
    if new_chat:
        options["new_chat"] = new_chat
        an.evidence.append(f"new conversation: {new_chat} (clears the messages)")
        an.score["new_chat"] = 0.1
    else:
        an.evidence.append("new conversation: reload the page (no control clears the messages)")
        an.score["new_chat"] = 0.06
    an.timings["new_chat"] = t.ms
    await an.step("new chat", True, new_chat or "reload the page", t.ms)
    if alternates:
        options["alternates"] = alternates
    t = _Timer()
    ok, detail = await _canary_round(an, options, reply_timeout, fresh=False)
    an.timings["verify"] = t.ms
    await an.step("verify", ok, detail, t.ms)
    if not ok:
        raise DeskError(f"{url}: the configuration did not pass the second canary: {detail}")
    an.score["verify"] = 0.15
    an.evidence.append(f"second canary in a new conversation: {detail}")
    return options, assisted


def _stable(selector: str) -> bool:
    return bool(re.search(r"\[(role|data-[\w-]+|aria-[\w-]+)=", selector)) or "#" in selector


def _rank_send(
    before: dict[str, dict[str, Any]], after: list[dict[str, Any]], irect: dict[str, float]
) -> list[dict[str, Any]]:
    """Send-control candidates, best first, each with ``rank`` and ``why``."""
    out: list[dict[str, Any]] = []
    ix, iy = irect["x"] + irect["w"], irect["y"] + irect["h"] / 2
    for c in after:
        if not c["visible"] or not c["enabled"]:
            continue
        rank = 0.0
        why: list[str] = []
        prev = before.get(c["id"])
        if prev is None or not prev["visible"]:
            rank += 45
            why.append("changed: appeared when text was typed")
        elif not prev["enabled"]:
            rank += 50
            why.append("changed: became enabled when text was typed")
        if c["send_words"]:
            rank += 30
            why.append(f"named {c['name'][:30]!r}")
        if c["submit"]:
            rank += 12
            why.append("submits the form")
        if c["new_words"] or c["stop_words"]:
            rank -= 60
        r = c["rect"]
        if r:
            dist = abs(r["x"] - ix) + abs((r["y"] + r["h"] / 2) - iy)
            near = max(0.0, 20 - dist / 30)
            rank += near
            if near > 10:
                why.append("next to the input")
        c = {**c, "rank": rank, "why": why}
        out.append(c)
    out.sort(key=lambda c: -float(c["rank"]))
    return out


async def _try_send(
    an: _Analysis, best: dict[str, Any], canary: Canary
) -> tuple[dict[str, Any], str | None, str, float] | None:
    """Type the canary into input candidate ``best`` and send it: by the control that
    changed (or is named and placed like a send button), else Enter.

    Returns ``(input, send selector or None for Enter, evidence line, sent time)`` or
    ``None`` when the page did not take the message from this input.
    """
    before = {c["id"]: c for c in await an.js("controls()")}
    inp = an.loc(f'[data-desk-cand="{best["id"]}"]')
    try:
        await inp.click(timeout=3000)
        await inp.fill(canary.prompt, timeout=3000)
    except Exception:
        return None
    await asyncio.sleep(0.15)
    after = await an.js("controls()")
    send_cands = _rank_send(before, after, best["rect"])
    await an.js("record()")
    for cand in send_cands[:3]:
        if cand["rank"] < 25:
            break
        # its selectors now: a send control may vanish once clicked (a stop button
        # takes its place)
        sels = await an.js("selectorsDetail(arg[0], arg[1])", [cand["id"], []])
        with contextlib.suppress(Exception):
            await an.loc(f'[data-desk-el="{cand["id"]}"]').click(timeout=3000)
            t_sent = time.perf_counter()
            if await _was_sent(an, best["id"], canary):
                send_sel = sels[0] if sels else None
                why = "; ".join(cand["why"])
                line = f"send control: {send_sel or '(no stable selector: Enter)'} ({why})"
                return best, send_sel, line, t_sent
    t_sent = time.perf_counter()
    with contextlib.suppress(Exception):
        await inp.press("Enter", timeout=3000)
        if await _was_sent(an, best["id"], canary):
            return best, None, "send: the Enter key (no send control changed when typing)", t_sent
    with contextlib.suppress(Exception):
        await inp.fill("", timeout=2000)
    return None


async def _was_sent(an: _Analysis, input_id: str, canary: Canary, timeout: float = 4.0) -> bool:
    """The page took the message: the input emptied or the prompt shows up on the page."""

    async def check() -> bool:
        state = await an.js("inputState(arg)", f'[data-desk-cand="{input_id}"]')
        if state is not None and canary.nonce not in state["text"]:
            return True
        found = await an.js("find(arg)", canary.nonce)
        return bool(found)

    return bool(await _wait_for(check, timeout, 0.1))


async def _watch_reply(
    an: _Analysis, canary: Canary, best: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], bool, list[str], bool] | None:
    """Wait for the canary's reply; return (description, echo, busy selectors, busy_input)."""
    input_sel = f'[data-desk-cand="{best["id"]}"]'
    baseline = {s["id"] for s in await an.js("samples(null)")}
    busy_ids: dict[str, dict[str, Any]] = {}
    busy_sels: dict[str, list[str]] = {}
    input_disabled = False
    deadline = time.monotonic() + timeout
    last_text = ""
    stable_since = time.monotonic()
    located: tuple[dict[str, Any], bool] | None = None
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        state = await an.js("inputState(arg)", input_sel)
        if state is not None and not state["enabled"]:
            input_disabled = True
        msg_id = located[0]["message"] if located else None
        for s in await an.js("samples(arg)", msg_id):
            if s["id"] in baseline and not s["stop"]:
                continue
            if s["id"] not in busy_ids and (
                s["stop"] or s["busy_class"] or s["id"] not in baseline
            ):
                busy_ids[s["id"]] = s
                with contextlib.suppress(Exception):
                    busy_sels[s["id"]] = await an.js(
                        "selectorsDetail(arg[0], arg[1])", [s["id"], []]
                    )
        located = await _locate(an, canary)
        if located is None:
            continue
        desc, echo = located
        text = desc["text_text"]
        now = time.monotonic()
        if text != last_text:
            last_text, stable_since = text, now
            continue
        busy_now = {s["id"] for s in await an.js("samples(arg)", desc["message"])}
        still_busy = any(i in busy_now for i, s in busy_ids.items() if s["stop"] or s["busy_class"])
        state = await an.js("inputState(arg)", input_sel)
        if state is not None and not state["enabled"]:
            still_busy = True
        complete = (_has_number(text, canary.answer) and not echo) or (
            echo and canary.prompt.strip() in text
        )
        quiet = now - stable_since
        if not still_busy and ((complete and quiet >= 0.6) or quiet >= 3.0):
            break
        if complete and quiet >= 4.0:
            break  # a "busy" element that never goes away is no busy signal
    else:
        if located is None:
            return None
    assert located is not None
    desc, echo = located
    # busy signals: seen while answering and gone now (sampled, or toggled by attributes)
    for s in await an.js("toggled(arg)", desc["message"]):
        if s["id"] not in busy_ids and (s["stop"] or s["busy_class"]):
            busy_ids[s["id"]] = s
            busy_sels[s["id"]] = await an.js("selectorsDetail(arg[0], arg[1])", [s["id"], []])
    if (await an.js("recorded()"))["input_disabled"]:
        input_disabled = True
    now_visible = {s["id"] for s in await an.js("samples(arg)", desc["message"])}
    ranked: list[tuple[int, str]] = []
    for i, s in busy_ids.items():
        if i in now_visible:
            continue
        for j, sel in enumerate(busy_sels.get(i, [])):
            check = await an.js("checkSelector(arg)", sel)
            if check["valid"] and check["visible"] == 0:
                ranked.append((0 if s["stop"] else 1 if s["busy_class"] else 2, sel))
                if j >= 1:
                    break
    ranked.sort(key=lambda x: x[0])
    return desc, echo, [sel for _, sel in ranked], input_disabled


async def _locate(an: _Analysis, canary: Canary) -> tuple[dict[str, Any], bool] | None:
    """Find the reply element: by the answer (a model) or as the later echo (an echo bot)."""
    by_nonce = [f for f in await an.js("find(arg)", canary.nonce) if f["visible"]]
    user = by_nonce[0] if by_nonce else None
    answers = [
        f
        for f in await an.js("find(arg)", canary.answer)
        if f["visible"] and canary.nonce not in f["text"] and _has_number(f["text"], canary.answer)
    ]
    if answers:
        a = answers[-1]
        desc = await an.js("describeReply(arg[0], arg[1])", [a["id"], user["id"] if user else None])
        return (desc, False) if desc else None
    if len(by_nonce) >= 2:
        ordered = sorted(by_nonce, key=lambda f: (f["added_at"] is None, f["added_at"] or 0))
        u, a = ordered[0], ordered[-1]
        if u["id"] == a["id"]:
            return None
        desc = await an.js("describeReply(arg[0], arg[1])", [a["id"], u["id"]])
        return (desc, True) if desc else None
    return None


def _choose_assistant(desc: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
    """The assistant selector, its text part and alternates.

    Candidates pick the newest message (the reply) and never the user's message; among
    them, roles, data attributes and test ids beat classes, words like "assistant" or
    "bot" help, and an element below the message element qualifies only when it holds
    the whole message's text.
    """
    whole = _squash(desc["message_text"])

    def eligible(c: dict[str, Any]) -> bool:
        return bool(c["newest"]) and (c["is_message"] or _squash(c["text"]) == whole)

    def quality(c: dict[str, Any]) -> float:
        sel = str(c["sel"])
        q = 10.0 if c["is_message"] else 0.0
        if re.search(r"\[(data-[\w-]+|role)=", sel):
            q += 30
        elif re.search(r"\[aria-label=", sel):
            q += 15
        if re.search(r"assistant|bot|ai\b|model|response|answer|agent", sel, re.I):
            q += 20
        if ":has(" in sel:
            q -= 10
        if "#" in sel:
            q -= 25  # an id picks one element, not every message
        if c["count"] == 1:
            q -= 3
        q -= sel.count(" ") * 2
        return q

    pool = sorted((c for c in desc["candidates"] if eligible(c)), key=lambda c: -quality(c))
    if not pool:
        return None, None, []
    best = pool[0]
    text_sel: str | None = None
    if desc["text_selectors_in_message"] and _squash(desc["text_text"]) != whole:
        text_sel = desc["text_selectors_in_message"][0]
    alts = list(dict.fromkeys(c["sel"] for c in pool[1:5] if c["sel"] != best["sel"]))[:3]
    return str(best["sel"]), text_sel, alts


def _squash(text: str) -> str:
    return " ".join(str(text).split())


async def _find_new_chat(an: _Analysis, options: dict[str, Any], url: str) -> str | None:
    """Click new-conversation candidates until the messages are gone; its selector."""
    controls = [
        c
        for c in await an.js("controls()")
        if c["visible"] and c["enabled"] and c["new_words"] and not c["stop_words"]
    ]
    for c in controls[:3]:
        sels = await an.js("selectorsDetail(arg[0], arg[1])", [c["id"], []])
        if not sels:
            continue
        before = await an.js("checkSelector(arg)", options["assistant"])
        with contextlib.suppress(Exception):
            await an.loc(f'[data-desk-el="{c["id"]}"]').click(timeout=3000)

            async def cleared(before: dict[str, Any] = before) -> bool:
                now = await an.js("checkSelector(arg)", options["assistant"])
                return bool(now["count"] < before["count"] or (now["visible"] == 0))

            if await _wait_for(cleared, 3.0, 0.1):
                return str(sels[0])
    return None


async def _canary_round(
    an: _Analysis, options: dict[str, Any], timeout: float, *, fresh: bool
) -> tuple[bool, str]:
    """Send a canary with ``options`` the way the adapter does and read the reply through
    the adapter's in-page script. ``fresh``: the page was just loaded (no new-chat click).
    """
    from endpoint_desk.adapters.webchat.options import WebChatOptions

    try:
        wopts = WebChatOptions.from_dict(options, default_url=an.page.url)
    except ConfigError as exc:
        return False, exc.one_line()
    canary = Canary.make()
    t0 = time.perf_counter()
    if not fresh:
        if (await an.js("checkSelector(arg)", wopts.assistant))["count"] == 0:
            pass  # already a new conversation
        elif wopts.new_chat:
            await _click_visible(an, wopts.new_chat, 3.0)
        else:
            await an.page.reload(wait_until="domcontentloaded")
            an.frame = an.page.main_frame
    inp = await _wait_for(lambda: an.chat_js("firstVisible(arg)", wopts.input), 10.0, 0.1)
    if not inp:
        return False, f"the input {wopts.input} is not on the page"
    cfg = {**wopts.page_config(), "report": "poll"}
    await an.chat_js("arm(arg)", cfg)
    box = an.loc(wopts.input).first
    await box.click()
    await box.fill(canary.prompt)
    if wopts.send:
        if not await _click_visible(an, wopts.send, 3.0):
            return False, f"the send control {wopts.send} could not be clicked"
    else:
        await box.press(wopts.send_key)
    t_sent = time.perf_counter()
    t_first: float | None = None
    text = ""
    busy = False
    ever_busy = False
    last_change = time.monotonic()
    deadline = time.monotonic() + timeout
    quiet = wopts.quiet_ms / 1000 + 0.3
    idle = wopts.idle_quiet_ms / 1000
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        for ev in await an.chat_js("take()"):
            if "d" in ev:
                text += ev["d"]
                last_change = time.monotonic()
            elif "r" in ev:
                text = ev["r"]
                last_change = time.monotonic()
            elif "b" in ev:
                busy = bool(ev["b"])
                ever_busy = ever_busy or busy
                last_change = time.monotonic()
        if not text:
            continue
        if t_first is None:
            t_first = time.perf_counter()
        q = time.monotonic() - last_change
        if wopts.has_busy_signal and ever_busy:
            if not busy and q >= quiet:
                break
        elif q >= idle:
            break
        # a canary locates, it does not time: once the reply holds the whole answer
        # (or the whole prompt echoed) and settles briefly, it has done its job
        if (
            not busy
            and q >= 0.3
            and (
                _has_number(text.replace(canary.prompt, ""), canary.answer)
                or canary.prompt.strip() in text
            )
        ):
            break
    await an.chat_js("disarm()")
    ms = (time.perf_counter() - t0) * 1000
    if not text:
        return False, f"no reply was read with {wopts.assistant} within {timeout:g} s"
    if canary.nonce in text and not _has_number(text.replace(canary.prompt, ""), canary.answer):
        # an echo, or the user's own message read back: an echo bot's page holds the
        # prompt twice (the message and its echo), the user's message alone once
        holders = [f for f in await an.js("find(arg)", canary.nonce) if f["visible"]]
        if len(holders) < 2:
            return False, f"{wopts.assistant} reads the user's own message, not a reply"
    if canary.answered(text):
        what = "echoed the prompt" if canary.nonce in text else f"answered {canary.answer}"
        first = ((t_first or t_sent) - t_sent) * 1000
        return True, (
            f"read {len(text)} characters that {what} in {ms:.0f} ms "
            f"(ready to send {(t_sent - t0) * 1000:.0f} ms, first text after {first:.0f} ms)"
        )
    return False, f"the reply read ({text[:60]!r}) does not answer the canary"


async def _click_visible(an: _Analysis, selector: str, timeout: float) -> bool:
    """Click the first visible match of ``selector`` (across shadow roots) once there."""
    deadline = time.monotonic() + timeout
    while True:
        handle = await an.frame.evaluate_handle(
            "sel => window.__deskChat.firstVisible(sel)", selector
        )
        el = handle.as_element()
        if el is not None:
            try:
                await el.click(timeout=max(0.1, deadline - time.monotonic()) * 1000)
                return True
            except Exception:
                pass
            finally:
                with contextlib.suppress(Exception):
                    await handle.dispose()
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)


async def _verify_pattern(
    an: _Analysis, options: dict[str, Any], timeout: float
) -> tuple[bool, str]:
    """A learned pattern passes when its input is on the page and a canary works.

    Optional parts that match nothing here are adapted, not fatal: no send control ->
    the Enter key; no new-chat control -> reload; a busy selector that is not there ->
    the quiet window. ``options`` is changed in place to what passed.
    """
    try:
        sel = options.get("input")
        found = await an.js("checkSelector(arg)", sel) if sel else None
        if not found or not found["valid"] or found["visible"] == 0:
            return False, f"its input selector {sel} matches nothing here"
        for key in ("assistant", "assistant_text", "user_message", "busy"):
            sel = options.get(key)
            if sel and not (await an.js("checkSelector(arg)", sel))["valid"]:
                return False, f"its {key} selector is not valid here"
        adapted: list[str] = []
        if options.get("send"):
            found = await an.js("checkSelector(arg)", options["send"])
            if found["count"] == 0:
                options.pop("send")
                options["send_key"] = "Enter"
                adapted.append("Enter instead of its send control")
        if options.get("new_chat"):
            found = await an.js("checkSelector(arg)", options["new_chat"])
            if found["count"] == 0:
                options.pop("new_chat")
                adapted.append("reload for a new conversation")
        ok, detail = await _canary_round(an, options, timeout, fresh=True)
        if ok and adapted:
            detail += f" (adapted: {', '.join(adapted)})"
        return ok, detail
    except DeskError as exc:
        return False, exc.one_line()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def _confidence(score: dict[str, float]) -> float:
    if "pattern" in score:
        return min(1.0, score["pattern"])
    return round(min(1.0, sum(score.values())), 3)
