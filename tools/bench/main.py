"""``trt-node bench``: the node's numbers on this machine, against its targets.

    P1  full-pipeline jobs/s (confirm → createTask → callback → delivered) with zero-latency
        emulators, write transactions per job, and the ratio to PostgreSQL's own commit rate
        (pgbench, same server, same number of clients)                        target ≥ 0.5
        the cost of a job: PostgreSQL commits, Bot API calls and the node's CPU ms per job
        (every process of the node); beside it the baseline, a plain python-telegram-bot bot
        making the same Bot API calls per job with no database (tools/bench/plain_bot.py),
        and P1's jobs/s and CPU per job as ratios to it, for workers = 1, 2 and the machine's
        cores (``--workers``), each in a fresh database and node      ≥ 1.0×; ≤ 2×
    P2  callback received → Telegram send, p50 / p99 at 100 callbacks/s      ≤ 5 / ≤ 25 ms
        the same for each worker count                                   p99 ≤ 100 ms
    P3  100,000 and 1,000,000 jobs waiting on KIE: RSS, threads, /status time
                                                                ≤ 250 MB, ≤ 64, < 100 ms
    P4  every callback dropped: task completion → detection; status queries per second
                                           ≤ max(3 s, 10 % of the task time); ≤ the limit
    P5  3,000 results across 300 chats: drain rate vs 30 msg/s, 429s, per-chat rate
                                                                       ≥ 95 %, zero 429s
    P6  kill -9 with 100,000 in flight: exec → /readyz and → first status poll        ≤ 5 s
    P7  while 20 users each send a 10 MB photo, other users' /balance p99 over its idle p99
        (same run); a 5 MB photo → the wizard's next question, p50 / max            ≤ 2×
    P8  1,000,000 rows older than the retention: P2's callback → send p99 at 10/s while the
        janitor purges them, over the same without a purge; rows left beyond the retention
                                                                                ≤ 2×; 0
    P9  answers first, side by side: (a) one user's /start → menu; (b) 200 users' /start at
        once → menu, max vs the floor of one message each at 30/s; (c) a button press →
        its answer p99 while 1,000 results drain; 429s      ≤ 150 ms; ≤ 1.2×; ≤ 1 s; 0

Everything runs on an embedded PostgreSQL of its own (a fresh database per benchmark), with
the emulated KIE and Telegram in this process and the real node as a subprocess. ``--quick``
runs small sizes (under two minutes); ``--only P1,P3`` a subset; ``--workers 1,2`` P1's and
P2's worker counts. A full run writes the table into ``BENCHMARKS.md`` between its bench
markers and keeps everything else there (the hand-written analysis and before/after notes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the bench's heavy imports load only when it runs (run_node builds its
    # argument parser from this module on every start)
    from tools.bench.env import BenchEnv, Row

log = logging.getLogger("trt.bench")

ROOT = Path(__file__).resolve().parents[2]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
ALL = ("P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9")
BROKEN = "benchmark failed"


@dataclass(frozen=True, slots=True)
class Sizes:
    p1_jobs: int = 1000
    pgbench_s: int = 10
    p2_rate: float = 100.0
    p2_seconds: float = 20.0
    waiting_jobs: int = 100_000
    p3_observe_s: float = 20.0
    waiting_jobs_large: int = 1_000_000
    """P3 again at this size (P3 only: P6 stays at ``waiting_jobs``)."""
    p4_jobs: int = 200
    p4_task_s: float = 20.0
    p5_results: int = 3000
    p5_chats: int = 300
    p8_rows: int = 1_000_000
    p8_seconds: float = 60.0
    """Each of P8's two phases: callbacks at 10/s for this long (600 latencies: the p99 is
    the 6th slowest, not the 3rd of 300, which one hiccup of a shared machine moves)."""
    p7_users: int = 20
    p7_photo_mb: int = 10
    p7_timed: int = 5
    p7_timed_mb: int = 5
    p7_idle_s: float = 10.0
    p9_single: int = 10
    p9_users: int = 200
    p9_backlog: int = 1000
    p9_press_rate: float = 10.0
    """P9 (c): button presses per second (a third of the bot-wide limit: the rest is the
    backlog's)."""
    p7_rounds: int = 3


FULL = Sizes()
QUICK = Sizes(p1_jobs=60, pgbench_s=3, p2_seconds=3.0, waiting_jobs=10_000, p3_observe_s=4.0,
              p4_jobs=16, p4_task_s=4.0, p5_results=150, p5_chats=30,
              waiting_jobs_large=20_000, p8_rows=20_000, p8_seconds=3.0,
              p7_users=5, p7_photo_mb=2, p7_timed=2, p7_idle_s=3.0, p7_rounds=1,
              p9_single=3, p9_users=30, p9_backlog=100)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``trt-node bench`` (run_node.py's subparser)."""
    parser.add_argument("--quick", action="store_true",
                        help="small sizes: the whole run in under two minutes")
    parser.add_argument("--only", default=",".join(ALL),
                        help="comma-separated subset, e.g. P1,P3 (default: all)")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="sample every node process with py-spy (collapsed stacks in DIR)")
    parser.add_argument("--output", type=Path, default=None,
                        help="where to write the report (default: BENCHMARKS.md for a full "
                             "run of everything, nowhere for --quick or --only)")
    parser.add_argument("--workers", type=worker_list, default=None, metavar="N,N",
                        help="P1 and P2 once for each of these worker counts, e.g. 1,2 "
                             "(default: 1, 2 and the machine's cores)")


def workers_counts() -> list[int]:
    """P1's and P2's worker counts: 1, 2 and the cores this process may run on."""
    return sorted({1, 2, len(os.sched_getaffinity(0))})


def worker_list(text: str) -> list[int]:
    """``--workers``: comma-separated positive counts, e.g. ``1,2``."""
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        counts = []
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give worker counts of 1 or more, e.g. 1,2")
    return counts


def run_selected(env: BenchEnv, only: list[str], sizes: Sizes,
                 workers: list[int] | None = None) -> list[Row]:
    """Run the chosen benchmarks in order (P1 and P2 once per worker count, default
    ``workers_counts()``); a benchmark that breaks is one failed row."""
    from tools.bench import answers as bench_answers
    from tools.bench import delivery as bench_delivery
    from tools.bench import latency as bench_latency
    from tools.bench import media as bench_media
    from tools.bench import pipeline as bench_pipeline
    from tools.bench import retention as bench_retention
    from tools.bench import waiting as bench_waiting
    from tools.bench.env import Row

    s, workers = sizes, workers or workers_counts()
    plan: list[tuple[tuple[str, ...], Callable[[], list[Row]]]] = [
        (("P1",), lambda: bench_pipeline.p1_throughput(env, s.p1_jobs, s.pgbench_s, workers)),
        (("P2",), lambda: bench_latency.p2_latency(env, s.p2_rate, s.p2_seconds, workers)),
        (("P3", "P6"), lambda: bench_waiting.p3_p6_waiting(
            env, s.waiting_jobs, s.p3_observe_s, p3="P3" in only, p6="P6" in only)),
        (("P3",), lambda: bench_waiting.p3_p6_waiting(
            env, s.waiting_jobs_large, s.p3_observe_s, p3=True, p6=False)),
        (("P4",), lambda: bench_waiting.p4_dropped(env, s.p4_jobs, s.p4_task_s)),
        (("P5",), lambda: bench_delivery.p5_backlog(env, s.p5_results, s.p5_chats)),
        (("P7",), lambda: bench_media.p7_uploads(
            env, s.p7_users, s.p7_photo_mb, s.p7_timed, s.p7_timed_mb, s.p7_idle_s,
            s.p7_rounds)),
        (("P8",), lambda: bench_retention.p8_purge(env, s.p8_rows, s.p8_seconds)),
        (("P9",), lambda: bench_answers.p9_answers(env, s.p9_single, s.p9_users,
                                                   s.p9_backlog, s.p9_press_rate)),
    ]
    rows: list[Row] = []
    for tests, bench in plan:
        if not any(t in only for t in tests):
            continue
        print(f"bench: running {'+'.join(t for t in tests if t in only)} ...", flush=True)
        try:
            rows += bench()
        except Exception as exc:  # one broken benchmark must not hide the others' numbers
            log.error("bench %s failed:\n%s", tests, traceback.format_exc())
            rows.append(Row(tests[0], BROKEN, type(exc).__name__, met=False,
                            note=str(exc)[:300]))
    return rows


def machine() -> str:
    import psutil

    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ram = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores, {ram:.0f} GiB RAM, {model}; Linux "
            f"{platform.release()}; Python {platform.python_version()}")


def table(rows: list[Row]) -> str:
    """The rows as one Markdown table (also readable as plain text)."""
    lines = ["| test | metric | value | target | met |", "|---|---|---|---|---|"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        if r.met is False and r.missed:
            met += f": missed by {r.missed}"
        lines.append(f"| {r.test} | {r.metric} | {r.value} | {r.target} | {met} |")
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    return "\n".join(f"- **{r.test}** {r.metric}: {r.note}" for r in rows if r.note)


def report(rows: list[Row], command: str, pg_version: str, quick: bool) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    verdicts = [r for r in rows if r.met is not None]
    met = sum(1 for r in verdicts if r.met)
    return "\n".join([
        BEGIN,
        f"Measured {stamp}{' (quick sizes)' if quick else ''} with `{command}`.",
        "",
        f"Machine: {machine()}; {pg_version} (embedded, default settings).",
        "",
        table(rows),
        "",
        f"{met} of {len(verdicts)} targets met. Measured alongside:",
        "",
        notes(rows),
        END,
    ])


def write_report(path: Path, generated: str) -> None:
    """Replace the generated block of ``path`` (or create the file around it)."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + generated + rest.split(END, 1)[1]
        else:
            text = text.rstrip() + "\n\n" + generated + "\n"
    else:
        text = f"# Benchmarks\n\nWritten by `trt-node bench`.\n\n{generated}\n"
    path.write_text(text, encoding="utf-8")


def main(args: argparse.Namespace) -> int:
    only = [t.strip().upper() for t in str(args.only).split(",") if t.strip()]
    unknown = [t for t in only if t not in ALL]
    if unknown:
        print(f"trt-node bench: unknown benchmark(s) {', '.join(unknown)}; "
              f"choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    sizes = QUICK if args.quick else FULL
    program = Path(sys.argv[0]).name
    command = " ".join([*(["python"] if program.endswith(".py") else []), program, *sys.argv[1:]])
    from tools.bench.env import BenchEnv

    env = BenchEnv(profile=args.profile).start()
    try:
        rows = run_selected(env, only, sizes, args.workers)
        pg_version = env.server_version()
    finally:
        env.close()
    print()
    print(table(rows))
    print()
    print(notes(rows))
    output = args.output
    if output is None and not args.quick and set(only) == set(ALL):
        output = ROOT / "BENCHMARKS.md"
    if output is not None:
        write_report(output, report(rows, command, pg_version, args.quick))
        print(f"\nbench: report written to {output}")
    # Targets are reported, not enforced: only a benchmark that could not run fails the command.
    return 1 if any(r.metric == BROKEN for r in rows) else 0
