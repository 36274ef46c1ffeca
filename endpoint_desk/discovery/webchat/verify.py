"""Step 7, verify: find the new-conversation control, then prove the whole
configuration with a second canary read through the adapter's own in-page reader
(``__deskChat.arm``/``take``). Learned patterns are proved the same way before they are
used; the confidence adds up the evidence."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from endpoint_desk.core.errors import ConfigError, DeskError
from endpoint_desk.discovery.patterns import Fingerprint, PatternLibrary, pattern_config
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer, wait_for
from endpoint_desk.discovery.webchat.canary import Canary, has_number
from endpoint_desk.discovery.webchat.load import fresh_page

__all__ = [
    "canary_round",
    "click_visible",
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
    url: str,
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
        await fresh_page(an, an.moved_to or url, load_timeout)
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
        raise DeskError(f"{url}: the configuration did not pass the second canary: {detail}")
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
            await click_visible(an, wopts.new_chat, 3.0)
        else:
            await an.page.reload(wait_until="domcontentloaded")
            an.frame = an.page.main_frame
    inp = await wait_for(lambda: an.chat_js("firstVisible(arg)", wopts.input), 10.0, 0.1)
    if not inp:
        return False, f"the input {wopts.input} is not on the page"
    cfg = {**wopts.page_config(), "report": "poll"}
    await an.chat_js("arm(arg)", cfg)
    box = an.loc(wopts.input).first
    await box.click()
    await box.fill(canary.prompt)
    if wopts.send:
        if not await click_visible(an, wopts.send, 3.0):
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
                has_number(text.replace(canary.prompt, ""), canary.answer)
                or canary.prompt.strip() in text
            )
        ):
            break
    await an.chat_js("disarm()")
    ms = (time.perf_counter() - t0) * 1000
    if not text:
        return False, f"no reply was read with {wopts.assistant} within {timeout:g} s"
    if canary.nonce in text and not has_number(text.replace(canary.prompt, ""), canary.answer):
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


async def click_visible(an: Analysis, selector: str, timeout: float) -> bool:
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
