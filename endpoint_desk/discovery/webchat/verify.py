"""Step 7, verify: find the new-conversation control, then prove the whole
configuration with a second canary, sent and read by the adapter's own exchange code
(``adapters.webchat.exchange``). Learned patterns are proved the same way before they
are used; the confidence adds up the evidence."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

from endpoint_desk.adapters.webchat.exchange import Reply, stream_reply
from endpoint_desk.adapters.webchat.options import WebChatOptions
from endpoint_desk.core.errors import ConfigError, DeskError
from endpoint_desk.discovery.patterns import Fingerprint, PatternLibrary, pattern_config
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer, wait_for
from endpoint_desk.discovery.webchat.canary import Canary, has_number
from endpoint_desk.discovery.webchat.failure import discovery_failed
from endpoint_desk.discovery.webchat.load import fresh_page

__all__ = [
    "canary_round",
    "confidence",
    "find_new_chat",
    "new_chat_step",
    "try_patterns",
    "verify_pattern",
    "verify_step",
]


async def try_patterns(
    an: Analysis,
    library: PatternLibrary,
    fp: Fingerprint,
    reply_timeout: float,
    load_timeout: float,
) -> tuple[dict[str, Any] | None, int | None]:
    """Try the learned patterns that fit ``fp``, best first, each with a canary; the
    first that passes and its pattern id (``None, None``: none did)."""
    t = Timer()
    tried = 0
    options: dict[str, Any] | None = None
    pattern_id: int | None = None
    for rec in await library.candidates(fp):
        tried += 1
        opts = dict(rec.config)
        ok, detail = await verify_pattern(an, opts, reply_timeout)
        await library.record(rec.id, ok)
        await an.step("pattern", ok, f"pattern #{rec.id} ({rec.framework}): {detail}", t.ms)
        if ok:
            options, pattern_id = opts, rec.id
            if pattern_config(opts) != pattern_config(rec.config):
                pattern_id = await library.learn(fp, opts)  # the adapted variant
            an.evidence.append(
                f"a learned pattern (#{rec.id}, {rec.successes + 1} successes) "
                f"for {rec.framework} pages passed a canary"
            )
            an.score.update(pattern=0.9)
            break
        await fresh_page(an, load_timeout)
    an.timings["patterns"] = t.ms
    if tried == 0:
        await an.step("pattern", True, "no learned pattern fits this page yet", t.ms)
    return options, pattern_id


async def new_chat_step(an: Analysis, options: dict[str, Any], url: str) -> None:
    """Find the new-conversation control (else: reload); the ``new chat`` step."""
    t = Timer()
    new_chat = await find_new_chat(an, options, url)
    if new_chat:
        options["new_chat"] = new_chat
        an.evidence.append(f"new conversation: {new_chat} (clears the messages)")
        an.score["new_chat"] = 0.1
    else:
        an.evidence.append("new conversation: reload the page (no control clears the messages)")
        an.score["new_chat"] = 0.06
    an.timings["new_chat"] = t.ms
    await an.step("new chat", True, new_chat or "reload the page", t.ms)


async def verify_step(
    an: Analysis, options: dict[str, Any], url: str, reply_timeout: float
) -> None:
    """The second canary, in a new conversation; the ``verify`` step.

    Raises:
        DeskError: the configuration did not pass it.
    """
    t = Timer()
    ok, detail = await canary_round(an, options, reply_timeout, fresh=False)
    an.timings["verify"] = t.ms
    await an.step("verify", ok, detail, t.ms)
    if not ok:
        raise discovery_failed(
            url, f"the configuration did not pass the second canary: {detail}", options
        )
    an.score["verify"] = 0.15
    an.evidence.append(f"second canary in a new conversation: {detail}")


async def find_new_chat(an: Analysis, options: dict[str, Any], url: str) -> str | None:
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

            if await wait_for(cleared, 3.0, 0.1):
                return str(sels[0])
    return None


async def canary_round(
    an: Analysis, options: dict[str, Any], timeout: float, *, fresh: bool
) -> tuple[bool, str]:
    """Send a canary with ``options`` and read the reply with the adapter's own exchange
    (``adapters.webchat.exchange``: the same send, reader and completion rule), so what
    passes here is what the adapter will run. ``fresh``: the page was just loaded (no
    new conversation first).
    """
    try:
        wopts = WebChatOptions.from_dict(options, default_url=an.url)
    except ConfigError as exc:
        return False, exc.one_line()
    driver = an.driver
    # the canary waits ``timeout`` for its reply, whatever the options say
    driver.config.options = dataclasses.replace(wopts, reply_timeout=timeout)
    canary = Canary.make()
    reply = Reply()
    t0 = time.perf_counter()
    t_sent: float | None = None
    t_first: float | None = None

    def whole(text: str) -> bool:
        # a canary locates, it does not time: once the reply holds the whole answer
        # (or the whole prompt echoed) it has done its job
        return has_number(text.replace(canary.prompt, ""), canary.answer) or (
            canary.prompt.strip() in text
        )

    try:
        if not fresh:
            await driver.new_conversation()
        if await driver.wait_ready() != "input":
            return False, f"the page shows a login wall instead of the input {wopts.input}"
        t_sent = time.perf_counter()
        async for _ in stream_reply(driver, canary.prompt, reply, enough=whole):
            if t_first is None:
                t_first = time.perf_counter()
    except DeskError as exc:
        return False, exc.one_line()
    ms = (time.perf_counter() - t0) * 1000
    text = reply.text
    if not text:
        return False, f"no reply was read with {wopts.assistant} within {timeout:g} s"
    if canary.nonce in text and not has_number(text.replace(canary.prompt, ""), canary.answer):
        # an echo, or the user's own message read back: an echo bot's page holds the
        # prompt twice (the message and its echo), the user's message alone once
        holders = [f for f in await an.js("find(arg)", canary.nonce) if f["visible"]]
        if len(holders) < 2:
            return False, f"{wopts.assistant} reads the user's own message, not a reply"
    if canary.answered(text):
        if driver.options.input != wopts.input:
            options["input"] = driver.options.input  # an alternate matched, as it would later
        what = "echoed the prompt" if canary.nonce in text else f"answered {canary.answer}"
        sent = t_sent or t0
        first = ((t_first or sent) - sent) * 1000
        return True, (
            f"read {len(text)} characters that {what} in {ms:.0f} ms "
            f"(ready to send {(sent - t0) * 1000:.0f} ms, first text after {first:.0f} ms)"
        )
    return False, f"the reply read ({text[:60]!r}) does not answer the canary"


async def verify_pattern(an: Analysis, options: dict[str, Any], timeout: float) -> tuple[bool, str]:
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
        ok, detail = await canary_round(an, options, timeout, fresh=True)
        if ok and adapted:
            detail += f" (adapted: {', '.join(adapted)})"
        return ok, detail
    except DeskError as exc:
        return False, exc.one_line()
    except Exception as exc:
        return False, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def confidence(score: dict[str, float]) -> float:
    """0..1 from the evidence's scores (a learned pattern that passed: its own)."""
    if "pattern" in score:
        return min(1.0, score["pattern"])
    return round(min(1.0, sum(score.values())), 3)
