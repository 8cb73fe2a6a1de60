"""The job state machine, enforced by Python and by PostgreSQL alike."""

from __future__ import annotations

import itertools

import pytest

from trt_actors.domain import jobs, ledger
from trt_actors.domain.states import TERMINAL, TRANSITIONS, Cause, Failure, JobState, allowed_from
from trt_actors.errors import IllegalTransition
from trt_actors.infra.store import Store


def new_job(store: Store, user_id: int = 1, price: int = 3, key: str = "k1") -> jobs.Job:
    ledger.grant(store, user_id, 100, f"test-grant:{user_id}")
    job, created = jobs.confirm(store, jobs.NewJob(
        user_id=user_id, chat_id=user_id, model_id="z-image", family="market",
        input={"prompt": "a cat", "aspect_ratio": "1:1"}, price=price, free=False,
        expected_seconds=10, max_seconds=60, idempotency_key=key,
    ))
    assert created
    return job


def force_state(store: Store, job_id: int, state: JobState) -> None:
    """Walk a job to ``state`` through legal moves only."""
    path = {
        JobState.CREATED: [],
        JobState.SUBMITTING: [JobState.SUBMITTING],
        JobState.SUBMITTED: [JobState.SUBMITTING, JobState.SUBMITTED],
        JobState.RUNNING: [JobState.SUBMITTING, JobState.SUBMITTED, JobState.RUNNING],
        JobState.SUCCEEDED: [JobState.SUBMITTING, JobState.SUBMITTED, JobState.SUCCEEDED],
        JobState.DELIVERING: [JobState.SUBMITTING, JobState.SUBMITTED, JobState.SUCCEEDED,
                              JobState.DELIVERING],
        JobState.DELIVERED: [JobState.SUBMITTING, JobState.SUBMITTED, JobState.SUCCEEDED,
                             JobState.DELIVERING, JobState.DELIVERED],
        JobState.FAILED: [JobState.FAILED],
    }[state]
    with store.transaction() as tx:
        for step in path:
            failure = Failure.KIE_FAILED if step is JobState.FAILED else None
            assert jobs.move(tx, job_id, step, Cause.OPERATOR, failure=failure) is not None


def test_python_enum_equals_sql_enum(store: Store) -> None:
    with store.transaction() as tx:
        rows = tx.raw("SELECT unnest(enum_range(NULL::job_state))::text AS s")
    assert [r["s"] for r in rows] == [s.value for s in JobState]


def test_python_transition_table_equals_sql_table(store: Store) -> None:
    with store.transaction() as tx:
        rows = tx.raw("SELECT from_state::text AS f, to_state::text AS t FROM job_transitions")
    sql_pairs = {(r["f"], r["t"]) for r in rows}
    py_pairs = {(f.value, t.value) for f, targets in TRANSITIONS.items() for t in targets}
    assert sql_pairs == py_pairs


def test_terminal_states_have_no_way_out() -> None:
    assert {s for s, t in TRANSITIONS.items() if not t} == set(TERMINAL)
    assert {JobState.DELIVERED, JobState.FAILED} == TERMINAL


@pytest.mark.parametrize(
    ("from_", "to"), [(f, t) for f, t in itertools.product(JobState, JobState) if f is not t]
)
def test_every_move_is_allowed_or_refused_by_both(
    store: Store, from_: JobState, to: JobState
) -> None:
    job = new_job(store)
    force_state(store, job.id, from_)
    legal = to in TRANSITIONS[from_]
    failure = Failure.KIE_FAILED if to is JobState.FAILED else None
    # Through the guarded UPDATE: a legal move happens, an illegal one finds no row.
    with store.transaction() as tx:
        moved = jobs.move(tx, job.id, to, Cause.OPERATOR, failure=failure)
    assert (moved is not None) == legal
    if legal:
        return
    # Bypassing the guard (as buggy code might): PostgreSQL itself refuses.
    with pytest.raises(IllegalTransition) as info, store.transaction() as tx:
        tx.raw(f"UPDATE jobs SET state = '{to.value}' WHERE id = {job.id}")
    assert (info.value.job_id, info.value.from_, info.value.to) == (job.id, from_.value, to.value)
    assert jobs.load(store, job.id).state is from_  # type: ignore[union-attr]


def test_each_move_is_recorded_with_its_cause(store: Store) -> None:
    job = new_job(store)
    with store.transaction() as tx:
        jobs.move(tx, job.id, JobState.SUBMITTING, Cause.SUBMIT, detail="attempt 1")
        jobs.move(tx, job.id, JobState.SUBMITTED, Cause.SUBMIT)
        jobs.move(tx, job.id, JobState.RUNNING, Cause.CALLBACK)
        jobs.move(tx, job.id, JobState.FAILED, Cause.TIMEOUT, failure=Failure.TIMED_OUT)
    trail = [(e["from_state"], e["to_state"], e["cause"]) for e in jobs.events(store, job.id)]
    assert trail == [
        (None, "created", "user"),
        ("created", "submitting", "submit"),
        ("submitting", "submitted", "submit"),
        ("submitted", "running", "callback"),
        ("running", "failed", "timeout"),
    ]


def test_allowed_from_is_the_inverse_of_the_table() -> None:
    for to in JobState:
        assert allowed_from(to) == {f for f, t in TRANSITIONS.items() if to in t}
