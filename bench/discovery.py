"""Discovery on every framework fixture, as a user meets it: a bare ``desk add URL``.

For each fixture of ``tests/thirdparty/frameworks.py`` (Gradio, Streamlit, Panel, Mesop,
NiceGUI, Chainlit from their venvs under ``.venvs/``; our React/MUI, Vue/Quasar and
hard-case pages) the harness (``tests/thirdparty/harness.py``) runs ``desk add URL`` as a
real CLI process with its own ``DESK_HOME``, adds a second instance of the same
framework to the same home (the learned pattern warm), runs cold ``desk test`` processes,
and asks a first message, a follow-up and a new conversation through the engine, judging
each reply against what the page itself said. A fixture whose venv is missing is
skipped with a line saying why.

Columns: configured (yes/NO), configure time first and warm (``*``: the warm add did not
come from the pattern), reply correct, only the answer (no label, time stamp or button
text), follow-up answered in the same conversation, new conversation started, a markdown
reply's paragraphs, list items and code lines kept as lines ("md"; "-" when the page
answered without markdown), median
cold ``desk test`` wall time minus the page's own reply time, and whether any step
finished more than 2 s after the page had (a time limit or a long quiet window).

Under the table, per fixture: what failed and why (the first line of the error, what
the page said against what the desk returned), each ``desk add`` split into discovery's
own phases and the rest, and each cold ``desk test`` split into start-up (process start
to the desk's request), open/load/send (to the page receiving the prompt: Chromium, the
context, the page load, typing), the page's own reply, end noticed (the page finished
to the desk finishing) and exit.

Targets (issue 12): every UI configured; first time at most 20 s; warm at most 5 s; no
step ending on a time limit; cold overhead at most 1.0 s.

    python bench/discovery.py                    # every fixture
    python bench/discovery.py --only panel --only mui --json /tmp/discovery.json
    python bench/discovery.py --cold 5           # cold desk test runs per fixture
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.thirdparty.frameworks import FRAMEWORKS, missing
from tests.thirdparty.harness import Outcome, evaluate

COLUMNS = (
    ("UI", 22),
    ("configured", 10),
    ("first s", 7),
    ("warm s", 7),
    ("reply", 5),
    ("only", 4),
    ("follow-up", 9),
    ("new conv", 8),
    ("md", 3),
    ("cold +s", 7),
    ("time limit", 10),
)


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def row(o: Outcome) -> list[str]:
    """One table row."""
    warm = _num(o.warm_s) + ("" if o.warm.ok or o.warm_s is None else "*")
    return [
        o.title,
        "skipped" if o.skipped else o.configured.mark,
        _num(o.first_s),
        warm,
        o.reply.mark,
        o.only_answer.mark,
        o.follow_up.mark,
        o.new_conversation.mark,
        o.markdown.mark,
        _num(o.cold_overhead, "{:.2f}"),
        "-" if o.skipped or not o.configured.ok else ("YES" if o.late else "no"),
    ]


def notes(o: Outcome) -> list[str]:
    """What went wrong, one line per finding, for the lines under the table."""
    if o.skipped:
        return [f"skipped: {o.skipped}"]
    out = []
    for label, check in (
        ("configure", o.configured),
        ("warm", o.warm),
        ("reply", o.reply),
        ("only the answer", o.only_answer),
        ("follow-up", o.follow_up),
        ("new conversation", o.new_conversation),
        ("markdown kept", o.markdown),
    ):
        if check.ok is False:
            out.append(f"{label}: {check.detail}")
    out += [f"late: {line}" for line in o.late]
    out += [f"early: {line}" for line in o.early]
    adds = (("first", o.first_s, o.timings), ("warm", o.warm_s, o.warm_timings))
    for label, wall, timings in adds:
        if wall is not None and timings.get("total"):
            parts = ", ".join(f"{k} {v / 1000:.1f}" for k, v in timings.items() if k != "total")
            out.append(
                f"desk add ({label}): {wall:.1f} s wall = {timings['total'] / 1000:.1f} s "
                f"discovery ({parts}) + {wall - timings['total'] / 1000:.1f} s the rest "
                "(start-up, API probes, the proving call through the adapter, exit)"
            )
    for run in o.cold_runs:
        parts = " + ".join(f"{k} {v:.2f}" for k, v in run.items() if k != "wall")
        out.append(f"cold desk test: {run['wall']:.2f} s = {parts}")
    if o.start_s is not None:
        out.append(f"fixture started in {o.start_s:.1f} s")
    return out


def print_table(outcomes: list[Outcome]) -> None:
    head = "  ".join(name.ljust(width) for name, width in COLUMNS)
    print(head)
    print("-" * len(head))
    for o in outcomes:
        cells = row(o)
        print("  ".join(c.ljust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)))
    print()
    for o in outcomes:
        lines = notes(o)
        if lines:
            print(f"{o.title} ({o.name}):")
            for line in lines:
                print(f"  {line}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    names = [f.name for f in FRAMEWORKS]
    ap.add_argument("--only", action="append", default=[], help=f"one of {', '.join(names)}")
    ap.add_argument("--json", type=Path, help="write every outcome here as JSON")
    ap.add_argument("--cold", type=int, default=3, help="cold desk test runs per fixture")
    ap.add_argument("--no-warm", action="store_true", help="skip the second instance")
    args = ap.parse_args()
    chosen = [n for item in args.only for n in item.split(",") if n] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        ap.error(f"unknown fixture(s): {', '.join(unknown)}; one of {', '.join(names)}")
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="desk-bench-discovery-") as tmp:
        for name in chosen:
            why = missing(name)
            if why:
                print(f"{name}: skipped ({why})", file=sys.stderr, flush=True)
            else:
                print(f"{name}: running ...", file=sys.stderr, flush=True)
            outcome = evaluate(name, Path(tmp) / name, cold_runs=args.cold, warm=not args.no_warm)
            outcomes.append(outcome)
    end = os.getloadavg()
    print(
        f"\n{len(outcomes)} fixtures in {time.perf_counter() - t0:.0f} s; load average "
        f"{load[0]:.1f} at the start, {end[0]:.1f} at the end ({os.cpu_count()} CPUs): "
        "times grow with it\n"
    )
    print_table(outcomes)
    if args.json:
        args.json.write_text(json.dumps([o.to_dict() for o in outcomes], indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
