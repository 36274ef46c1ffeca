"""``configure_web_chat``: the steps of web chat discovery, in order, on one page.

Loads the page (``load``), finds the input (``inputs``), tries the learned patterns
(``verify.try_patterns``) and, when none passes, analyses the page: send a canary
(``send``), read the reply (``reply``), derive the assistant selector (``selectors``)
and the completion signals (``completion``), find the new-conversation control and
verify with a second canary (``verify``); a file input that takes images is recorded
as ``file_input`` (``files``). A verified configuration is learned by the
pattern library and returned as a ``WebChatDiscovery`` whose spec is ready to save.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from endpoint_desk.core.errors import ConfigError
from endpoint_desk.core.models import BrowserConfig, EndpointKind, EndpointSpec, Limits, slugify
from endpoint_desk.discovery.assist import AssistFn
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer
from endpoint_desk.discovery.webchat.canary import Canary
from endpoint_desk.discovery.webchat.completion import completion_options
from endpoint_desk.discovery.webchat.files import record_file_input
from endpoint_desk.discovery.webchat.inputs import find_inputs, order_inputs
from endpoint_desk.discovery.webchat.load import load, login, open_page, try_frames, wait_ready
from endpoint_desk.discovery.webchat.reply import (
    chrome_ignore,
    pick_assistant,
    read_reply,
    user_selectors,
)
from endpoint_desk.discovery.webchat.result import ProgressFn, WebChatDiscovery
from endpoint_desk.discovery.webchat.send import send_canary
from endpoint_desk.discovery.webchat.verify import (
    confidence,
    new_chat_step,
    try_patterns,
    verify_step,
)

__all__ = ["configure_web_chat"]


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
    from endpoint_desk.discovery.patterns import PatternLibrary

    url = url.strip()
    if not url.startswith(("http://", "https://")):
        url = "http://" + url
    ep_name = slugify(name) if name else _name_from(url)
    if not ep_name:
        raise ConfigError("the endpoint name must contain a letter or a digit")
    total = Timer()
    bconf = browser_config or BrowserConfig()
    resolve = resolve_secret or _default_resolver
    library = PatternLibrary(store) if store is not None and use_patterns else None

    t = Timer()
    context, driver, state = await open_page(ep_name, url, bconf, load_timeout, resolve)
    an = Analysis(driver, url, progress)
    an.timings["browser"] = t.ms
    try:
        ready = await load(an, load_timeout, saved=bool(state))
        login_opts: dict[str, Any] = {}
        if ready == "login":
            login_opts = await login(
                an, ep_name, username, password, resolve, login_url, load_timeout
            )
            ready = await wait_ready(an, load_timeout)
        if ready != "input":
            await try_frames(an, load_timeout)
        fp, visible = await find_inputs(an, url, ep_name)
        options: dict[str, Any] | None = None
        pattern_id: int | None = None
        from_pattern = False
        if library is not None:
            options, pattern_id = await try_patterns(an, library, fp, reply_timeout, load_timeout)
            from_pattern = options is not None
        assisted = False
        if options is None:
            if from_pattern is False and library is not None and an.steps[-1].name == "pattern":
                # a failed pattern reloaded the page: take the candidates afresh
                visible = [c for c in await an.js("inputs()") if c["visible"]] or visible
            options, assisted = await _analyse(an, url, visible, reply_timeout, assist)
            if library is not None:
                pattern_id = await library.learn(fp, options)
        options.update(login_opts)
        await record_file_input(an, options)
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
            confidence=confidence(an.score),
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


async def _analyse(
    an: Analysis,
    url: str,
    inputs: list[dict[str, Any]],
    reply_timeout: float,
    assist: AssistFn | None,
) -> tuple[dict[str, Any], bool]:
    """The full analysis: input, send, canary, assistant selector, busy, new chat."""
    t = Timer()
    order, advised = await order_inputs(an, inputs, assist, t)
    canary = Canary.make()
    sent = await send_canary(an, url, order, advised, canary, len(inputs), t)

    # --- the canary's reply: where it appears, what signals its end
    reply = await read_reply(an, url, canary, sent, reply_timeout)
    t = Timer()
    assistant, assistant_text, alts = pick_assistant(an, url, reply, sent)
    options: dict[str, Any] = {"input": sent.input_sel, "assistant": assistant}
    if assistant_text:
        options["assistant_text"] = assistant_text
    ignore = chrome_ignore(reply.desc, assistant, assistant_text)
    if ignore:
        options["ignore"] = ignore
        an.evidence.append(f"page chrome beside the reply, skipped when reading: {ignore}")
    if sent.send_sel:
        options["send"] = sent.send_sel
    else:
        options["send_key"] = "Enter"
    user_sels = await user_selectors(an, reply.desc)
    if user_sels:
        options["user_message"] = user_sels[0]
    alternates: dict[str, list[str]] = {}
    if alts:
        alternates["assistant"] = alts
    if len(sent.input["selectors"]) > 1:
        alternates["input"] = sent.input["selectors"][1:4]
    await completion_options(
        an, reply.desc["message"], reply.busy, reply.busy_input, options, alternates
    )
    await an.step(
        "assistant", True, f"{assistant} (busy: {options.get('busy') or reply.busy_input})", t.ms
    )
    await an.js("stopRecording()")

    # --- new conversation, verified with a second canary
    await new_chat_step(an, options, url)
    if alternates:
        options["alternates"] = alternates
    await verify_step(an, options, url, reply_timeout)
    return options, sent.assisted
