"""The janitor: finds work the database says is due, and hands it to the job actors.

It is how the node recovers: after a crash or restart nothing is remembered in memory, and
the sweep finds every job that is due — created and never submitted, stuck in submitting,
past its deadline — and every stored callback that was never applied, and routes each one
to its job actor. It is also how parked orphan callbacks are claimed and expired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from supervision import SupervisedActor
from trt_actors.actors.router import Router
from trt_actors.actors.ticker import Ticker
from trt_actors.errors import DatabaseUnavailable
from trt_actors.infra.store import Store
from trt_actors.messages import (
    CheckDeadline,
    Source,
    SubmitJob,
    Sweep,
    TaskObserved,
    TaskReport,
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


class Janitor(SupervisedActor):
    """Periodic sweeper; stateless, so restarting it loses nothing."""

    def __init__(self, store: Store, jobs: Router, parse: ReportParser, ticker: Ticker,
                 policy: JanitorPolicy | None = None,
                 submit_budget: Callable[[], int] | None = None) -> None:
        super().__init__()
        self.store, self.jobs, self.parse, self.ticker = store, jobs, parse, ticker
        self.policy = policy or JanitorPolicy()
        self.submit_budget = submit_budget
        """createTask calls KIE allows right now (None: no limit known): the janitor hands
        no more submits than that, so the oldest jobs go first and none is handed only to
        be postponed."""
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
        rows = self.store.all("jobs_past_deadline", limit=p.batch, lease=p.lease)
        for row in rows:
            self.jobs.route(row["id"], CheckDeadline(row["id"]))
        counts["deadline"] = len(rows)
        limit = p.batch if self.submit_budget is None else min(p.batch, self.submit_budget())
        rows = self.store.all("jobs_due_submit", limit=limit, lease=p.lease) if limit > 0 else []
        for row in rows:
            self.jobs.route(row["id"], SubmitJob(row["id"]))
        counts["submit"] = len(rows)
        with self.store.transaction() as tx:
            stale = tx.all("inbox_stale", older_than=p.stale_inbox, limit=p.batch)
            claimed = tx.all("orphans_claim")
            counts["expired"] = tx.run("orphans_expire", ttl=p.orphan_ttl)
        for row in [*stale, *claimed]:
            self._replay(row["id"], row["job_id"], bytes(row["body"]))
        counts["inbox"], counts["claimed"] = len(stale), len(claimed)
        self.sweeps += 1
        if any(counts.values()):
            log.debug("janitor sweep: %s", counts)
        return counts

    def _replay(self, inbox_id: int, job_id: int | None, body: bytes) -> None:
        report = self.parse(body)
        if job_id is None:
            return
        if report is None:
            self.store.run("inbox_mark", inbox_id=inbox_id, status="applied",
                           reason="nothing final in it")
            return
        self.jobs.route(job_id, TaskObserved(job_id, report, Source.CALLBACK, inbox_id))
