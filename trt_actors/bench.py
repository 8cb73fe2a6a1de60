"""``trt-node bench``: the core numbers, measured on this machine.

1. Jobs/s through the state machine — confirm, submit (an instant in-process KIE port),
   a success observation, delivering, delivered — with the real job actors and PostgreSQL,
   and database commits per job (from pg_stat_database).
2. RSS and threads with 100,000 jobs waiting on KIE, while the janitor sweeps.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil

from trt_actors import jobs, ledger
from trt_actors.alerts import Alerts
from trt_actors.catalog import load_catalog
from trt_actors.job_actor import JobDeps, SubmitPolicy, job_router
from trt_actors.messages import Source, SubmitJob, TaskObserved, TaskReport, TaskState
from trt_actors.outbox import JobMessages
from trt_actors.states import Cause, JobState
from trt_actors.store import Store


class InstantKie:
    """createTask answers at once; the bench then reports success itself."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def create_task(self, family: str, model_id: str, input: Mapping[str, Any],
                    callback_url: str | None) -> str:
        with self.lock:
            self.count += 1
            return f"bench-{self.count}"


def _commits(store: Store) -> int:
    with store.transaction() as tx:
        row = tx.raw("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    return int(row[0]["xact_commit"])


def pipeline(store: Store, n: int) -> dict[str, float]:
    catalog = load_catalog()
    deps = JobDeps(store=store, kie=InstantKie(), notifier=JobMessages(catalog), alerts=Alerts(),
                   validate=lambda m, v: dict(v), policy=SubmitPolicy())
    router = job_router(deps, max_active=32)
    ledger.grant(store, 1, n * 10, f"bench-grant-{time.time()}")
    model = catalog.get("google/nano-banana")
    stamp = time.time_ns()
    before = _commits(store)
    started = time.perf_counter()
    created = []
    for i in range(n):
        job, _ = jobs.confirm(store, jobs.NewJob(
            user_id=1, chat_id=1, model_id=model.id, family="market",
            input={"prompt": "bench"}, price=model.price or 0, free=False, expected_seconds=10,
            max_seconds=600, idempotency_key=f"bench-{stamp}-{i}"))
        created.append(job.id)
        router.route(job.id, SubmitJob(job.id))
    router.wait_idle(600)
    for job_id in created:
        task = store.all("tasks_of_job", job_id=job_id)[0]["task_id"]
        router.route(job_id, TaskObserved(job_id, TaskReport(
            task, TaskState.SUCCESS, ("https://example.invalid/r.png",)), Source.CALLBACK))
    router.wait_idle(600)
    for job_id in created:  # what the delivery actor does around a send
        with store.transaction() as tx:
            jobs.move(tx, job_id, JobState.DELIVERING, Cause.DELIVERY)
        with store.transaction() as tx:
            jobs.move(tx, job_id, JobState.DELIVERED, Cause.DELIVERY)
    elapsed = time.perf_counter() - started
    commits = _commits(store) - before
    router.close()
    return {"jobs": n, "seconds": elapsed, "jobs_per_s": n / elapsed,
            "commits_per_job": commits / n}


def waiting(store: Store, n: int) -> dict[str, float]:
    from trt_actors.janitor import Janitor, JanitorPolicy
    from trt_actors.router import Router
    from trt_actors.ticker import Ticker

    with store.transaction() as tx:
        tx.raw("INSERT INTO users (id, available) VALUES (2, 0) ON CONFLICT DO NOTHING")
        tx.raw(f"""
            INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, callback_token,
                              expected_seconds, deadline_at, next_check_at)
            SELECT 2, 2, 'z-image', 'market', '{{}}', 0, 'tok' || g, 60,
                   now() + interval '1 day', now() + interval '1 hour'
            FROM generate_series(1, {n}) AS g""")
        tx.raw("UPDATE jobs SET state = 'submitting' WHERE user_id = 2")
        tx.raw("UPDATE jobs SET state = 'submitted' WHERE user_id = 2")
    ticker = Ticker()
    router = Router("bench", lambda key, r: None, max_active=32)  # type: ignore[arg-type,return-value]
    janitor = Janitor.start(store, router, lambda body: None, ticker, JanitorPolicy(interval=0.5))
    started = time.perf_counter()
    while time.perf_counter() - started < 3:
        time.sleep(0.1)
    proc = psutil.Process()
    result = {"jobs_waiting": n, "rss_mb": proc.memory_info().rss / 2**20,
              "threads": threading.active_count()}
    janitor.stop()
    ticker.stop()
    return result


def main(conninfo: str | None = None, n_pipeline: int = 1000, n_waiting: int = 100_000) -> int:
    from trt_actors.embedded_pg import EmbeddedPostgres
    from trt_actors.migrations import migrate

    embedded = None
    if conninfo is None:
        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="trt-bench-")) / "pg")
        conninfo = embedded.start()
    migrate(conninfo)
    store = Store(conninfo, min_size=4, max_size=40).open()
    try:
        p = pipeline(store, n_pipeline)
        w = waiting(store, n_waiting)
    finally:
        store.close()
        if embedded is not None:
            embedded.stop()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    print(f"{'metric':44} value")
    print(f"{'state machine jobs/s (instant KIE, ' + str(p['jobs']) + ' jobs)':44} "
          f"{p['jobs_per_s']:.1f}")
    print(f"{'database commits per job':44} {p['commits_per_job']:.1f}")
    print(f"{'RSS with ' + str(w['jobs_waiting']) + ' jobs waiting on KIE (MB)':44} "
          f"{w['rss_mb']:.0f}  (target <= 250)")
    print(f"{'threads with ' + str(w['jobs_waiting']) + ' jobs waiting':44} "
          f"{w['threads']}  (target <= 64)")
    return 0
