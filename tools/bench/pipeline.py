"""P1 (full-pipeline throughput against PostgreSQL's own commit rate) and P2 (callback →
Telegram send latency at a sustained callback rate)."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import requests

from sandbox.telegram_emulator import TelegramEmulator
from tools.bench import seed as bench_seed
from tools.bench.baseline import BASELINE, plan_of, run_baseline
from tools.bench.baseline import rows as baseline_rows
from tools.bench.cost import Commits, JobCost, bot_api_calls, per_method
from tools.bench.env import (
    BenchEnv,
    CpuSplit,
    NodeProc,
    Row,
    connect,
    load_note,
    median,
    next_xid,
    percentile,
    wait_for,
)

FIRST_USER = 500_000
log = logging.getLogger("trt.bench")
UNLIMITED_TELEGRAM = {"TRT_TELEGRAM_PER_S": "100000", "TRT_TELEGRAM_PER_CHAT_S": "100000"}
"""The node's own Telegram pacing, lifted where the emulator's flood limits are off."""


def _count(database_url: str, sql: bytes, **params: Any) -> int:
    with connect(database_url) as conn:
        row = conn.execute(sql, params or None).fetchone()
    return int(row["n"]) if row else 0


def _confirm_screen(telegram: TelegramEmulator, user: int) -> tuple[int, str] | None:
    """The user's confirm screen: (message id, callback data of its first button)."""
    for message in reversed(telegram.messages(user)):
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        if rows and f"bench picture {user}" in str(message.get("text") or ""):
            return int(message["message_id"]), str(rows[0][0]["callback_data"])
    return None


def _orders(telegram: TelegramEmulator, users: range) -> dict[int, tuple[int, str]]:
    """Every user orders by ``/gen``; their confirm screens once all are shown."""
    for user in users:
        telegram.send_text(user, f'/gen {bench_seed.MODEL} prompt="bench picture {user}"')
    screens: dict[int, tuple[int, str]] = {}

    def all_screens() -> bool:
        for user in users:
            if user not in screens and (found := _confirm_screen(telegram, user)):
                screens[user] = found
        return len(screens) == len(users)

    wait_for(all_screens, 60 + len(users) / 5, "every confirm screen", poll=0.2)
    return screens


PACED_RATE = 10.0
"""P1's second look at the calls: presses at this rate, well under the node's pace, so each
job is done in well under ``TRT_PROGRESS_AFTER_S`` (in the burst, most jobs wait longer in
the queue and get their progress message)."""


def _paced_calls(url: str, telegram: TelegramEmulator, users: range) -> JobCost:
    """Bot API calls per job when the users press at ``PACED_RATE`` (commits and CPU are
    not measured here: the burst measures them)."""
    screens = _orders(telegram, users)
    before = bot_api_calls(telegram)
    start = time.monotonic()
    for i, (user, (message_id, data)) in enumerate(screens.items()):
        delay = start + i / PACED_RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the load generator's pacing, not synchronisation
        telegram.press_button(user, message_id, data)
    done = b"SELECT count(*) AS n FROM outbox WHERE status IN ('pending', 'sending')"
    delivered = b"SELECT count(*) AS n FROM jobs WHERE state = 'delivered'"
    wait_for(lambda: _count(url, delivered) >= users.stop - FIRST_USER
             and _count(url, done) == 0, 60 + len(users), "the paced jobs delivered", 0.1)
    calls = per_method(before, bot_api_calls(telegram))
    return JobCost(0.0, sum(calls.values()) / len(users), 0.0, calls, len(users))


def p1_throughput(env: BenchEnv, n: int, pgbench_seconds: int) -> list[Row]:
    """Users each press the confirm button of a ``/gen`` order once; the clock runs from the
    first press until the database records the last job DELIVERED (the result is in the
    Telegram emulator by then). KIE answers and calls back at once, no flood limits."""
    url = env.database("p1")
    kie_config = {"duration_s": 0, "rate_limits": False}
    with env.emulators(kie=kie_config, telegram={"flood_limits": False}) as (kie, telegram), \
            env.node(url, kie, telegram, "p1", overrides={"kie_create_per_10s": 1_000_000},
                     TRT_WELCOME_CREDITS="100", **UNLIMITED_TELEGRAM) as node:
        users = range(FIRST_USER, FIRST_USER + n)
        screens = _orders(telegram, users)
        xid_before = next_xid(url)
        commits = Commits(url)
        calls_before = bot_api_calls(telegram)
        cpu_before, split = node.cpu_seconds(), CpuSplit(node)
        started = time.time()
        for user, (message_id, data) in screens.items():
            telegram.press_button(user, message_id, data)
        wait_for(lambda: commits.delivered() >= n, 120 + n, "every job delivered", 0.05)
        row = commits.one(b"SELECT EXTRACT(EPOCH FROM max(finished_at))::float8 AS t "
                          b"FROM jobs")
        finished = float(row["t"]) if row else time.time()
        # What follows a delivery (the progress message's "done" edit) is part of the job.
        wait_for(lambda: commits.outbox_drained(), 60 + n / 10, "the outbox drained", 0.1)
        commits.own += 1  # next_xid's read
        writes = next_xid(url) - xid_before
        cpu_s = node.cpu_seconds() - cpu_before
        cpu = cpu_s / (time.time() - started)
        calls = per_method(calls_before, bot_api_calls(telegram))
        load = f"{split.note()}; {load_note()}"
        pool = node.status()["db_pool"]
        results = sum(1 for user in users for m in telegram.messages(user) if m.get("media"))
        committed = commits.total()
        paced = _paced_calls(url, telegram, range(FIRST_USER + n, FIRST_USER + n + n // 10))
    clients = int(pool.get("pool_size") or pool.get("pool_max") or 16)
    elapsed = finished - started
    jobs_per_s = n / elapsed
    per_job = writes / n
    cost = JobCost(committed / n, sum(calls.values()) / n, cpu_s * 1000 / n, calls, n)
    pg_tps = env.pgbench(url, clients, pgbench_seconds)
    ratio = jobs_per_s * per_job / pg_tps
    note = (f"{n} jobs in {elapsed:.1f} s; {results} results in the Telegram emulator; "
            f"pgbench: {clients} clients (the node's pool size), {pgbench_seconds} s; "
            f"the node process used {cpu:.0%} of one core; {load}")
    try:  # the same users, the same presses, the node's calls per job: side by side
        base = run_baseline(env, n, plan_of(cost.methods, n), FIRST_USER)
        versus = baseline_rows(base, jobs_per_s, cost.cpu_ms)
    except Exception as exc:  # P1's own numbers stand without it
        log.error("P1 baseline failed:\n%s", traceback.format_exc())
        versus = [Row("P1", f"{BASELINE}: failed", type(exc).__name__, met=False,
                      note=str(exc)[:300])]
    return [
        Row("P1", "pipeline jobs/s (confirm → delivered)", f"{jobs_per_s:.1f}", note=note),
        Row("P1", "write transactions (commits) per job", f"{per_job:.1f}"),
        *cost.rows("P1"),
        Row("P1", f"Bot API calls per job, {PACED_RATE:.0f} presses/s (no queue)",
            f"{paced.calls:.2f}", note=paced.calls_note()),
        Row("P1", f"PostgreSQL commits/s, pgbench -c {clients}", f"{pg_tps:.0f}"),
        Row("P1", "our commit rate / PostgreSQL's", f"{ratio:.2f}", "≥ 0.5", ratio >= 0.5),
        *versus,
    ]


def _market_success(task_id: str, job_id: int) -> bytes:
    """KIE's market callback for a finished task (kie-api.md), written from the contract."""
    now_ms = int(time.time() * 1000)
    data = {"taskId": task_id, "model": bench_seed.MODEL, "state": "success", "param": "{}",
            "resultJson": json.dumps(
                {"resultUrls": [f"https://example.invalid/bench/{job_id}.png"]}),
            "failCode": "", "failMsg": "", "costTime": 1000, "completeTime": now_ms,
            "createTime": now_ms - 1000, "updateTime": now_ms}
    return json.dumps({"code": 200, "msg": "Playground task completed successfully.",
                       "data": data}).encode()


class CallbackLoad:
    """Posts callbacks at a fixed rate from a few threads; records when each was posted."""

    def __init__(self, base_url: str, rate: float, workers: int = 16) -> None:
        self.base_url, self.rate = base_url, rate
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="bench-callback")
        self.local = threading.local()
        self.posted: dict[int, float] = {}
        self.answered: dict[int, float] = {}
        self.errors = 0

    def _post(self, job_id: int, token: str) -> None:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        body = _market_success(f"bench-task-{job_id}", job_id)
        url = f"{self.base_url}/kie/callback/{job_id}.{token}"
        posted = time.time()
        try:
            ok = session.post(url, data=body, timeout=10,
                              headers={"Content-Type": "application/json"}).status_code == 200
        except requests.RequestException:
            ok = False
        self.posted[job_id] = posted
        self.answered[job_id] = time.time()
        if not ok:
            self.errors += 1

    def run(self, jobs: list[tuple[int, int, str]]) -> float:
        """Post one callback per job, paced; return the achieved rate."""
        start = time.monotonic()
        for i, (job_id, _, token) in enumerate(jobs):
            delay = start + i / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the load generator's pacing, not synchronisation
            self.pool.submit(self._post, job_id, token)
        self.pool.shutdown(wait=True)
        return len(jobs) / max(1e-9, time.monotonic() - start)


# callback_inbox has no index on job_id: one pass over it for all the jobs (a subquery per
# job read the whole inbox once per job: 40 s with P8's 200,000 old callbacks).
_STAGES = b"""
WITH stored AS (
    SELECT job_id, min(received_at) AS at FROM callback_inbox
    WHERE job_id BETWEEN %(lo)s AND %(hi)s GROUP BY job_id),
moved AS (
    SELECT job_id, min(at) FILTER (WHERE to_state = 'succeeded') AS succeeded,
           min(at) FILTER (WHERE to_state = 'delivering') AS delivering
    FROM job_events WHERE job_id BETWEEN %(lo)s AND %(hi)s GROUP BY job_id)
SELECT j.id, EXTRACT(EPOCH FROM s.at)::float8 AS stored,
       EXTRACT(EPOCH FROM m.succeeded)::float8 AS succeeded,
       EXTRACT(EPOCH FROM m.delivering)::float8 AS delivering
FROM jobs AS j
LEFT JOIN stored AS s ON s.job_id = j.id
LEFT JOIN moved AS m ON m.job_id = j.id
WHERE j.id BETWEEN %(lo)s AND %(hi)s"""


def _stages(database_url: str, seeded: bench_seed.Seeded, posted: dict[int, float],
            sent: dict[int, float]) -> str:
    """Median time of each step, from the transaction start times PostgreSQL recorded."""
    with connect(database_url) as conn:
        rows = conn.execute(_STAGES, {"lo": seeded.lo, "hi": seeded.hi}).fetchall()
    steps: dict[str, list[float]] = {"stored": [], "succeeded": [], "delivering": [], "sent": []}
    for r in rows:
        job = int(r["id"])
        if job not in posted or job not in sent or None in (
                r["stored"], r["succeeded"], r["delivering"]):
            continue
        marks = [posted[job], r["stored"], r["succeeded"], r["delivering"], sent[job]]
        for name, a, b in zip(steps, marks, marks[1:], strict=False):
            steps[name].append((b - a) * 1000)
    return ", ".join(f"→ {name} {median(v):.1f} ms" for name, v in steps.items())


LOW_RATE = 10.0
"""P2 also runs a few seconds at this rate first: the latency of the path itself, unqueued."""


def p2_latency(env: BenchEnv, rate: float, seconds: float) -> list[Row]:
    """Jobs wait on KIE (seeded, one per chat); the bench plays KIE and posts their success
    callbacks, first for a few seconds at ``LOW_RATE`` per second, then for ``seconds`` at
    ``rate``. Latency: callback posted → the result's sendPhoto arriving at the Telegram
    emulator (wall clock of one machine)."""
    low_n, n = int(LOW_RATE * min(5.0, seconds)), int(rate * seconds)
    url = env.database("p2")
    seeded = bench_seed.submitted(url, low_n + n, chats=low_n + n, due_in=3600.0)  # no polls
    jobs = bench_seed.tokens(url, seeded)
    telegram_config = {"flood_limits": False, "strict_chats": False}
    with env.emulators(kie={"duration_s": 0}, telegram=telegram_config) as (kie, telegram), \
            env.node(url, kie, telegram, "p2", TRT_TELEGRAM_PER_S="100000") as node:
        low = phase(url, node, telegram, jobs[:low_n], LOW_RATE, seeded)
        high = phase(url, node, telegram, jobs[low_n:], rate, seeded)
    return [
        Row("P2", f"callback → send p50 at {rate:.0f}/s (ms)", f"{high.p50:.1f}", "≤ 5",
            high.p50 <= 5, high.note),
        Row("P2", f"callback → send p99 at {rate:.0f}/s (ms)", f"{high.p99:.1f}", "≤ 25",
            high.p99 <= 25),
        Row("P2", f"callback → send p50 / p99 at {LOW_RATE:.0f}/s (ms)",
            f"{low.p50:.1f} / {low.p99:.1f}", note=low.note),
    ]


@dataclass(frozen=True, slots=True)
class Latency:
    p50: float
    p99: float
    note: str


def phase(url: str, node: NodeProc, telegram: TelegramEmulator,
          jobs: list[tuple[int, int, str]], rate: float, seeded: bench_seed.Seeded) -> Latency:
    """Post the jobs' callbacks at ``rate``; wait until all are delivered; measure."""
    load = CallbackLoad(node.callback_url, rate)
    cpu_before, started, split = node.cpu_seconds(), time.time(), CpuSplit(node)
    achieved = load.run(jobs)
    cpu = (node.cpu_seconds() - cpu_before) / (time.time() - started)
    machine_load = f"{split.note()}; {load_note()}"
    ids = [job_id for job_id, _, _ in jobs]
    delivered = b"SELECT count(*) AS n FROM jobs WHERE state = 'delivered' AND id = ANY(%(ids)s)"
    wait_for(lambda: _count(url, delivered, ids=ids) >= len(jobs), 60 + len(jobs) / 10,
             "every job delivered", 0.1)
    sent: dict[int, float] = {}
    for job_id, chat_id, _ in jobs:
        media = [m for m in telegram.messages(chat_id) if m.get("media")]
        if media:
            sent[job_id] = float(media[0]["sent_at"])
    latencies = [(sent[j] - load.posted[j]) * 1000 for j in sent if j in load.posted]
    answers = [(load.answered[j] - load.posted[j]) * 1000 for j in load.answered]
    note = (f"{len(jobs)} callbacks at {achieved:.0f}/s; {len(sent)} results sent; "
            f"{load.errors} callbacks not answered 200; callback answered in "
            f"{median(answers):.1f} ms (p50); max {max(latencies, default=0):.0f} ms; "
            f"medians of the steps: posted {_stages(url, seeded, load.posted, sent)}; "
            f"the node process used {cpu:.0%} of one core while the callbacks came; "
            f"{machine_load}")
    return Latency(percentile(latencies, 50), percentile(latencies, 99), note)
