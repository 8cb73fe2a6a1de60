"""P8: the retention's purge of a large backlog does not slow the pipeline.

A database holds ``n`` rows older than the retention (events of delivered jobs, handled
updates, sent results, settled callbacks: ``seed.purgeable``) and jobs waiting on KIE. P2's
unqueued measurement — callbacks posted at 10/s, callback → the result's send at the Telegram
emulator — runs twice in the same run on the same database: first under a node whose
retention is longer than the rows' age (nothing to purge), then under a node with the
default 30 days, whose janitor starts purging the backlog at its first sweep. The p99 during
the purge over the p99 without it is the row; the purge must then finish with no row older
than the retention left.
"""

from __future__ import annotations

import time

from tools.bench import seed as bench_seed
from tools.bench.env import BenchEnv, Row, connect, wait_for
from tools.bench.latency import LOW_RATE, phase

RETENTION_DAYS = 30
NOTHING_TO_PURGE_DAYS = 36_500
"""The first node's retention: longer than any seeded row's age."""

# The rows each purge query would delete (the same predicates as sql/queries.sql).
_BEYOND = b"""
WITH cutoff AS (SELECT now() - make_interval(days => %(days)s) AS t)
SELECT (SELECT count(*) FROM telegram_updates, cutoff WHERE handled_at < cutoff.t)
         AS telegram_updates,
       (SELECT count(*) FROM outbox, cutoff WHERE status IN ('sent', 'failed')
          AND COALESCE(sent_at, created_at) < cutoff.t) AS outbox,
       (SELECT count(*) FROM callback_inbox, cutoff
         WHERE status IN ('applied', 'rejected', 'malformed', 'expired')
           AND COALESCE(handled_at, received_at) < cutoff.t) AS callback_inbox,
       (SELECT count(*) FROM job_events AS e JOIN jobs AS j ON j.id = e.job_id, cutoff
         WHERE e.at < cutoff.t AND j.state IN ('delivered', 'failed')
           AND j.finished_at < cutoff.t) AS job_events"""

TABLES = ("telegram_updates", "outbox", "callback_inbox", "job_events")
WARM_UP = 10
"""Callbacks posted before each measured phase: a fresh node's first ones are slow (imports,
connections), in both phases alike."""


def _beyond(url: str) -> dict[str, int]:
    with connect(url) as conn:
        row = conn.execute(_BEYOND, {"days": RETENTION_DAYS}).fetchone()
    assert row is not None
    return {k: int(v) for k, v in row.items()}


def _sizes(url: str) -> str:
    """Exact rows and size on disk (with indexes) of the purged tables."""
    with connect(url) as conn:
        found = [conn.execute(f"SELECT count(*) AS n, pg_total_relation_size('{name}') AS b "
                              f"FROM {name}".encode()).fetchone() for name in TABLES]
    return "; ".join(f"{name} {int(r['n']):,} rows, {int(r['b']) / 2**20:.0f} MB"
                     for name, r in zip(TABLES, found, strict=True) if r is not None)


def p8_purge(env: BenchEnv, n: int, seconds: float) -> list[Row]:
    url = env.database("p8")
    per_phase = int(LOW_RATE * seconds)
    n_jobs = 2 * (WARM_UP + per_phase)
    seeded = bench_seed.submitted(url, n_jobs, chats=n_jobs, due_in=3600.0)
    jobs = bench_seed.tokens(url, seeded)
    warm_up = [jobs[:WARM_UP], jobs[WARM_UP + per_phase:2 * WARM_UP + per_phase]]
    measured = [jobs[WARM_UP:WARM_UP + per_phase], jobs[2 * WARM_UP + per_phase:]]
    started = time.monotonic()
    bench_seed.purgeable(url, n)
    seeded_s = time.monotonic() - started
    with connect(url) as conn:  # the seeding's own autovacuum must not land in a phase
        conn.execute(b"VACUUM ANALYZE")
    before = _beyond(url)
    sizes_before = _sizes(url)
    telegram_config = {"flood_limits": False, "strict_chats": False}
    with env.emulators(kie={"duration_s": 0}, telegram=telegram_config) as (kie, telegram):
        with env.node(url, kie, telegram, "p8-keep", TRT_TELEGRAM_PER_S="100000",
                      TRT_RETENTION_DAYS=str(NOTHING_TO_PURGE_DAYS)) as node:
            phase(url, node, telegram, warm_up[0], LOW_RATE, seeded)
            calm = phase(url, node, telegram, measured[0], LOW_RATE, seeded)
        kept = _beyond(url)
        with env.node(url, kie, telegram, "p8-purge", TRT_TELEGRAM_PER_S="100000",
                      TRT_RETENTION_DAYS=str(RETENTION_DAYS)) as node:
            phase(url, node, telegram, warm_up[1], LOW_RATE, seeded)
            busy = phase(url, node, telegram, measured[1], LOW_RATE, seeded)
            measured_s = time.time() - node.exec_at
            left = sum(_beyond(url).values())
            wait_for(lambda: sum(_beyond(url).values()) == 0, 60 + n / 1000,
                     "every row older than the retention purged", poll=1.0)
            purge_s = time.time() - node.exec_at
            after = _beyond(url)
            sizes_after = _sizes(url)
    ratio = busy.p99 / calm.p99
    overlap = (f"{left:,} rows were still to purge when the measured callbacks were done "
               f"({measured_s:.0f} s after the node's start)" if left else
               f"**the purge ended before the measured callbacks did** ({purge_s:.0f} s vs "
               f"{measured_s:.0f} s): part of the phase ran without it")
    purged = sum(before.values())
    return [
        Row("P8", "callback → send p99 at 10/s, without / during the purge (ms)",
            f"{calm.p99:.1f} / {busy.p99:.1f}",
            note=f"p50 {calm.p50:.1f} / {busy.p50:.1f} ms; {per_phase} callbacks per phase; "
                 f"{overlap}. Without: {calm.note}. During: {busy.note}"),
        Row("P8", "p99 during the purge / without", f"{ratio:.2f}", "≤ 2", ratio <= 2),
        Row("P8", f"rows older than the retention after purging {purged:,}",
            f"{sum(after.values())}", "0", sum(after.values()) == 0 and kept == before,
            note=f"seeded {purged:,} rows older than {RETENTION_DAYS} days "
                 f"({', '.join(f'{k} {v:,}' for k, v in before.items())}) in {seeded_s:.0f} s; "
                 f"the node with a longer retention deleted "
                 f"{sum(before.values()) - sum(kept.values())}; the janitor purged them in "
                 f"{purge_s:.0f} s from the node's start ({purged / purge_s:,.0f} rows/s); "
                 f"tables before: {sizes_before}; after: {sizes_after} (the space of deleted "
                 f"rows is reused by new ones, not returned to the file system)"),
    ]
