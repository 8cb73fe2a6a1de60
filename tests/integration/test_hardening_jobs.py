"""Issue 11, the job side: a /cancel never beats a createTask that has begun, and the wait
after an unknown createTask outcome counts from the moment it became unknown.

Real PostgreSQL and real actors; KIE is the emulator (over HTTP) or, where a call must be held
in flight at a chosen moment, a scripted port.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from sandbox.kie_emulator import KieEmulator
from tests.support.chat_harness import CATALOG, BlockingKie, ChatHarness
from tests.support.kie_harness import Pipelines, kie_fixtures, wait_until
from tests.unit.test_job_actor import ScriptedKie, new_job, settle
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.actors.job import JobDeps, SubmitPolicy, job_router
from trt_actors.actors.router import Router
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs, ledger
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.states import Cause, JobState
from trt_actors.errors import KieOutcomeUnknown
from trt_actors.infra.store import Store
from trt_actors.messages import Source, SubmitJob, TaskObserved, TaskReport, TaskState

USER = 601
PAID = "google/nano-banana"

emu, pipeline = kie_fixtures(seed=21, duration_s=0.2)


@pytest.fixture
def chat(store: Store) -> Iterator[ChatHarness]:
    h = ChatHarness(store)
    try:
        yield h
    finally:
        h.close()


def paid_job(store: Store, user: int = USER) -> jobs.Job:
    """A confirmed paid job, as the chat actor's confirm leaves it (row + hold)."""
    model = CATALOG.get(PAID)
    ledger.grant(store, user, 100, f"test-grant:{user}")
    job, created = jobs.confirm(store, jobs.NewJob(
        user_id=user, chat_id=user, model_id=model.id, family=model.family.value,
        input=dict(model.example), price=model.price_for(model.example), free=False,
        expected_seconds=model.expected_seconds, max_seconds=model.max_seconds,
        idempotency_key=uuid.uuid4().hex))
    assert created and job.price > 0
    return job


def job_actors(store: Store, kie: ScriptedKie, *, grace: float) -> Router:
    """Job actors as the node builds them, with a scripted KIE and ``grace`` seconds of
    waiting after an unknown createTask outcome."""
    return job_router(JobDeps(
        store=store, kie=kie, job_messages=JobMessages(CATALOG), alerts=Alerts(),
        validate=lambda model_id, values: validate_input(CATALOG.get(model_id), values),
        policy=SubmitPolicy(callback_base_url="https://node.example/", unknown_grace=grace,
                            retry_base=0.0)))


def lock_waiters(store: Store) -> int:
    """Backends of this database waiting for a row lock right now."""
    with store.transaction() as tx:
        rows = tx.raw("SELECT count(*) AS n FROM pg_stat_activity "
                      "WHERE datname = current_database() AND wait_event_type = 'Lock'")
    return int(rows[0]["n"])


# --- defect 1: /cancel against a job whose createTask has begun ---------------------------------


def test_cancel_of_a_created_job_releases_its_hold(chat: ChatHarness) -> None:
    job = paid_job(chat.store)
    cancel = chat.send(USER, "/cancel")
    chat.handled(cancel)
    assert any(f"Job #{job.id} cancelled" in t for t in chat.replies_to(cancel))
    assert jobs.load(chat.store, job.id).state is JobState.FAILED  # type: ignore[union-attr]
    assert ledger.balance(chat.store, USER) == ledger.Balance(available=100, held=0)


def test_cancel_that_loses_the_race_with_the_submit_changes_nothing(chat: ChatHarness) -> None:
    store = chat.store
    job = paid_job(store)
    held = ledger.balance(store, USER)
    # The job actor's created -> submitting move, held uncommitted: the cancel reads the job
    # in `created` (it cannot see the move yet), then its UPDATE waits for this row lock.
    with store.transaction() as tx:
        assert jobs.move(tx, job.id, JobState.SUBMITTING, Cause.SUBMIT,
                         detail="attempt 1") is not None
        cancel = chat.send(USER, "/cancel")
        wait_until(lambda: lock_waiters(store) > 0, 10, "the cancel waiting on the job's row")
    # Committed: the cancel's UPDATE now sees `submitting`.
    chat.handled(cancel)
    replies = chat.replies_to(cancel)
    assert not any("cancelled" in t for t in replies), replies
    assert any("Too late to cancel" in t for t in replies), replies
    assert jobs.load(store, job.id).state is JobState.SUBMITTING  # type: ignore[union-attr]
    assert ledger.balance(store, USER) == held, "the hold stays: KIE is being paid for it"
    refs = [r["ref"] for r in store.all("ledger_entries", user_id=USER)]
    assert f"job:{job.id}:release" not in refs
    # The job keeps going: its actor creates the task and waits for the result.
    chat.jobs.route(job.id, SubmitJob(job.id))
    assert chat.jobs.wait_idle(10)
    assert jobs.load(store, job.id).state is JobState.SUBMITTED  # type: ignore[union-attr]
    assert len(chat.kie.calls) == 1


def test_cancel_sent_while_the_task_is_being_created_is_too_late(store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    def gate() -> None:
        entered.set()
        assert release.wait(10)

    h = ChatHarness(store, kie=BlockingKie(gate))
    try:
        job = paid_job(store)
        h.jobs.route(job.id, SubmitJob(job.id))
        assert entered.wait(10), "createTask was called"
        cancel = h.send(USER, "/cancel")
        h.handled(cancel)
        release.set()
        assert h.jobs.wait_idle(10)
        assert jobs.load(store, job.id).state is JobState.SUBMITTED  # type: ignore[union-attr]
        assert not any("cancelled" in t for t in h.replies_to(cancel))
    finally:
        release.set()
        h.close()


# --- defect 2: the grace after an unknown outcome counts from the moment it became unknown ------


def test_submit_queued_during_a_hanging_create_waits_for_the_grace(store: Store) -> None:
    entered, release = threading.Event(), threading.Event()

    def hang() -> Exception:
        entered.set()
        assert release.wait(10)
        return KieOutcomeUnknown("read timeout")

    kie = ScriptedKie(hang)
    router = job_actors(store, kie, grace=30.0)
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    assert entered.wait(10), "createTask was called"
    router.route(job.id, SubmitJob(job.id))  # queued by the janitor during the call
    release.set()  # the read timeout fires: the outcome is unknown
    settle(router)
    router.route(job.id, SubmitJob(job.id))  # and another one right after
    settle(router)
    assert len(kie.calls) == 1, "no second paid task before the grace has passed"
    loaded = jobs.load(store, job.id)
    assert loaded is not None and loaded.submit_outcome == "unknown"
    # Its callback, arriving within the grace, completes the job with the one task.
    router.route(job.id, TaskObserved(job.id, TaskReport(
        "T1", TaskState.SUCCESS, ("https://kie.example/r.png",)), Source.CALLBACK))
    settle(router)
    done = jobs.load(store, job.id)
    assert done is not None and done.state is JobState.SUCCEEDED
    assert [t["task_id"] for t in store.all("tasks_of_job", job_id=job.id)] == ["T1"]
    assert len(kie.calls) == 1


def test_a_read_timeout_longer_than_the_grace_makes_no_second_task(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    # KIE creates the task and answers after 5 s; the client stops reading after 3 s; the
    # grace is 1.5 s (shorter than the read timeout, as in production: 20 s vs 30 s). The
    # task's callback comes 3.3 s after creation: 0.3 s into the grace.
    emu.configure(duration_s=3.3)
    emu.set_faults({"endpoints": {"market.create": {"next": 1, "kind": "delay",
                                                    "delay_s": 5.0}}})
    h = pipeline(client={"read_timeout": 3.0}, policy={"unknown_grace": 1.5},
                 janitor=JanitorPolicy(interval=0.1, lease=5.0))
    job = h.start_job()
    wait_until(lambda: h.job(job.id).submit_outcome == "unknown" or
               h.job(job.id).state is JobState.SUCCEEDED, 10, "the read timeout")
    h.submit(job)  # a SubmitJob right after the timeout
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    stats = emu.stats()
    assert stats["creates"] == 1 and stats["calls"]["market.create"] == 1
    assert done.submit_attempts == 1
    assert [t["found_by"] for t in h.tasks(job.id)] == ["callback"]
