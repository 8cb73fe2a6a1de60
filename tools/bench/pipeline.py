"""P1: full-pipeline throughput against PostgreSQL's own commit rate, and the cost of a job,
for each number of worker processes side by side with the plain bot's baseline (P2, the
callback → send latency, is in :mod:`tools.bench.latency`)."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict, TypeVar

from sandbox.telegram_emulator import TelegramEmulator
from tools.bench import seed as bench_seed
from tools.bench.baseline import BASELINE, NodeRun, plan_of, run_baseline
from tools.bench.baseline import rows as baseline_rows
from tools.bench.cost import Commits, JobCost, bot_api_calls, per_method
from tools.bench.cpu import CpuSplit, NodeCpu
from tools.bench.env import (
    BenchEnv,
    Row,
    count,
    load_note,
    next_xid,
    wait_for,
)
from tools.bench.main import BROKEN

FIRST_USER = 500_000
log = logging.getLogger("trt.bench")
T = TypeVar("T")


class TelegramPacing(TypedDict):
    """The node's Telegram pacing settings (a TypedDict: ``**`` passes exactly these)."""

    TRT_TELEGRAM_PER_S: str
    TRT_TELEGRAM_PER_CHAT_S: str


UNLIMITED_TELEGRAM = TelegramPacing(TRT_TELEGRAM_PER_S="100000", TRT_TELEGRAM_PER_CHAT_S="100000")
"""The node's own Telegram pacing, lifted where the emulator's flood limits are off."""


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
    wait_for(lambda: count(url, delivered) >= users.stop - FIRST_USER
             and count(url, done) == 0, 60 + len(users), "the paced jobs delivered", 0.1)
    calls = per_method(before, bot_api_calls(telegram))
    return JobCost(0.0, sum(calls.values()) / len(users), 0.0, calls, len(users))


@dataclass(frozen=True, slots=True)
class P1Run:
    """One P1 run: ``n`` jobs through a fresh node of ``workers`` worker processes."""

    workers: int
    jobs_per_s: float
    writes: float
    """Write transactions per job (transaction ids handed out)."""
    cost: JobCost
    pool: int
    """The node's connection pool size (a worker's)."""
    paced: JobCost | None
    note: str

    def node_run(self) -> NodeRun:
        return NodeRun(self.workers, self.jobs_per_s, self.cost.cpu_ms, self.writes,
                       self.cost.commits, self.cost.calls)


def processes(workers: int) -> str:
    return "1 process" if workers == 1 else f"a parent and {workers} worker processes"


def each_count(test: str, workers: list[int], run: Callable[[int], T]) -> tuple[
        dict[int, T], list[Row]]:
    """``run(w)`` for every worker count; a count whose run breaks is one failed row (the
    others' numbers stand)."""
    done: dict[int, T] = {}
    failed: list[Row] = []
    for n in workers:
        print(f"bench: {test} with workers = {n} ...", flush=True)
        try:
            done[n] = run(n)
        except Exception as exc:
            log.error("%s with workers = %d failed:\n%s", test, n, traceback.format_exc())
            failed.append(Row(test, BROKEN, type(exc).__name__, met=False,
                              note=f"workers = {n}: {str(exc)[:300]}"))
    return done, failed


def p1_throughput(env: BenchEnv, n: int, pgbench_seconds: int, workers: list[int]) -> list[Row]:
    """P1 for each worker count (a fresh database and node each), then the plain bot's
    baseline making the first run's Bot API calls per job, and pgbench for the first run's
    pool size. The first run's rows are the detailed ones; every run has one row of ratios
    to the baseline."""
    runs, failed = each_count("P1", workers,
                              lambda w: _p1_run(env, n, w, paced=w == workers[0]))
    if not runs:
        return failed
    first = next(iter(runs.values()))
    pg_tps = env.pgbench(first.pool, pgbench_seconds)
    ratio = first.jobs_per_s * first.writes / pg_tps
    try:  # the same users, the same presses, the node's calls per job: side by side
        base = run_baseline(env, n, plan_of(first.cost.methods, n), FIRST_USER)
        versus = baseline_rows(base, [r.node_run() for r in runs.values()],
                               {w: r.note for w, r in runs.items() if r is not first})
    except Exception as exc:  # P1's own numbers stand without it
        log.error("P1 baseline failed:\n%s", traceback.format_exc())
        versus = [Row("P1", f"{BASELINE}: failed", type(exc).__name__, met=False,
                      note=str(exc)[:300])]
    paced = first.paced
    return [
        Row("P1", "pipeline jobs/s (confirm → delivered)", f"{first.jobs_per_s:.1f}",
            note=f"workers = {first.workers}: {first.note}; pgbench: {first.pool} clients "
                 f"(the node's pool size), {pgbench_seconds} s"),
        Row("P1", "write transactions (commits) per job", f"{first.writes:.1f}"),
        *first.cost.rows("P1"),
        *([Row("P1", f"Bot API calls per job, {PACED_RATE:.0f} presses/s (no queue)",
               f"{paced.calls:.2f}", note=paced.calls_note())] if paced else []),
        Row("P1", f"PostgreSQL commits/s, pgbench -c {first.pool}", f"{pg_tps:.0f}"),
        Row("P1", "our commit rate / PostgreSQL's", f"{ratio:.2f}", "≥ 0.5", ratio >= 0.5),
        *versus,
        *failed,
    ]


def _p1_run(env: BenchEnv, n: int, workers: int, *, paced: bool) -> P1Run:
    """Users each press the confirm button of a ``/gen`` order once; the clock runs from the
    first press until the database records the last job DELIVERED (the result is in the
    Telegram emulator by then). KIE answers and calls back at once, no flood limits. CPU is
    the whole node's: every process of it. With several workers the clock starts once each
    has its share of KIE's create budget (a worker joining others has none for a window)."""
    url = env.database("p1")
    kie_config = {"duration_s": 0, "rate_limits": False}
    with env.emulators(kie=kie_config, telegram={"flood_limits": False}) as (kie, telegram), \
            env.node(url, kie, telegram, f"p1-w{workers}",
                     overrides={"kie_create_per_10s": 1_000_000},
                     TRT_WELCOME_CREDITS="100", TRT_WORKERS=str(workers),
                     **UNLIMITED_TELEGRAM) as node:
        users = range(FIRST_USER, FIRST_USER + n)
        screens = _orders(telegram, users)
        xid_before = next_xid(url)
        commits = Commits(url)
        calls_before = bot_api_calls(telegram)
        cpu, split = NodeCpu(node), CpuSplit(node)
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
        cpu_s, cores = cpu.seconds(), cpu.cores()
        calls = per_method(calls_before, bot_api_calls(telegram))
        load = f"{split.note()}; {load_note()}"
        pool = node.status()["db_pool"]
        results = sum(1 for user in users for m in telegram.messages(user) if m.get("media"))
        committed = commits.total()
        extra = range(FIRST_USER + n, FIRST_USER + n + n // 10)
        paced_cost = _paced_calls(url, telegram, extra) if paced else None
    elapsed = finished - started
    settled = (f"; measured once the partitions were balanced and every worker had run "
               f"{node.settle:.1f} s"
               if workers > 1 else "")
    note = (f"{n} jobs in {elapsed:.1f} s; {results} results in the Telegram emulator; "
            f"the node ({processes(workers)}) used {cores:.0%} of one core; {load}{settled}")
    return P1Run(workers, n / elapsed, writes / n,
                 JobCost(committed / n, sum(calls.values()) / n, cpu_s * 1000 / n, calls, n),
                 int(pool.get("pool_size") or pool.get("pool_max") or 16), paced_cost, note)
