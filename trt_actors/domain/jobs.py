"""Jobs in the database: confirm, guarded moves with their ledger effect, reads.

``move`` is the only way a job changes state. It runs the guarded UPDATE and, in the same
transaction, settles the credit hold when the move ends the job: captured on DELIVERED,
released on FAILED. So "ended" and "settled" can never disagree, whatever crashes when.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from trt_actors.domain import ledger
from trt_actors.domain.states import Cause, Failure, JobState, allowed_from
from trt_actors.errors import FreeLimitReached, IllegalTransition
from trt_actors.infra import metrics
from trt_actors.infra.store import Row, Store, Tx, jsonb


@dataclass(frozen=True, slots=True)
class Job:
    """A job row, as the actors see it."""

    id: int
    user_id: int
    chat_id: int
    model_id: str
    family: str
    input: dict[str, Any]
    price: int
    free: bool
    state: JobState
    failure: str | None
    callback_token: str
    submit_attempts: int
    submit_outcome: str | None
    submit_unknown: int
    result_urls: tuple[str, ...]
    expected_seconds: int
    deadline_at: datetime
    created_at: datetime
    submitted_at: datetime | None
    status_outbox_id: int | None
    submit_outcome_at: datetime | None = None
    """When the last createTask attempt began or got its outcome (``submit_outcome``)."""
    files: tuple[dict[str, Any], ...] = ()
    """The files the user sent (``FileRecord`` dicts), whose URLs are in ``input``."""
    result_text: str | None = None
    """A text result (speech-to-text), instead of ``result_urls``."""
    result_ids: tuple[str, ...] = ()
    """KIE's ids of the results, in ``result_urls`` order (Suno: the tracks' ids)."""

    @classmethod
    def from_row(cls, row: Row) -> Job:
        return cls(
            id=row["id"], user_id=row["user_id"], chat_id=row["chat_id"],
            model_id=row["model_id"], family=row["family"], input=row["input"],
            price=row["price"], free=row["free"], state=JobState(row["state"]),
            failure=row["failure"], callback_token=row["callback_token"],
            submit_attempts=row["submit_attempts"], submit_outcome=row["submit_outcome"],
            submit_unknown=row["submit_unknown"],
            result_urls=tuple(row["result_urls"] or ()),
            expected_seconds=row["expected_seconds"], deadline_at=row["deadline_at"],
            created_at=row["created_at"], submitted_at=row["submitted_at"],
            status_outbox_id=row["status_outbox_id"],
            submit_outcome_at=row.get("submit_outcome_at"),
            files=tuple(row.get("files") or ()),
            result_text=row.get("result_text"),
            result_ids=tuple(row.get("result_ids") or ()),
        )


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a confirm needs to know to create a job."""

    user_id: int
    chat_id: int
    model_id: str
    family: str
    input: Mapping[str, Any]
    price: int
    free: bool
    expected_seconds: int
    max_seconds: int
    idempotency_key: str
    files: tuple[Mapping[str, Any], ...] = ()
    """Per file sent: field, index (in a list field), url, file_id, uploaded_at (unix s),
    and mime / name when known."""


def hold_ref(job_id: int) -> str:
    return f"job:{job_id}:hold"


def confirm(
    store: Store, new: NewJob, *, free_daily_limit: int | None = None, language: str | None = None,
) -> tuple[Job, bool]:
    """Create the job and hold its price in one transaction; ``(job, created_now)``.

    A second confirm with the same idempotency key returns the first job. Not enough credits
    (or the free limit reached) raises and leaves nothing behind.
    """
    with store.transaction() as tx:
        return confirm_in(tx, new, free_daily_limit=free_daily_limit, language=language)


def confirm_in(
    tx: Tx, new: NewJob, *, free_daily_limit: int | None = None, language: str | None = None,
) -> tuple[Job, bool]:
    """``confirm`` inside the caller's transaction (the chat actor's, with its update)."""
    existing = tx.one("job_by_idempotency_key", idempotency_key=new.idempotency_key)
    if existing is not None:
        return Job.from_row(existing), False
    ledger.ensure_user(tx, new.user_id, language)
    if (new.free and free_daily_limit is not None
            and tx.one("free_use", user_id=new.user_id, limit=free_daily_limit) is None):
        raise FreeLimitReached(new.user_id, free_daily_limit)
    row = tx.one(
        "job_insert", user_id=new.user_id, chat_id=new.chat_id, model_id=new.model_id,
        family=new.family, input=jsonb(dict(new.input)), price=new.price, free=new.free,
        callback_token=secrets.token_urlsafe(24), idempotency_key=new.idempotency_key,
        expected_seconds=new.expected_seconds, max_seconds=new.max_seconds,
        files=jsonb([dict(f) for f in new.files]),
    )
    if row is None:  # a concurrent confirm with the same key won the insert
        raced = tx.one("job_by_idempotency_key", idempotency_key=new.idempotency_key)
        assert raced is not None
        return Job.from_row(raced), False
    job = Job.from_row(row)
    ledger.apply(tx, new.user_id, ledger.Entry.HOLD, new.price, hold_ref(job.id),
                 job_id=job.id)
    return job, True


def move(
    tx: Tx, job_id: int, to: JobState, cause: Cause, *, detail: str | None = None,
    failure: Failure | None = None, result_urls: tuple[str, ...] | None = None,
    result_text: str | None = None, result_ids: tuple[str, ...] = (),
    check_in: float | None = None,
    only_from: Collection[JobState] | None = None,
) -> Job | None:
    """The guarded move; ``None`` when the job is not (any longer) in a state that may move
    to ``to`` — somebody else moved it first, which callers treat as "nothing to do".

    ``only_from`` narrows the states the move is allowed from, in the same guarded UPDATE: a
    cancel is a move to FAILED from ``created`` only, so it loses (``None``) to a submit that
    committed between the caller's read and this write."""
    if to is JobState.FAILED and failure is None:
        raise ValueError("a move to FAILED needs a failure reason")
    allowed = allowed_from(to)
    if only_from is not None:
        allowed &= frozenset(only_from)
    row = tx.one(
        "job_move", job_id=job_id, to=to.value, cause=cause.value, detail=detail,
        failure=failure.value if failure else None,
        result_urls=jsonb(list(result_urls)) if result_urls is not None else None,
        result_text=result_text, result_ids=jsonb(list(result_ids)) if result_ids else None,
        check_in=check_in, allowed=[s.value for s in sorted(allowed)],
    )
    if row is None:
        return None
    metrics.JOB_TRANSITIONS.labels(to.value, cause.value).inc()
    job = Job.from_row(row)
    if to is JobState.DELIVERED:
        ledger.apply(tx, job.user_id, ledger.Entry.CAPTURE, job.price, f"job:{job.id}:capture",
                     job_id=job.id)
    elif to is JobState.FAILED:
        ledger.apply(tx, job.user_id, ledger.Entry.RELEASE, job.price, f"job:{job.id}:release",
                     job_id=job.id, note=failure.value if failure else None)
        if job.free:
            tx.run("free_return", user_id=job.user_id, day=job.created_at.date())
    return job


def stale_files(job: Job, ttl: float, now: float) -> list[dict[str, Any]]:
    """The job's files uploaded more than ``ttl`` seconds before ``now`` (unix s): KIE may
    have dropped them, so they are uploaded again before createTask."""
    return [dict(f) for f in job.files if now - float(f.get("uploaded_at") or 0) > ttl]


def replace_files(tx: Tx, job: Job, fresh: Mapping[tuple[str, int], tuple[str, float]]
                  ) -> Job | None:
    """Put re-uploaded URLs (``(field, index) -> (url, uploaded_at)``) into the job's input
    and file records; guarded: ``None`` when the job moved on or its files changed meanwhile."""
    values = dict(job.input)
    files = []
    for record in job.files:
        key = (str(record["field"]), int(record.get("index") or 0))
        if key in fresh:
            url, uploaded_at = fresh[key]
            old = record["url"]
            record = {**record, "url": url, "uploaded_at": uploaded_at}
            current = values.get(key[0])
            if isinstance(current, list):
                values[key[0]] = [url if i == key[1] and v == old else v
                                  for i, v in enumerate(current)]
            elif current == old:
                values[key[0]] = url
        files.append(dict(record))
    row = tx.one("job_replace_files", job_id=job.id, input=jsonb(values), files=jsonb(files),
                 old_files=jsonb([dict(f) for f in job.files]))
    return Job.from_row(row) if row else None


def move_or_raise(tx: Tx, job: Job, to: JobState, cause: Cause, **kwargs: Any) -> Job:
    """``move`` for callers that know the current state: an illegal move is a bug."""
    moved = move(tx, job.id, to, cause, **kwargs)
    if moved is None:
        raise IllegalTransition(job.id, job.state.value, to.value)
    return moved


def load(store: Store | Tx, job_id: int) -> Job | None:
    row = store.one("job_get", job_id=job_id)
    return Job.from_row(row) if row else None


def events(store: Store | Tx, job_id: int) -> list[Row]:
    return store.all("job_events", job_id=job_id)
