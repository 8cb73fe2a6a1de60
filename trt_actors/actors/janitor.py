"""The janitor: finds work the database says is due, and hands it to the job actors.

It is how the node recovers: after a crash or restart nothing is remembered in memory, and
the sweep finds every job that is due — created and never submitted, stuck in submitting,
past its deadline — and every stored callback that was never applied, and routes each one
to its job actor, and every Telegram update whose handling failed (past its backoff) to its
chat actor. It is also how parked orphan callbacks are claimed and expired.

After each sweep it keeps the tables in bounds (``fold_job_counts``, ``purge``): it folds the
job counters /status reads, and deletes rows done with for longer than the retention
(``TRT_RETENTION_DAYS``), a small batch per statement, for a bounded time per sweep.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from supervision import SupervisedActor
from trt_actors.actors.router import Router
from trt_actors.actors.ticker import Ticker
from trt_actors.domain import orphans
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.orphans import OrphanCap
from trt_actors.errors import DatabaseUnavailable
from trt_actors.infra.store import Store
from trt_actors.messages import (
    CheckDeadline,
    Source,
    SubmitJob,
    Sweep,
    TaskObserved,
    TaskReport,
    UpdateReceived,
)

log = logging.getLogger("trt.janitor")

ReportParser = Callable[[bytes], TaskReport | None]
"""Turns a stored callback body into a report (None when it has nothing final to say)."""


@dataclass(frozen=True, slots=True)
class JanitorPolicy:
    interval: float = 1.0
    """Seconds between sweeps."""
    batch: int = 500
    """Jobs handed per kind of work per sweep."""
    lease: float = 30.0
    """Seconds a handed job is left alone before it may be handed again."""
    stale_inbox: float = 10.0
    """A stored callback not applied after this long is handed again."""
    orphan_ttl: float = 24 * 3600.0
    """Parked callbacks nobody claimed are expired (kept, counted) after this long."""
    orphan_cap: OrphanCap = field(default_factory=OrphanCap)
    """Rows and bytes parked callbacks may hold (``TRT_ORPHAN_MAX_ROWS`` / ``_BYTES``)."""
    retention: float | None = 30 * 86400.0
    """Seconds rows that are done with are kept (``TRT_RETENTION_DAYS``); None: forever."""
    purge_batch: int = 1000
    """Rows one purge statement deletes at most: each is its own short transaction, so no
    lock is held for long and the pipeline's commits are not queued behind a big delete."""
    purge_budget: float = 0.05
    """Seconds of purging per sweep at most. A batch takes a few ms (bench P8: 10,000-16,000
    rows per second at 5 % of the janitor's time; a bot's day of rows in seconds), so a
    backlog of a million rows is worked off in a minute or two, never in one go that would
    take the database from the pipeline."""
    fold_batch: int = 10_000
    """Job counter deltas folded per statement."""


PURGES = ("purge_updates", "purge_outbox", "purge_callbacks", "purge_job_events",
          "purge_broadcast_recipients")
"""The retention's named queries, one per table (sql/queries.sql says what each keeps)."""


class Janitor(SupervisedActor):
    """Periodic sweeper; stateless, so restarting it loses nothing."""

    def __init__(self, store: Store, jobs: Router, parse: ReportParser, ticker: Ticker,
                 policy: JanitorPolicy | None = None,
                 submit_budget: Callable[[], int] | None = None,
                 chats: Router | None = None, alerts: Alerts | None = None,
                 parts: Callable[[], list[int] | None] = lambda: None,
                 leader: Callable[[], bool] = lambda: True) -> None:
        super().__init__()
        self.parts = parts
        """The partitions whose jobs, updates and callbacks this janitor sweeps (``None``:
        all; ``Leases.parts`` when several workers share the database)."""
        self.leader = leader
        """Whether this worker holds the janitor lease: the node-wide sweeps (parked
        callbacks, retention, counters) run on one worker only."""
        self.store, self.jobs, self.parse, self.ticker = store, jobs, parse, ticker
        self.policy = policy or JanitorPolicy()
        self.submit_budget = submit_budget
        """createTask calls KIE allows right now (None: no limit known): the janitor hands
        no more submits than that, so the oldest jobs go first and none is handed only to
        be postponed."""
        self.chats = chats
        """The chat router: Telegram updates due again (a failed handling) are handed to it
        (None: no update sweep)."""
        self.alerts = alerts
        """Where the orphan cap's alert is raised and cleared (None: not shown)."""
        self.orphans_seen_at: datetime | None = None
        """When the orphan cap was last looked at (database clock), for its alert."""
        self.sweeps = 0
        self.db_down = False

    def on_start(self) -> None:
        self.ticker.every(self.policy.interval, self.actor_ref, Sweep())

    def on_receive(self, message: Any) -> Any:
        match message:
            case Sweep():
                self._sweep_logged()
            case _:
                log.warning("janitor: unexpected message %r", message)
        return None

    def _sweep_logged(self) -> None:
        """A sweep; a database outage is logged once when it starts and once when it ends."""
        try:
            self.sweep()
            if self.leader():
                self.fold_job_counts()
                self.purge()
                self.store.run("workers_forget")  # /status lists only recent workers
        except DatabaseUnavailable as exc:
            if not self.db_down:
                log.warning("janitor: %s; will retry every sweep", exc)
            self.db_down = True
        else:
            if self.db_down:
                log.warning("janitor: database back")
            self.db_down = False

    def sweep(self) -> dict[str, int]:
        """One pass over every kind of due work; returns how many of each were handed."""
        p = self.policy
        counts: dict[str, int] = {}
        # Deadlines first: a job past its deadline is ended, not handed as a submit.
        parts = self.parts()
        rows = self.store.all("jobs_past_deadline", limit=p.batch, lease=p.lease, parts=parts)
        for row in rows:
            self.jobs.route(row["id"], CheckDeadline(row["id"]))
        counts["deadline"] = len(rows)
        limit = p.batch if self.submit_budget is None else min(p.batch, self.submit_budget())
        rows = self.store.all("jobs_due_submit", limit=limit, lease=p.lease,
                              parts=parts) if limit > 0 else []
        for row in rows:
            self.jobs.route(row["id"], SubmitJob(row["id"]))
        counts["submit"] = len(rows)
        counts["updates"] = self._updates_due(parts)
        leader = self.leader()
        with self.store.transaction() as tx:
            stale = tx.all("inbox_stale", older_than=p.stale_inbox, limit=p.batch, parts=parts)
            claimed = []
            if leader:
                tx.one("orphans_lock")  # a trim by the gateway never crosses the claim
                claimed = tx.all("orphans_claim")
                counts["expired"] = tx.run("orphans_expire", ttl=p.orphan_ttl)
                # The gateway trims as it parks; this catches a cap lowered since (a restart).
                counts["capped"] = orphans.trim(tx, p.orphan_cap)
        if self.alerts is not None and leader:
            self.orphans_seen_at = orphans.watch(self.store, p.orphan_cap, self.alerts,
                                                 self.orphans_seen_at)
        for row in [*stale, *claimed]:
            self._replay(row["id"], row["job_id"], bytes(row["body"]))
        counts["inbox"], counts["claimed"] = len(stale), len(claimed)
        self.sweeps += 1
        if any(counts.values()):
            log.debug("janitor sweep: %s", counts)
        return counts

    def fold_job_counts(self) -> int:
        """Fold up to ``fold_batch`` of the job counters' deltas (what /status reads is exact
        either way; folding keeps the deltas few, so reading them stays cheap). Moves add a
        few deltas per statement, far fewer than a batch per sweep. Returns the counter rows
        changed."""
        return self.store.run("job_counts_fold", limit=self.policy.fold_batch)

    def purge(self) -> dict[str, int]:
        """Retention: delete rows done with for longer than ``policy.retention``, a batch per
        statement, table by table, until nothing is left or ``purge_budget`` is spent (the
        rest waits for the next sweep). Returns the rows deleted, by query."""
        p = self.policy
        purged = dict.fromkeys(PURGES, 0)
        if p.retention is None:
            return purged
        age, limit, db = p.retention, p.purge_batch, self.store
        batch: dict[str, Callable[[], int]] = {  # literal names: tests/unit/test_sql.py
            "purge_updates": lambda: db.run("purge_updates", older_than=age, limit=limit),
            "purge_outbox": lambda: db.run("purge_outbox", older_than=age, limit=limit),
            "purge_callbacks": lambda: db.run("purge_callbacks", older_than=age, limit=limit),
            "purge_job_events": lambda: db.run("purge_job_events", older_than=age, limit=limit),
            "purge_broadcast_recipients": lambda: db.run(
                "purge_broadcast_recipients", older_than=age, limit=limit),
        }
        deadline = time.monotonic() + p.purge_budget
        todo = list(PURGES)
        while todo:  # at least one batch per table per sweep, however small the budget
            for name in list(todo):
                n = batch[name]()
                purged[name] += n
                if n < p.purge_batch:  # that table is within the retention now
                    todo.remove(name)
            if time.monotonic() >= deadline:
                break
        if any(purged.values()):
            log.debug("janitor purge: %s", purged)
        return purged

    def _updates_due(self, parts: list[int] | None) -> int:
        """Hand every Telegram update due again (a failed handling past its backoff) to its
        chat actor, oldest first; the number handed."""
        if self.chats is None:
            return 0
        rows = self.store.all("updates_due", limit=self.policy.batch, lease=self.policy.lease,
                              parts=parts)
        for row in sorted(rows, key=lambda r: r["update_id"]):
            self.chats.route(row["chat_id"], UpdateReceived(row["update_id"], row["chat_id"]))
        return len(rows)

    def _replay(self, inbox_id: int, job_id: int | None, body: bytes) -> None:
        report = self.parse(body)
        if job_id is None:
            return
        if report is None:
            self.store.run("inbox_mark", inbox_id=inbox_id, status="applied",
                           reason="nothing final in it")
            return
        self.jobs.route(job_id, TaskObserved(job_id, report, Source.CALLBACK, inbox_id))
