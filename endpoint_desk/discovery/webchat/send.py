"""Step 3, send: type the canary into an input candidate and find the send control by
what changed (a button that appeared or became enabled when text was typed), by its
name and by its position next to the input; fall back to Enter. Whatever made the page
take the message is what gets saved."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any

from endpoint_desk.discovery.webchat.analysis import Analysis, Timer, wait_for
from endpoint_desk.discovery.webchat.canary import Canary
from endpoint_desk.discovery.webchat.failure import discovery_failed

__all__ = ["Sent", "rank_send", "send_canary", "try_send", "was_sent"]


@dataclass(slots=True)
class Sent:
    """The input and send control that made the page take the canary."""

    input: dict[str, Any]
    """The input candidate (as ``inputs()`` describes it)."""
    input_sel: str
    send_sel: str | None
    """``None``: the Enter key sends."""
    at: float
    """``time.perf_counter()`` when it was sent."""
    assisted: bool
    """An ``assist`` endpoint chose the input and the canary confirmed it."""

    def found(self) -> dict[str, Any]:
        """What was found so far, as options (for a failure's ``--options`` hint)."""
        if self.send_sel:
            return {"input": self.input_sel, "send": self.send_sel}
        return {"input": self.input_sel, "send_key": "Enter"}


async def send_canary(
    an: Analysis,
    url: str,
    order: list[dict[str, Any]],
    advised: bool,
    canary: Canary,
    n_candidates: int,
    t: Timer,
) -> Sent:
    """Send ``canary`` from the first input candidate in ``order`` that takes it; the
    ``input`` and ``send`` steps with their evidence.

    Raises:
        DeskError: no candidate sent the message.
    """
    assisted = False
    sent: tuple[dict[str, Any], str | None, str, float] | None = None
    for n, cand in enumerate(order):
        sent = await try_send(an, cand, canary)
        if sent is not None:
            assisted = advised and n == 0
            if advised and n > 0:
                an.evidence.append(
                    "the input an endpoint of your portfolio chose did not send; "
                    f"candidate {n + 1} of the heuristics did"
                )
            break
    if sent is None:
        first = order[0] if order else None
        raise discovery_failed(
            url,
            "typing into the likely inputs and clicking the likely send controls or "
            "pressing Enter did not send the message",
            {},
            [f"{len(order)} input candidates"]
            + ([f"the likeliest: {first['selectors'][0]}"] if first and first["selectors"] else []),
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
    await an.step("input", True, f"{input_sel} ({n_candidates} candidates; {why})")
    await an.step(
        "send", True, f"sent with {send_sel}" if send_sel else "sent with the Enter key", t.ms
    )
    an.timings["send"] = t.ms
    return Sent(best, input_sel, send_sel, t_sent, assisted)


def rank_send(
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


async def try_send(
    an: Analysis, best: dict[str, Any], canary: Canary
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
    send_cands = rank_send(before, after, best["rect"])
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
            if await was_sent(an, best["id"], canary):
                send_sel = sels[0] if sels else None
                why = "; ".join(cand["why"])
                line = f"send control: {send_sel or '(no stable selector: Enter)'} ({why})"
                return best, send_sel, line, t_sent
    t_sent = time.perf_counter()
    with contextlib.suppress(Exception):
        await inp.press("Enter", timeout=3000)
        if await was_sent(an, best["id"], canary):
            return best, None, "send: the Enter key (no send control changed when typing)", t_sent
    with contextlib.suppress(Exception):
        await inp.fill("", timeout=2000)
    return None


async def was_sent(an: Analysis, input_id: str, canary: Canary, timeout: float = 4.0) -> bool:
    """The page took the message: the input emptied or the prompt shows up on the page."""

    async def check() -> bool:
        state = await an.js("inputState(arg)", f'[data-desk-cand="{input_id}"]')
        if state is not None and canary.nonce not in state["text"]:
            return True
        found = await an.js("find(arg)", canary.nonce)
        return bool(found)

    return bool(await wait_for(check, timeout, 0.1))
