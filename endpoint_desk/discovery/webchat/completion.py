"""Step 5, completion: how the page says it has finished answering.

While the canary's reply arrives, busy-looking elements (a stop button, a typing note,
a spinner) and a locked input are sampled; those shown while answering and gone once
the reply settled become the ``busy`` signal (``busy_input`` for the input). Without
one, the reply ends on a quiet window longer than the longest pause seen inside it.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

from endpoint_desk.discovery.webchat.analysis import Analysis
from endpoint_desk.discovery.webchat.canary import Canary, has_number

__all__ = ["BusyWatch", "answer_complete", "completion_options", "reply_finished"]


class BusyWatch:
    """Busy-signal candidates seen while the page answers the canary."""

    def __init__(self, an: Analysis, input_sel: str) -> None:
        self.an = an
        self.input_sel = input_sel
        self.baseline: set[str] = set()
        self.ids: dict[str, dict[str, Any]] = {}
        self.sels: dict[str, list[str]] = {}
        self.input_disabled = False

    async def start(self) -> None:
        """Note what looks busy before the reply (never a busy signal)."""
        self.baseline = {s["id"] for s in await self.an.js("samples(null)")}

    async def sample(self, msg_id: str | None) -> None:
        """Take note of the input's state and of busy-looking elements right now
        (outside the reply message ``msg_id``)."""
        an = self.an
        state = await an.js("inputState(arg)", self.input_sel)
        if state is not None and not state["enabled"]:
            self.input_disabled = True
        for s in await an.js("samples(arg)", msg_id):
            if s["id"] in self.baseline and not s["stop"]:
                continue
            if s["id"] not in self.ids and (
                s["stop"] or s["busy_class"] or s["id"] not in self.baseline
            ):
                self.ids[s["id"]] = s
                with contextlib.suppress(Exception):
                    self.sels[s["id"]] = await an.js(
                        "selectorsDetail(arg[0], arg[1])", [s["id"], []]
                    )

    async def still_busy(self, msg_id: str) -> bool:
        """A busy signal seen earlier is still shown, or the input is locked."""
        an = self.an
        busy_now = {s["id"] for s in await an.js("samples(arg)", msg_id)}
        still_busy = any(i in busy_now for i, s in self.ids.items() if s["stop"] or s["busy_class"])
        state = await an.js("inputState(arg)", self.input_sel)
        if state is not None and not state["enabled"]:
            still_busy = True
        return still_busy

    async def signals(self, msg_id: str) -> list[str]:
        """Busy-signal selectors, best first: seen while answering (sampled, or toggled
        by attributes) and gone now."""
        an = self.an
        for s in await an.js("toggled(arg)", msg_id):
            if s["id"] not in self.ids and (s["stop"] or s["busy_class"]):
                self.ids[s["id"]] = s
                self.sels[s["id"]] = await an.js("selectorsDetail(arg[0], arg[1])", [s["id"], []])
        if (await an.js("recorded()"))["input_disabled"]:
            self.input_disabled = True
        now_visible = {s["id"] for s in await an.js("samples(arg)", msg_id)}
        ranked: list[tuple[int, str]] = []
        for i, s in self.ids.items():
            if i in now_visible:
                continue
            for j, sel in enumerate(self.sels.get(i, [])):
                check = await an.js("checkSelector(arg)", sel)
                if check["valid"] and check["visible"] == 0:
                    ranked.append((0 if s["stop"] else 1 if s["busy_class"] else 2, sel))
                    if j >= 1:
                        break
        ranked.sort(key=lambda x: x[0])
        return [sel for _, sel in ranked]


def answer_complete(text: str, echo: bool, canary: Canary) -> bool:
    """The reply holds the whole answer (or, from an echo bot, the whole prompt)."""
    return (has_number(text, canary.answer) and not echo) or (
        echo and canary.prompt.strip() in text
    )


def reply_finished(still_busy: bool, complete: bool, quiet: float) -> bool:
    """The canary's reply is over: ``quiet`` seconds without a change, no busy signal."""
    if not still_busy and ((complete and quiet >= 0.6) or quiet >= 3.0):
        return True
    return complete and quiet >= 4.0  # a "busy" element that never goes away is no busy signal


async def completion_options(
    an: Analysis,
    msg_id: str,
    busy_seen: list[str],
    busy_input: bool,
    options: dict[str, Any],
    alternates: dict[str, list[str]],
) -> None:
    """Set the completion options (``busy``, ``busy_input``, ``idle_quiet_ms``) from
    what the canary's reply showed; the evidence and score for them."""
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
    growth = await an.js("growth(arg)", msg_id)
    gaps = [b - a for a, b in itertools.pairwise(growth)]
    longest = max(gaps) if gaps else 0.0
    if longest:
        an.evidence.append(f"longest pause inside the reply: {longest:.0f} ms")
    if not (busy_seen or busy_input):
        options["idle_quiet_ms"] = int(max(1500, longest * 2.5))
        an.evidence.append(
            f"no busy signal: a reply ends after {options['idle_quiet_ms']} ms of quiet"
        )
