"""The per-job actor: owns one job's decisions, one message at a time.

Every message starts from the row in PostgreSQL (the actor keeps nothing that matters in
memory), decides, and commits the decision with a guarded move. Messages may come in any
order and any number of times — callbacks, polls, janitor sweeps, restarts — and each
handler is written so that a repeat changes nothing.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trt_actors.actors.router import Router, VirtualActor
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.jobs import Job
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.errors import (
    KieAuthError,
    KieFinal,
    KieOutcomeUnknown,
    KieRetryable,
    TrtError,
)
from trt_actors.infra.logs import add_log_fields
from trt_actors.infra.retry import Backoff
from trt_actors.infra.store import Store, Tx, jsonb
from trt_actors.messages import (
    CancelJob,
    CheckDeadline,
    Source,
    SubmitJob,
    TaskObserved,
    TaskState,
)
from trt_actors.ports import InputValidator, KiePort, TransferPort

log = logging.getLogger("trt.job")

KIE_ACCOUNT = "kie_account"


@dataclass(frozen=True, slots=True)
class SubmitPolicy:
    """How hard to try createTask. Every attempt is recorded on the job."""

    callback_base_url: str | None = None
    """``TRT_PUBLIC_CALLBACK_URL``; None → no callbacks are asked for, polling only."""
    max_attempts: int = 6
    """createTask calls per job, all causes together."""
    max_unknown: int = 2
    """Attempts whose outcome may stay unknown (read timeout, crash mid-call). Past the
    first, each is a deliberate resubmission that may create a second paid task."""
    unknown_grace: float = 20.0
    """Seconds to wait after an unknown outcome (for a callback to reveal the task), counted
    from the moment it became unknown (the end of the call), not from its start."""
    call_timeout: float = 35.0
    """The longest a createTask call can take (the KIE client's connect + read timeouts,
    5 + 30 s): while it may be in flight the job is not due for another attempt."""
    retry_base: float = 2.0
    retry_cap: float = 60.0
    first_poll: float = 2.0
    """Seconds from createTask's answer to the first status poll."""
    upload_ttl: float = 82800.0
    """``TRT_KIE_UPLOAD_TTL_S``: a file input uploaded longer ago is uploaded again (from
    its Telegram file_id) before createTask; KIE keeps uploads about 24 h."""
    reupload_timeout: float = 60.0
    """The longest one re-upload may hold the job actor (like a createTask call)."""


@dataclass(frozen=True, slots=True)
class JobDeps:
    """What every job actor needs; built once by the node."""

    store: Store
    kie: KiePort
    job_messages: JobMessages
    validate: InputValidator
    alerts: Alerts
    policy: SubmitPolicy
    transfers: TransferPort | None = None
    """Re-uploads of stale file inputs (None: the job's URLs are sent as they are)."""
    after_commit: Callable[[], None] | None = None
    """Called after a transaction that queued outbox rows (a result, a failure, progress)
    committed: the node wakes the delivery actor, which otherwise looks only every 0.5 s."""


def job_router(deps: JobDeps, *, max_active: int = 32) -> Router:
    def factory(key: Hashable, router: Router) -> Any:
        return JobActor.start(key, router, deps)

    return Router("job", factory, max_active=max_active)


class JobActor(VirtualActor):
    """The actor for one job id."""

    def __init__(self, key: Hashable, router: Router, deps: JobDeps) -> None:
        super().__init__(key, router)
        self.deps = deps
        self.store = deps.store
        self._queued = False
        """The current message's transaction wrote outbox rows."""

    def handle(self, message: Any) -> None:
        self._queued = False
        self._handle(message)
        if self._queued and self.deps.after_commit is not None:
            self.deps.after_commit()  # committed (an exception would have skipped this)

    def _handle(self, message: Any) -> None:
        # One transaction per message where possible: the row is read and the decision
        # committed together (a createTask call is never made inside a transaction).
        if isinstance(message, SubmitJob):
            self._submit(int(message.job_id))
            return
        with self.store.transaction() as tx:
            job = jobs.load(tx, int(message.job_id))
            if job is None:
                log.warning("job %s: no such job for %s", message.job_id, type(message).__name__)
                return
            match message:
                case TaskObserved():
                    self._observe(tx, job, message)
                case CheckDeadline():
                    self._deadline(tx, job)
                case CancelJob():
                    if job.state is JobState.CREATED:
                        self._fail_in(tx, job, Failure.CANCELLED, Cause.USER,
                                      "cancelled by the user", only_from=(JobState.CREATED,))
                case _:
                    log.warning("job %s: unexpected message %r", job.id, message)

    # --- submit -----------------------------------------------------------------------------

    def _submit(self, job_id: int) -> None:
        if (wait := self._create_wait()) > 0:
            # KIE allows 20 createTask per 10 s: an actor blocked in the client's limiter holds
            # one of the router's slots, and observations of other jobs (a poll that saw a
            # result) queue behind it. Give the slot back; the janitor hands the job again
            # when it is due. No attempt is counted.
            if self.store.run("job_postpone", job_id=job_id, check_in=wait):
                return
            with self.store.transaction() as tx:  # past its deadline: end it now
                job = jobs.load(tx, job_id)
                if job is not None:
                    self._deadline(tx, job)
            return
        if not self._refresh_files(job_id):
            return
        with self.store.transaction() as tx:
            job = jobs.load(tx, job_id)
            prepared = self._begin_attempt(tx, job) if job is not None else None
        if job is None or prepared is None:
            return
        payload, attempt = prepared
        policy = self.deps.policy
        callback = None
        if policy.callback_base_url:
            base = policy.callback_base_url.rstrip("/")
            callback = f"{base}/kie/callback/{job.id}.{job.callback_token}"
        try:
            task_id = self.deps.kie.create_task(job.family, job.model_id, payload, callback)
        except KieAuthError as exc:
            self.deps.alerts.raise_(KIE_ACCOUNT, f"KIE refused the account ({exc.code}): {exc}")
            self._fail(job, Failure.KIE_UNAVAILABLE, Cause.SUBMIT, str(exc))
        except KieFinal as exc:
            self._fail(job, Failure.KIE_REJECTED, Cause.SUBMIT, str(exc))
        except KieRetryable as exc:
            backoff = Backoff(policy.retry_base, policy.retry_cap, jitter=(1.0, 1.5))
            delay = exc.retry_after or backoff.delay(attempt)  # KIE's wait, unless 0 or none
            self.store.run("job_set_outcome", job_id=job.id, outcome="not_created",
                           detail=f"attempt {attempt}: {exc}", check_in=delay)
            log.info("job %s: createTask retryable (%s); next try in %.1fs", job.id, exc, delay)
        except KieOutcomeUnknown as exc:
            self.store.run("job_set_outcome", job_id=job.id, outcome="unknown",
                           detail=f"attempt {attempt}: {exc}", check_in=policy.unknown_grace)
            log.warning("job %s: createTask outcome unknown (%s)", job.id, exc)
        else:
            self.deps.alerts.clear(KIE_ACCOUNT)
            self._submitted(job, task_id, attempt)

    def _refresh_files(self, job_id: int) -> bool:
        """Upload again the files KIE may have dropped (older than ``upload_ttl``) and commit
        their new URLs, before any createTask; False: no createTask now (failed or retried).

        The re-upload is a network call like createTask: outside any transaction, bounded by
        ``reupload_timeout``. A crash during it leaves the job as it was, handed again later."""
        policy, transfers = self.deps.policy, self.deps.transfers
        job = jobs.load(self.store, job_id)
        if (transfers is None or job is None or not job.files
                or job.state not in (JobState.CREATED, JobState.SUBMITTING)
                or job.submit_outcome == "created" or self._resubmit_wait(job) > 0
                or datetime.now(UTC) >= job.deadline_at
                or job.submit_attempts >= policy.max_attempts):
            return True  # _begin_attempt decides (postpones, fails or skips)
        stale = jobs.stale_files(job, policy.upload_ttl, time.time())
        if not stale:
            return True
        fresh: dict[tuple[str, int], tuple[str, float]] = {}
        try:
            for record in stale:
                key = (str(record["field"]), int(record.get("index") or 0))
                fresh[key] = transfers.reupload(
                    str(record["file_id"]), name_hint=str(record.get("name") or "file"),
                    mime_type=record.get("mime"), timeout=policy.reupload_timeout)
        except KieFinal as exc:
            self._fail(job, Failure.FILE_GONE, Cause.SUBMIT, str(exc))
            return False
        except KieRetryable as exc:
            attempt = job.submit_attempts + 1
            backoff = Backoff(policy.retry_base, policy.retry_cap, jitter=(1.0, 1.5))
            delay = exc.retry_after or backoff.delay(attempt)
            self.store.run("job_reupload_retry", job_id=job.id, check_in=delay,
                           detail=f"attempt {attempt}: {exc}")
            log.info("job %s: re-upload retryable (%s); next try in %.1fs", job.id, exc, delay)
            return False
        with self.store.transaction() as tx:
            replaced = jobs.replace_files(tx, job, fresh)
            if replaced is not None:
                tx.run("job_note", job_id=job.id, cause=Cause.SUBMIT.value,
                       detail=f"{len(fresh)} stale upload(s) redone")
        log.info("job %s: %d stale upload(s) redone", job.id, len(fresh))
        return True

    def _create_wait(self) -> float:
        """Seconds to postpone a submit because no createTask is allowed now (0: go)."""
        kie = self.deps.kie
        if kie.create_budget() > 0:
            return 0.0
        # Spread the waiting jobs over one limiter window, so they do not all come back at once.
        return random.uniform(1.0, 1.0 + kie.create_window)

    def _begin_attempt(self, tx: Tx, job: Job) -> tuple[dict[str, Any], int] | None:
        """Decide whether to call createTask now; record the attempt if so."""
        policy = self.deps.policy
        if job.state is JobState.SUBMITTING:
            if job.submit_outcome == "created":
                return None
            # A SubmitJob queued while the last call hung (or sent right after it) must not
            # skip the wait for that call's task to show up: it comes back when it is over.
            wait = self._resubmit_wait(job)
            if wait > 0 and tx.run("job_postpone", job_id=job.id, check_in=wait):
                return None
            unknown = job.submit_outcome in ("in_flight", "unknown")
            if unknown and job.submit_unknown + 1 >= policy.max_unknown:
                self._fail_in(tx, job, Failure.SUBMIT_UNKNOWN, Cause.SUBMIT,
                              f"createTask outcome unknown after {job.submit_attempts} attempts")
                return None
        elif job.state is not JobState.CREATED:
            return None
        if datetime.now(UTC) >= job.deadline_at:
            # Never start a paid KIE task for a job that has already run out of time.
            self._fail_in(tx, job, Failure.TIMED_OUT, Cause.TIMEOUT,
                          "no result within the model's maximum duration")
            return None
        if job.submit_attempts >= policy.max_attempts:
            self._fail_in(tx, job, Failure.KIE_UNAVAILABLE, Cause.SUBMIT,
                          f"KIE unavailable after {job.submit_attempts} attempts")
            return None
        if (alert := self.deps.alerts.blocking(KIE_ACCOUNT)) is not None:
            self._fail_in(tx, job, Failure.KIE_UNAVAILABLE, Cause.SUBMIT, alert.message)
            return None
        try:
            payload = self.deps.validate(job.model_id, job.input)
        except TrtError as exc:
            self._fail_in(tx, job, Failure.KIE_REJECTED, Cause.SUBMIT, f"input invalid: {exc}")
            return None
        attempt = job.submit_attempts + 1
        if job.state is JobState.SUBMITTING:
            tx.run("job_note", job_id=job.id, cause=Cause.SUBMIT.value,
                   detail=f"resubmit: attempt {attempt} after {job.submit_outcome}")
        # Not due while the call may be in flight, nor during the grace after it: the call's
        # own outcome sets the next check (job_set_outcome) when it returns.
        began = tx.one("job_begin_attempt", job_id=job.id, detail=f"attempt {attempt}",
                       check_in=self._in_flight_hold(), unknown_grace=policy.unknown_grace,
                       in_flight_hold=self._in_flight_hold())
        return (payload, attempt) if began is not None else None

    def _in_flight_hold(self) -> float:
        """Seconds from the start of a createTask call until another may be made if the call
        never reported back (the node died during it): the whole call, then the grace."""
        return self.deps.policy.call_timeout + self.deps.policy.unknown_grace

    def _resubmit_wait(self, job: Job) -> float:
        """Seconds before another createTask may be made for a job in SUBMITTING (0: now):
        after an unknown outcome, the grace from the moment it became unknown."""
        hold = {"unknown": self.deps.policy.unknown_grace,
                "in_flight": self._in_flight_hold()}.get(job.submit_outcome or "")
        if hold is None or job.submit_outcome_at is None:
            return 0.0
        return (job.submit_outcome_at - datetime.now(UTC)).total_seconds() + hold

    def _submitted(self, job: Job, task_id: str, attempt: int) -> None:
        with self.store.transaction() as tx:
            tx.one("task_record", task_id=task_id, job_id=job.id, attempt=attempt,
                   found_by="submit", state=TaskState.PENDING.value, result_urls=None,
                   fail_code=None, fail_message=None)
            tx.run("job_set_outcome", job_id=job.id, outcome="created",
                   detail=f"attempt {attempt}: task {task_id}",
                   check_in=self.deps.policy.first_poll)
            jobs.move(tx, job.id, JobState.SUBMITTED, Cause.SUBMIT, detail=f"task {task_id}",
                      check_in=self.deps.policy.first_poll)
        add_log_fields(task_id=task_id)
        log.info("job %s: submitted as task %s", job.id, task_id)

    # --- observations -----------------------------------------------------------------------

    def _observe(self, tx: Tx, job: Job, message: TaskObserved) -> None:
        report = message.report
        cause = Cause.CALLBACK if message.source is Source.CALLBACK else Cause.POLL
        recorded = tx.one(
            "task_record", task_id=report.task_id, job_id=job.id, attempt=None,
            found_by=message.source.value, state=report.state.value,
            result_urls=jsonb(list(report.result_urls)) if report.result_urls else None,
            fail_code=report.fail_code, fail_message=report.fail_message,
        )
        if message.inbox_id is not None:
            tx.run("inbox_mark", inbox_id=message.inbox_id, status="applied",
                   reason=None if recorded else "task belongs to another job")
        if recorded is None:
            log.warning("job %s: report for task %s of another job ignored",
                        job.id, report.task_id)
            return
        self._apply(tx, job, report.state, report, cause, bool(recorded["inserted"]))

    def _apply(self, tx: Tx, job: Job, state: TaskState, report: Any, cause: Cause,
               new_task: bool) -> None:
        if job.state.terminal or job.state in (JobState.SUCCEEDED, JobState.DELIVERING):
            if state.final:
                tx.run("job_note", job_id=job.id, cause=cause.value,
                       detail=f"late {state.value} from task {report.task_id} recorded, ignored")
            return
        if new_task and job.state is not JobState.SUBMITTING:
            tx.run("job_note", job_id=job.id, cause=cause.value,
                   detail=f"another task of this job: {report.task_id}")
        if state is TaskState.SUCCESS:
            if not report.result_urls and not report.result_text:
                self._fail_in(tx, job, Failure.KIE_FAILED, cause, "success without results")
                return
            moved = jobs.move(tx, job.id, JobState.SUCCEEDED, cause,
                              detail=f"task {report.task_id}", result_urls=report.result_urls,
                              result_text=report.result_text,
                              result_ids=report.result_ids)
            if moved is not None:
                self.deps.job_messages.result_ready(tx, moved)
                self._queued = True
        elif state is TaskState.FAILED:
            alive = [t for t in tx.all("tasks_of_job", job_id=job.id)
                     if t["state"] not in ("success", "failed")]
            if alive:
                tx.run("job_note", job_id=job.id, cause=cause.value,
                       detail=f"task {report.task_id} failed; waiting for {alive[0]['task_id']}")
                return
            why = report.fail_message or report.fail_code or "generation failed"
            self._fail_in(tx, job, Failure.KIE_FAILED, cause, why)
        elif state is TaskState.RUNNING and job.state is not JobState.RUNNING:
            moved = jobs.move(tx, job.id, JobState.RUNNING, cause, detail=f"task {report.task_id}")
            if moved is not None:
                self.deps.job_messages.progress(tx, moved)
                self._queued = True
        elif state is TaskState.PENDING and job.state is JobState.SUBMITTING:
            jobs.move(tx, job.id, JobState.SUBMITTED, cause, detail=f"task {report.task_id}",
                      check_in=self.deps.policy.first_poll)

    # --- endings ----------------------------------------------------------------------------

    def _deadline(self, tx: Tx, job: Job) -> None:
        if job.state in (JobState.CREATED, JobState.SUBMITTING, JobState.SUBMITTED,
                         JobState.RUNNING) and datetime.now(UTC) >= job.deadline_at:
            self._fail_in(tx, job, Failure.TIMED_OUT, Cause.TIMEOUT,
                          "no result within the model's maximum duration")

    def _fail(self, job: Job, failure: Failure, cause: Cause, detail: str) -> None:
        with self.store.transaction() as tx:
            self._fail_in(tx, job, failure, cause, detail)

    def _fail_in(self, tx: Tx, job: Job, failure: Failure, cause: Cause, detail: str, *,
                 only_from: tuple[JobState, ...] | None = None) -> None:
        moved = jobs.move(tx, job.id, JobState.FAILED, cause, failure=failure, detail=detail,
                          only_from=only_from)
        if moved is not None:
            self.deps.job_messages.failed(tx, moved, failure, detail)
            self._queued = True
            log.info("job %s: failed (%s): %s", job.id, failure.value, detail)
