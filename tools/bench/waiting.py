"""P3 (the node with 100,000 and with 1,000,000 jobs waiting on KIE), P6 (kill -9 with
100,000 in flight, then restart) and P4 (every callback dropped: polling alone finds the
results)."""

from __future__ import annotations

import threading
import time

from sandbox.kie_emulator import KieEmulator
from tools.bench import seed as bench_seed
from tools.bench.env import (
    BenchEnv,
    NodeProc,
    Row,
    connect,
    max_in_window,
    median,
    pause,
    percentile,
    wait_for,
)


class CallClock:
    """Records the wall time of every status query the KIE emulator receives.

    The emulator counts calls but keeps no times; the bench wraps its counter (in this
    process) to see the rate KIE sees, and when the first poll after a restart arrived.
    """

    STATUS = ("market.status", "veo.status", "suno.status")

    def __init__(self, kie: KieEmulator) -> None:
        self.status_times: list[float] = []
        self._lock = threading.Lock()
        count = kie.core.count_call

        def counting(endpoint: str) -> None:
            if endpoint in self.STATUS:
                with self._lock:
                    self.status_times.append(time.time())
            count(endpoint)

        kie.core.count_call = counting  # type: ignore[method-assign]

    def since(self, t0: float) -> list[float]:
        with self._lock:
            return [t for t in self.status_times if t >= t0]


STATUS_LIMIT = 10
"""KIE's status-query limit per second (kie-api.md); the node's default too."""


def p3_p6_waiting(env: BenchEnv, n: int, observe_s: float, *, p3: bool, p6: bool) -> list[Row]:
    """Seed ``n`` jobs in ``submitted`` (their next polls spread over the next hour, so some
    are always due), start the node, watch it for ``observe_s`` seconds (P3), then kill -9
    and start it again (P6). KIE and Telegram keep their real limits."""
    url = env.database("p3")
    started = time.monotonic()
    bench_seed.submitted(url, n, chats=1000)
    seeded_s = time.monotonic() - started
    rows: list[Row] = []
    with env.emulators(kie={}, telegram={"strict_chats": False}) as (kie, telegram):
        clock = CallClock(kie)
        node = env.node_proc(url, kie, telegram, "p3")
        try:
            node.start(timeout=120)
            if p3:
                rows += _observe(node, n, observe_s, seeded_s)
            if p6:
                rows += _restart(node, clock, n)
        finally:
            node.stop()
    return rows


def _observe(node: NodeProc, n: int, observe_s: float, seeded_s: float) -> list[Row]:
    proc = node.process()
    rss: list[float] = []
    threads: list[int] = []
    status_ms: list[float] = []
    in_flight = 0
    end = time.monotonic() + observe_s
    while time.monotonic() < end:
        rss.append(proc.memory_info().rss / 2**20)
        threads.append(proc.num_threads())
        t0 = time.perf_counter()
        doc = node.status()
        status_ms.append((time.perf_counter() - t0) * 1000)
        in_flight = int((doc.get("jobs") or {}).get("in_flight") or 0)
        pause.wait(0.25)
    peak_rss, peak_threads = max(rss), max(threads)
    p50, worst = median(status_ms), max(status_ms)
    # The first request after the start pays for the first reads of the freshly seeded rows
    # (each job was written three times in bulk: the scans that meet the dead versions first
    # mark them dead); the node's own jobs arrive over time and never leave such a pile.
    later = max(status_ms[1:], default=float("nan"))
    note = (f"{in_flight} jobs in flight per /status; {len(status_ms)} /status requests over "
            f"{observe_s:.0f} s (max {worst:.0f} ms; the first, right after the start, "
            f"{status_ms[0]:.0f} ms, the slowest of the others {later:.0f} ms); seeding {n} "
            f"jobs took {seeded_s:.0f} s")
    return [
        Row("P3", f"RSS with {n:,} jobs waiting (MB, peak)", f"{peak_rss:.0f}", "≤ 250",
            peak_rss <= 250, note),
        Row("P3", f"threads with {n:,} jobs waiting (peak)", f"{peak_threads}", "≤ 64",
            peak_threads <= 64),
        Row("P3", f"/status response time with {n:,} jobs waiting (ms, p50 / max)",
            f"{p50:.0f} / {worst:.0f}", "< 100 (p50)", p50 < 100),
    ]


def _restart(node: NodeProc, clock: CallClock, n: int) -> list[Row]:
    node.kill9()
    node.spawn()
    exec_at = node.exec_at
    wait_for(node.ready, 120, "node /readyz after kill -9", poll=0.01)
    ready_s = time.time() - exec_at
    first = wait_for(lambda: clock.since(exec_at), 120, "the first status poll", poll=0.01)
    poll_s = min(first) - exec_at
    note = f"kill -9 with {n:,} jobs in flight; measured from the exec of the new process"
    return [
        Row("P6", "restart: exec → /readyz 200 (s)", f"{ready_s:.2f}", "≤ 5", ready_s <= 5,
            note),
        Row("P6", "restart: exec → first status poll (s)", f"{poll_s:.2f}", "≤ 5",
            poll_s <= 5),
    ]


_DETECTED = b"""
SELECT t.task_id, EXTRACT(EPOCH FROM e.at)::float8 AS at, e.cause::text AS cause
FROM job_events AS e JOIN kie_tasks AS t ON t.job_id = e.job_id
WHERE e.to_state = 'succeeded'"""


def p4_dropped(env: BenchEnv, n: int, task_s: float) -> list[Row]:
    """``n`` confirmed jobs (seeded ``created``; the janitor submits them within KIE's real
    createTask limit), tasks of ``task_s`` seconds, every callback dropped by KIE. Lag: the
    task's completion at KIE → the job's SUCCEEDED event."""
    url = env.database("p4")
    bench_seed.created(url, n, chats=n, expected=int(task_s), deadline=3600.0)
    ended = b"SELECT count(*) AS n FROM jobs WHERE state IN ('delivered', 'failed')"
    with env.emulators(kie={"duration_s": task_s}, telegram={"strict_chats": False},
                       kie_faults={"callbacks": {"drop": {}}}) as (kie, telegram):
        clock = CallClock(kie)
        with env.node(url, kie, telegram, "p4"):
            started = time.time()

            def all_ended() -> bool:
                with connect(url) as conn:
                    row = conn.execute(ended).fetchone()
                return bool(row and int(row["n"]) >= n)

            wait_for(all_ended, 120 + n + 3 * task_s, "every job ended", poll=0.5)
            finished = time.time()
        stats = kie.stats(details=True)
    with connect(url) as conn:
        detected = {r["task_id"]: (float(r["at"]), r["cause"])
                    for r in conn.execute(_DETECTED).fetchall()}
        failed = conn.execute(b"SELECT count(*) AS n FROM jobs WHERE state = 'failed'").fetchone()
    lags = [detected[t["task_id"]][0] - (t["created_at"] + t["duration_s"])
            for t in stats["tasks"] if t["task_id"] in detected]
    by_poll = sum(1 for _, cause in detected.values() if cause == "poll")
    polls = clock.since(started)
    busiest = max_in_window(polls, 1.0)
    limited = int(stats["rate_limited"].get("status", 0))
    average = len(polls) / max(1e-9, finished - started)
    budget = max(3.0, 0.1 * task_s)
    worst, p95 = max(lags, default=float("nan")), percentile(lags, 95)
    note = (f"{n} jobs, {task_s:.0f} s tasks, callbacks dropped: {by_poll} found by polling, "
            f"{failed['n'] if failed else '?'} failed; lag p50 {median(lags):.2f} s, "
            f"p95 {p95:.2f} s; {len(polls)} status queries, {average:.1f}/s on average, "
            f"{limited} refused 429 by KIE")
    return [
        Row("P4", "completion → detection, max (s)", f"{worst:.2f}", f"≤ {budget:.0f}",
            worst <= budget, note),
        Row("P4", "status queries in the busiest second", f"{busiest}",
            f"≤ {STATUS_LIMIT}, no 429", busiest <= STATUS_LIMIT and limited == 0),
    ]
