"""Step 2, find the input: the page's fingerprint and its message-input candidates,
ranked in the page (``inputs()`` in the in-page script: textarea, contenteditable,
``role=textbox`` across open shadow roots; visible, enabled, near the bottom, labelled
"message"/"ask"/...; not search or login fields). When two candidates score alike, an
``assist`` endpoint may choose; the canary decides."""

from __future__ import annotations

from typing import Any

from endpoint_desk.core.errors import LoginRequired
from endpoint_desk.discovery.assist import AssistFn
from endpoint_desk.discovery.patterns import Fingerprint
from endpoint_desk.discovery.webchat.analysis import Analysis, Timer
from endpoint_desk.discovery.webchat.failure import discovery_failed

__all__ = ["find_inputs", "order_inputs"]


async def find_inputs(
    an: Analysis, url: str, name: str
) -> tuple[Fingerprint, list[dict[str, Any]]]:
    """The page's fingerprint and its visible input candidates, best first.

    Raises:
        LoginRequired: no input, but a sign-in control.
        DeskError: no visible message input at all.
    """
    fp_raw = await an.js("fingerprint()")
    cands = await an.js("inputs()")
    visible = [c for c in cands if c["visible"]]
    if not visible:
        link = await an.js("loginLink()")
        if link:
            await an.step("login", False, f"no chat input, but a sign-in control: {link}")
            raise LoginRequired(
                f"{url} shows no chat input but a sign-in control ({link!r}): sign in "
                f"once with `desk login {name} {url}` (a visible browser; the session "
                "is kept), then run `desk add` again"
            )
        hidden = len(cands)
        raise discovery_failed(
            url,
            "no visible message input on the page (looked for textarea, text inputs, "
            "contenteditable and role=textbox across open shadow roots and frames, "
            "waiting for one to appear)",
            {},
            [f"{hidden} hidden or disabled input candidates"] if hidden else [],
        )
    fp = Fingerprint.from_page(fp_raw, visible[0])
    an.evidence.append(
        f"page fingerprint: {fp.framework} ({', '.join(fp.markers) or 'no framework markers'})"
    )
    return fp, visible


async def order_inputs(
    an: Analysis, inputs: list[dict[str, Any]], assist: AssistFn | None, t: Timer
) -> tuple[list[dict[str, Any]], bool]:
    """The candidates to try, in order, and whether an ``assist`` endpoint chose the
    first one (only when the heuristics are unsure)."""
    advised = False
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
    return order, advised
