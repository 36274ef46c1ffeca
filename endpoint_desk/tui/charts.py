"""The endpoint detail's two charts, drawn from its recent requests: latency of each
request over time, and the success rate per minute.

Each function takes the requests oldest first (anything with ``ts``, ``status`` and
``latency_ms``) and the clock's ``now``, redraws one plot from scratch and repaints it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from textual_plotext import PlotextPlot


def draw_latency(plot: PlotextPlot, reqs: Sequence[Any], now: float) -> None:
    """Latency (ms) of each request; ok and failed ones marked apart; x in seconds ago,
    or minutes ago once the requests span five minutes or more."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    span = (now - min((r.ts for r in reqs), default=now)) if reqs else 0.0
    scale, unit = (1.0, "seconds") if span < 300 else (60.0, "minutes")
    plt.title(f"latency (ms) of recent requests; x: {unit} ago")
    ok_pts = [((r.ts - now) / scale, r.latency_ms) for r in reqs if r.status == "ok"]
    bad_pts = [((r.ts - now) / scale, r.latency_ms) for r in reqs if r.status != "ok"]
    if ok_pts:
        plt.scatter([p[0] for p in ok_pts], [p[1] for p in ok_pts], marker="dot", label="ok")
    if bad_pts:
        plt.scatter([p[0] for p in bad_pts], [p[1] for p in bad_pts], marker="x", label="failed")
    if reqs:
        plt.xlim(-max(span / scale, 1.0) * 1.05, 0)
    plot.refresh()


def draw_success(plot: PlotextPlot, reqs: Sequence[Any], now: float) -> None:
    """Success rate (%) per minute, one bar per minute that had requests."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    plt.title("success rate (%) per minute; x: minutes ago")
    buckets: dict[int, list[bool]] = {}
    for r in reqs:
        buckets.setdefault(-int((now - r.ts) // 60), []).append(r.status == "ok")
    if buckets:
        xs = sorted(buckets)
        ys = [100.0 * sum(buckets[x]) / len(buckets[x]) for x in xs]
        plt.bar(xs, ys, width=0.6)
        plt.ylim(0, 100)
        plt.xlim(min(-5, xs[0]) - 0.5, 0.5)
    plot.refresh()
