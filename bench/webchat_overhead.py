"""How much time the web chat adapter adds on top of a page's own reply time.

A local fixture chat page (``endpoint_desk.sim.chatpages``) streams a reply from its
server; the server notes when it received the message and when it sent the last word
(the page's own reply time). The adapter's time is from ``chat()`` being called to its
final chunk, with warm pages. Overhead = adapter time - page time: typing and sending,
the DOM observer, the completion rule's quiet window, and Python.

Also compares the two ways the page reports deltas (``push``: a Playwright binding;
``poll``: reading a page-side buffer every ``poll_ms``) by the time from the server
writing the first word to Python holding it.

    python bench/webchat_overhead.py                 # 30 requests per mode
    python bench/webchat_overhead.py -n 50 --style editable --quiet-ms 60
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from endpoint_desk.adapters.webchat.adapter import WebChatAdapter
from endpoint_desk.adapters.webchat.browser import close_shared_browser
from endpoint_desk.core.models import ChatRequest, EndpointSpec
from endpoint_desk.sim.chatpages import ChatPagesServer


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_mode(
    pages: ChatPagesServer, style: str, report: str, n: int, quiet_ms: int, delay: float
) -> dict[str, list[float]]:
    options = pages.options_for(style)
    options.update(report=report, quiet_ms=quiet_ms, pages=2)
    spec = EndpointSpec(
        name=f"bench-{style}-{report}",
        kind="web_chat",
        base_url=pages.url_for(style, delay=delay, words=10),
        options=options,
    )
    adapter = WebChatAdapter(spec, lambda ref: "")
    await adapter.open()
    out: dict[str, list[float]] = {"overhead": [], "total": [], "page": [], "first": []}
    try:
        for i in range(n + 3):
            t0 = time.perf_counter()
            first: float | None = None
            async for chunk in adapter.chat(ChatRequest.from_text(f"bench message {i}")):
                if chunk.delta and first is None:
                    first = time.perf_counter()
            t1 = time.perf_counter()
            rec = pages.replies[-1]
            assert rec.ended is not None and rec.first_sent is not None and first is not None
            if i < 3:  # warm-up
                continue
            page_time = rec.ended - rec.started
            out["total"].append((t1 - t0) * 1000)
            out["page"].append(page_time * 1000)
            out["overhead"].append((t1 - t0 - page_time) * 1000)
            out["first"].append((first - rec.first_sent) * 1000)
            await asyncio.sleep(0.05)  # let the background page reset finish
    finally:
        await adapter.aclose()
    return out


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-n", type=int, default=30, help="measured requests per mode")
    ap.add_argument("--style", default="textarea", choices=["textarea", "editable"])
    ap.add_argument("--quiet-ms", type=int, default=60, help="quiet window after busy ends")
    ap.add_argument("--delay", type=float, default=0.02, help="seconds between words")
    args = ap.parse_args()
    os.environ.setdefault("DESK_HOME", tempfile.mkdtemp(prefix="desk-bench-"))
    async with ChatPagesServer() as pages:
        try:
            for report in ("push", "poll"):
                r = await run_mode(pages, args.style, report, args.n, args.quiet_ms, args.delay)
                print(
                    f"{args.style:9} {report:4}  n={args.n}  "
                    f"page reply p50 {statistics.median(r['page']):6.1f} ms  "
                    f"desk total p50 {statistics.median(r['total']):6.1f} ms  "
                    f"overhead p50 {statistics.median(r['overhead']):6.1f} ms "
                    f"(p90 {pct(r['overhead'], 0.9):6.1f}; quiet window {args.quiet_ms} ms)  "
                    f"first word to Python p50 {statistics.median(r['first']):5.1f} ms "
                    f"(p90 {pct(r['first'], 0.9):5.1f})"
                )
        finally:
            await close_shared_browser()
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
