"""A known state for the status tests: what /status, /metrics and the dashboard must show.

Written straight into the database before the node starts, through the product's own writes
(``jobs.confirm``, ``jobs.move``, the ``inbox_insert`` query), and parked out of the janitor's
reach (next check and deadline an hour away) so the counts stay put while the node runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from trt_actors.domain import jobs, ledger
from trt_actors.domain.states import Cause, Failure, JobState
from trt_actors.infra.store import Store

USER = 501
FAILURE_DETAIL = "content policy refused (status test)"


@dataclass(frozen=True)
class KnownState:
    by_state: dict[str, int]
    by_model: dict[str, dict[str, int]]
    failed_job_id: int
    parked_orphans: int


def _new_job(store: Store, model_id: str, key: str) -> jobs.Job:
    job, created = jobs.confirm(store, jobs.NewJob(
        user_id=USER, chat_id=USER, model_id=model_id, family="market",
        input={"prompt": f"status test {key}"}, price=2, free=False,
        expected_seconds=20, max_seconds=3600, idempotency_key=f"status-test:{key}"))
    assert created
    return job


def seed(store: Store) -> KnownState:
    """Three jobs (two waiting to be submitted, one failed) and one parked orphan callback."""
    ledger.grant(store, USER, 100, f"status-test-grant:{USER}")
    _new_job(store, "z-image", "a")
    _new_job(store, "google/nano-banana", "b")
    failed = _new_job(store, "z-image", "c")
    with store.transaction() as tx:
        assert jobs.move(tx, failed.id, JobState.FAILED, Cause.OPERATOR,
                         failure=Failure.KIE_FAILED, detail=FAILURE_DETAIL) is not None
        tx.raw("UPDATE jobs SET next_check_at = now() + interval '1 hour', "
               "deadline_at = now() + interval '1 hour'")
        tx.one("inbox_insert", token=None, task_id="status-test-orphan-task",
               dedup_key="status-test-orphan", body=b'{"code": 200}', headers="{}",
               status=None, job_id=None, reason=None, body_size=13,
               body_sha256=hashlib.sha256(b'{"code": 200}').hexdigest(), source="127.0.0.1")
    by_state = {s.value: 0 for s in JobState}
    by_state.update(created=2, failed=1)
    return KnownState(
        by_state=by_state,
        by_model={"google/nano-banana": {"created": 1}, "z-image": {"created": 1, "failed": 1}},
        failed_job_id=failed.id, parked_orphans=1)
