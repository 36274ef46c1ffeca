"""Bounded load test: a real ``desk serve`` in front of several sim upstreams with mixed
failure rates, held at a fixed concurrency for a fixed time. Not part of the test suite.

    python bench/load.py                      # concurrency 64 for 180 s
    python bench/load.py --duration 30 --json load.json

Every process is real: each sim upstream is ``python -m endpoint_desk.sim`` and the desk
is ``python -m endpoint_desk serve`` with its own DESK_HOME (a temporary folder), its
SQLite request log and default settings. Clients are closed-loop (each sends its next
request when the previous one ends), a share of them streamed.

Reported: requests served, errors by kind, latency p50/p99 (all answers and successes),
the desk's resident memory before the load, at its peak and after it (the exit code is
1 when it grew by more than ``--max-growth-mib``), and a check of the request log after
a clean shutdown: every successful answer has exactly one ``ok`` row (plain answers are
matched by id), no row is duplicated, and every failed answer left at least one
``error`` row (one row per upstream attempt: a request that failed over has several).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]

UPSTREAMS = [
    # name, sim knobs: a healthy one, two flaky ones, a slow one with rare 429s
    ("steady", "latency=0.01,seed=1"),
    ("flaky5", "latency=0.01,fail_rate=0.05,fail_status=502,seed=2"),
    ("flaky20", "latency=0.01,fail_rate=0.2,fail_status=503,seed=3"),
    ("slow429", "latency=0.05,fail_rate=0.02,fail_status=429,seed=4"),
]


def env_for(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DESK_") and k not in ("DATABASE_URL", "OPENAI_API_KEY")
    }
    env["DESK_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Proc:
    """A child process with its output in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            cwd=str(log.parent),
            start_new_session=True,
        )

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.log.read_text("utf-8", "replace"))
            if m:
                return m
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.log.name}: no {pattern!r}:\n{self.log.read_text()}")

    def rss_kib(self) -> int:
        try:
            with open(f"/proc/{self.p.pid}/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.p.poll() is None:
            os.kill(self.p.pid, sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.p.pid, signal.SIGKILL)
                self.p.wait(5)
        self._fh.close()
        return self.p.returncode


@dataclass
class Tally:
    """What the clients saw."""

    latencies: list[float] = field(default_factory=list)
    ok_latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    ok_plain_ids: list[str] = field(default_factory=list)
    ok_streams: int = 0
    ok_plain: int = 0
    failed: int = 0
    stream_errors: int = 0
    attempts_ok: int = 0
    served_by: Counter[str] = field(default_factory=Counter)


async def client(
    session: aiohttp.ClientSession,
    url: str,
    tally: Tally,
    stop_at: float,
    stream_share: float,
    rng: random.Random,
    cid: int,
) -> None:
    n = 0
    while time.monotonic() < stop_at:
        n += 1
        stream = rng.random() < stream_share
        body = {
            "model": "sim-model",
            "messages": [{"role": "user", "content": f"client {cid} request {n}"}],
            "stream": stream,
        }
        t0 = time.perf_counter()
        try:
            async with session.post(url + "/v1/chat/completions", json=body) as resp:
                raw = await resp.read()
                took = (time.perf_counter() - t0) * 1000
                tally.latencies.append(took)
                tally.statuses[str(resp.status)] += 1
                if resp.status == 200 and not stream:
                    data = json.loads(raw)
                    tally.ok_plain += 1
                    tally.ok_plain_ids.append(data["id"])
                    tally.attempts_ok += int(data.get("desk", {}).get("attempts", 1))
                    tally.ok_latencies.append(took)
                    tally.served_by[resp.headers.get("x-desk-endpoint", "?")] += 1
                elif resp.status == 200:
                    if b'"error"' in raw and not raw.rstrip().endswith(b"[DONE]"):
                        tally.stream_errors += 1
                        tally.errors["stream_error_event"] += 1
                    else:
                        tally.ok_streams += 1
                        tally.ok_latencies.append(took)
                        tally.served_by[resp.headers.get("x-desk-endpoint", "?")] += 1
                else:
                    tally.failed += 1
                    try:
                        code = json.loads(raw)["error"].get("code") or "?"
                    except (ValueError, KeyError, TypeError):
                        code = "unparsable"
                    tally.errors[f"{resp.status} {code}"] += 1
        except (aiohttp.ClientError, TimeoutError) as exc:
            tally.failed += 1
            tally.errors[f"client {type(exc).__name__}"] += 1
            tally.latencies.append((time.perf_counter() - t0) * 1000)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="desk-load-"))
    home = tmp / "desk"
    home.mkdir()
    procs: list[Proc] = []
    report: dict[str, Any] = {"duration_s": args.duration, "concurrency": args.concurrency}
    try:
        sims: list[tuple[str, str]] = []
        for name, knobs in UPSTREAMS[: args.upstreams]:
            p = Proc(
                ["-m", "endpoint_desk.sim", "--port", "0", "--knobs", knobs],
                env_for(tmp / "simhome"),
                tmp / f"sim-{name}.log",
            )
            procs.append(p)
            sims.append((name, p.wait_for(r"listening on (http://127\.0\.0\.1:\d+)").group(1)))
        serve = Proc(
            ["-m", "endpoint_desk", "serve", "--port", "0", "--grace", "10"],
            env_for(home),
            home / "serve.log",
        )
        procs.append(serve)
        url = serve.wait_for(r"desk serving on (http://127\.0\.0\.1:\d+)").group(1)
        timeout = aiohttp.ClientTimeout(total=60)
        conn = aiohttp.TCPConnector(limit=args.concurrency * 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=conn) as session:
            for name, sim_url in sims:
                spec = {
                    "name": name,
                    "kind": "openai",
                    "base_url": sim_url,
                    "models": ["sim-model"],
                    "prove": False,
                    "timeout_seconds": 5,
                    "retry_attempts": 3,
                }
                async with session.post(url + "/api/endpoints", json=spec) as resp:
                    if resp.status != 201:
                        raise RuntimeError(f"adding {name}: {resp.status} {await resp.text()}")
            # warm-up, then the baseline memory
            warm = Tally()
            await asyncio.gather(
                *(
                    client(
                        session,
                        url,
                        warm,
                        time.monotonic() + 3,
                        args.stream_share,
                        random.Random(i),
                        i,
                    )
                    for i in range(args.concurrency)
                )
            )
            rss_before = serve.rss_kib()
            tally = Tally()
            stop_at = time.monotonic() + args.duration
            rss_peak = rss_before
            t0 = time.monotonic()
            tasks = [
                asyncio.create_task(
                    client(
                        session,
                        url,
                        tally,
                        stop_at,
                        args.stream_share,
                        random.Random(1000 + i),
                        1000 + i,
                    )
                )
                for i in range(args.concurrency)
            ]
            samples: list[tuple[float, int]] = []
            lags: list[tuple[float, int]] = []
            db_path = next(iter(home.rglob("*.sqlite3")), None)
            while not all(t.done() for t in tasks):
                await asyncio.sleep(1.0)
                rss = serve.rss_kib()
                rss_peak = max(rss_peak, rss)
                samples.append((round(time.monotonic() - t0, 1), rss))
                if len(samples) % 30 == 0:
                    # how far the write-behind request log is behind the answers
                    answered = warm.ok_plain + warm.ok_streams + tally.ok_plain + tally.ok_streams
                    stored = _count_rows(db_path)
                    lag = answered - stored if stored >= 0 else -1
                    lags.append((samples[-1][0], lag))
                    if args.progress:
                        print(
                            f"  {samples[-1][0]:.0f} s: {len(tally.latencies)} answers, "
                            f"rss {rss / 1024:.1f} MiB, log behind by ~{lag} rows",
                            flush=True,
                        )
            await asyncio.gather(*tasks)
            wall = time.monotonic() - t0
            rss_after = serve.rss_kib()
            async with session.get(url + "/metrics") as resp:
                metrics_text = await resp.text()
        code = serve.stop(signal.SIGTERM, timeout=30)
        total = len(tally.latencies) + len(warm.latencies)

        db = next(p for p in home.rglob("*.sqlite3"))
        with sqlite3.connect(db) as c:
            rows = c.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM requests").fetchone()
            ok_rows = c.execute("SELECT COUNT(*) FROM requests WHERE status='ok'").fetchone()[0]
            err_rows = c.execute("SELECT COUNT(*) FROM requests WHERE status!='ok'").fetchone()[0]
            ids = Counter(r[0] for r in c.execute("SELECT id FROM requests WHERE status='ok'"))
            kinds = dict(
                c.execute(
                    "SELECT COALESCE(error_kind, 'ok'), COUNT(*) FROM requests GROUP BY 1"
                ).fetchall()
            )
        log_lines = [
            line
            for f in home.rglob("*.log")
            for line in f.read_text("utf-8", "replace").splitlines()
            if any(w in line for w in ("WARNING", "ERROR", "Traceback", "could not write"))
        ]
        report["desk_log_warnings"] = log_lines[:20]
        report["desk_log_warning_count"] = len(log_lines)
        plain_ids = warm.ok_plain_ids + tally.ok_plain_ids
        missing = [i for i in plain_ids if ids.get(i, 0) == 0]
        doubled = [i for i in plain_ids if ids.get(i, 0) > 1]
        ok_answers = warm.ok_plain + warm.ok_streams + tally.ok_plain + tally.ok_streams
        failed_answers = warm.failed + tally.failed + warm.stream_errors + tally.stream_errors
        report.update(
            requests=len(tally.latencies),
            requests_per_s=round(len(tally.latencies) / wall, 1),
            ok=tally.ok_plain + tally.ok_streams,
            ok_streams=tally.ok_streams,
            failed=tally.failed + tally.stream_errors,
            errors_by_kind=dict(tally.errors.most_common()),
            statuses=dict(tally.statuses),
            served_by=dict(tally.served_by.most_common()),
            latency_ms={
                "p50": round(pct(tally.latencies, 50), 1),
                "p99": round(pct(tally.latencies, 99), 1),
                "ok_p50": round(pct(tally.ok_latencies, 50), 1),
                "ok_p99": round(pct(tally.ok_latencies, 99), 1),
                "max": round(max(tally.latencies, default=0), 1),
            },
            rss_mib={
                "before": round(rss_before / 1024, 1),
                "peak": round(rss_peak / 1024, 1),
                "after": round(rss_after / 1024, 1),
                "growth": round((rss_after - rss_before) / 1024, 1),
            },
            shutdown_exit_code=code,
            rss_samples_mib=[(t, round(r / 1024, 1)) for t, r in samples[29::30]],
            log_lag_samples=lags,
            request_log={
                "answers_incl_warmup": total,
                "ok_answers": ok_answers,
                "failed_answers": failed_answers,
                "rows": rows[0],
                "distinct_ids": rows[1],
                "ok_rows": ok_rows,
                "error_rows": err_rows,
                "rows_by_kind": kinds,
                "plain_ok_ids_checked": len(plain_ids),
                "plain_ok_missing": len(missing),
                "plain_ok_duplicated": len(doubled),
                "every_success_logged_once": ok_rows == ok_answers
                and not missing
                and not doubled
                and rows[0] == rows[1],
                "every_failure_logged": err_rows >= failed_answers,
            },
            desk_metrics_requests=_metric(metrics_text, "desk_requests_total"),
        )
        return report
    finally:
        for p in reversed(procs):
            p.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            report["folder"] = str(tmp)


def _count_rows(db: Path | None) -> int:
    """``ok`` rows in the request log now (a read-only look at the live database), or -1."""
    if db is None:
        return -1
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as c:
            row = c.execute("SELECT COUNT(*) FROM requests WHERE status = 'ok'").fetchone()
            return int(row[0])
    except sqlite3.Error:
        return -1


def _metric(text: str, name: str) -> float | None:
    total = 0.0
    found = False
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            try:
                total += float(line.rsplit(" ", 1)[1])
                found = True
            except ValueError:
                pass
    return total if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load (180)")
    ap.add_argument("--concurrency", type=int, default=64, help="clients in flight (64)")
    ap.add_argument("--upstreams", type=int, default=len(UPSTREAMS), choices=range(1, 5))
    ap.add_argument("--stream-share", type=float, default=0.3, help="share of streamed requests")
    ap.add_argument(
        "--max-growth-mib",
        type=float,
        default=64.0,
        help="fail when the desk's RSS grows by more than this (64)",
    )
    ap.add_argument("--json", type=Path, default=None, help="also write the report here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--progress", action="store_true", help="print progress every 30 s")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    log = report["request_log"]
    ok = (
        report["rss_mib"]["growth"] <= args.max_growth_mib
        and log["every_success_logged_once"]
        and log["every_failure_logged"]
        and report["shutdown_exit_code"] == 0
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
