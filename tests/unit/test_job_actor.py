"""The job actor against a real PostgreSQL and a scripted KIE port (the only double here)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from trt_actors.actors.job import JobDeps, SubmitPolicy, job_router
from trt_actors.actors.router import Router
from trt_actors.catalog.model import load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs, ledger
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.states import JobState
from trt_actors.errors import KieAuthError, KieFinal, KieOutcomeUnknown, KieRetryable
from trt_actors.infra.store import Store
from trt_actors.messages import (
    CancelJob,
    CheckDeadline,
    Source,
    SubmitJob,
    TaskObserved,
    TaskReport,
    TaskState,
)

CATALOG = load_catalog()
PROMPT = {"prompt": "a red fox", "aspect_ratio": "1:1"}


class ScriptedKie:
    """createTask answers from a script: a task id, an exception, or a callable. The whole
    ``KiePort``: ``budget`` is what ``create_budget`` answers (never spent by default)."""

    create_window = 10.0

    def __init__(self, *script: Any, budget: int = 1_000_000) -> None:
        self.script = list(script)
        self.calls: list[dict[str, Any]] = []
        self.budget = budget

    def create_budget(self) -> int:
        return self.budget

    def create_task(self, family: str, model_id: str, input: Mapping[str, Any],
                    callback_url: str | None) -> str:
        self.calls.append({"model": model_id, "input": dict(input), "callback": callback_url})
        step = self.script.pop(0) if self.script else f"task-{len(self.calls)}"
        if callable(step) and not isinstance(step, type):
            step = step()
        if isinstance(step, BaseException):
            raise step
        return str(step)


def build(store: Store, kie: ScriptedKie, **policy: Any) -> tuple[Router, Alerts]:
    alerts = Alerts(cooldown=60)
    deps = JobDeps(
        store=store, kie=kie, job_messages=JobMessages(CATALOG), alerts=alerts,
        validate=lambda model_id, values: validate_input(CATALOG.get(model_id), values),
        policy=SubmitPolicy(callback_base_url="https://node.example/", unknown_grace=0.0,
                            retry_base=0.0, **policy),
    )
    return job_router(deps), alerts


def new_job(store: Store, key: str = "k", price: int = 5, max_seconds: int = 300,
            user_id: int = 1) -> jobs.Job:
    ledger.grant(store, user_id, 100, f"g:{user_id}")
    job, _ = jobs.confirm(store, jobs.NewJob(
        user_id=user_id, chat_id=user_id, model_id="z-image", family="market", input=PROMPT,
        price=price, free=False, expected_seconds=10, max_seconds=max_seconds,
        idempotency_key=key))
    return job


def settle(router: Router) -> None:
    assert router.wait_idle(10), "job actors did not finish"


def state(store: Store, job_id: int) -> JobState:
    job = jobs.load(store, job_id)
    assert job is not None
    return job.state


def report(task: str, st: TaskState, urls: tuple[str, ...] = ()) -> TaskReport:
    return TaskReport(task, st, urls, fail_message="boom" if st is TaskState.FAILED else None)


def outbox(store: Store, job_id: int) -> list[tuple[str, str]]:
    with store.transaction() as tx:
        rows = tx.raw(f"SELECT kind, dedup_key FROM outbox WHERE job_id = {job_id} ORDER BY id")
    return [(r["kind"], r["dedup_key"]) for r in rows]


def test_submit_records_the_task_and_asks_for_a_callback_with_the_job_token(store: Store) -> None:
    kie = ScriptedKie("T1")
    router, _ = build(store, kie)
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    assert state(store, job.id) is JobState.SUBMITTED
    assert kie.calls[0]["callback"] == f"https://node.example/kie/callback/{job.id}.{job.callback_token}"
    assert kie.calls[0]["input"] == PROMPT
    assert [t["task_id"] for t in store.all("tasks_of_job", job_id=job.id)] == ["T1"]
    router.route(job.id, SubmitJob(job.id))  # a repeat does not create a second task
    settle(router)
    assert len(kie.calls) == 1


def test_success_writes_one_result_and_duplicates_change_nothing(store: Store) -> None:
    router, _ = build(store, ScriptedKie("T1"))
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    done = report("T1", TaskState.SUCCESS, ("https://cdn.example/1.png",))
    for _ in range(3):
        router.route(job.id, TaskObserved(job.id, done, Source.CALLBACK))
    router.route(job.id, TaskObserved(job.id, report("T1", TaskState.FAILED), Source.POLL))
    settle(router)
    loaded = jobs.load(store, job.id)
    assert loaded is not None and loaded.state is JobState.SUCCEEDED
    assert loaded.result_urls == ("https://cdn.example/1.png",)
    assert outbox(store, job.id) == [("result", f"job:{job.id}:result")]
    assert ledger.balance(store, 1) == ledger.Balance(available=95, held=5)


def test_a_callback_before_the_create_answer_is_not_lost(store: Store) -> None:
    holder: dict[str, Any] = {}

    def early_callback() -> str:
        # KIE finishes and calls back while our createTask request is still open.
        job_id = holder["job"].id
        holder["router"].route(job_id, TaskObserved(job_id, report(
            "T9", TaskState.SUCCESS, ("https://cdn.example/9.png",)), Source.CALLBACK))
        return "T9"

    router, _ = build(store, ScriptedKie(early_callback))
    holder["router"] = router
    holder["job"] = job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    assert state(store, job.id) is JobState.SUCCEEDED


def test_retryable_errors_leave_the_job_to_be_tried_again(store: Store) -> None:
    kie = ScriptedKie(KieRetryable("busy", code=429, retry_after=0.0), "T2")
    router, _ = build(store, kie)
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    loaded = jobs.load(store, job.id)
    assert loaded and loaded.state is JobState.SUBMITTING and loaded.submit_outcome == "not_created"
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    assert state(store, job.id) is JobState.SUBMITTED
    assert len(kie.calls) == 2


def test_a_spent_create_budget_postpones_the_submit_without_an_attempt(store: Store) -> None:
    kie = ScriptedKie("T1", budget=0)
    router, _ = build(store, kie)
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    loaded = jobs.load(store, job.id)
    assert loaded is not None and loaded.state is JobState.CREATED and kie.calls == []
    with store.transaction() as tx:
        row = tx.raw(f"SELECT next_check_at - now() AS wait FROM jobs WHERE id = {job.id}")[0]
    # Spread over one limiter window: uniform(1, 1 + create_window) seconds from now.
    assert 0.5 < row["wait"].total_seconds() <= 1.0 + kie.create_window
    kie.budget = 1
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    assert state(store, job.id) is JobState.SUBMITTED and len(kie.calls) == 1


def test_unknown_outcomes_resubmit_within_policy_then_fail_and_release(store: Store) -> None:
    kie = ScriptedKie(KieOutcomeUnknown("read timeout"), KieOutcomeUnknown("read timeout"))
    router, _ = build(store, kie, max_unknown=2)
    job = new_job(store)
    for _ in range(3):
        router.route(job.id, SubmitJob(job.id))
        settle(router)
    loaded = jobs.load(store, job.id)
    assert loaded and loaded.state is JobState.FAILED and loaded.failure == "submit_unknown"
    assert len(kie.calls) == 2  # one deliberate resubmission, never a third
    assert ledger.balance(store, 1) == ledger.Balance(available=100, held=0)
    assert outbox(store, job.id) == [("text", f"job:{job.id}:failed")]


@pytest.mark.parametrize(("error", "failure"), [
    (KieFinal("bad input", code=422), "kie_rejected"),
    (KieAuthError("no credits", code=402), "kie_unavailable"),
])
def test_final_errors_fail_the_job_and_release_the_hold(
    store: Store, error: Exception, failure: str
) -> None:
    kie = ScriptedKie(error)
    router, alerts = build(store, kie)
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    settle(router)
    loaded = jobs.load(store, job.id)
    assert loaded and loaded.state is JobState.FAILED and loaded.failure == failure
    assert ledger.balance(store, 1).held == 0
    if isinstance(error, KieAuthError):
        assert [a["key"] for a in alerts.snapshot()] == ["kie_account"]
        second = new_job(store, key="k2")
        router.route(second.id, SubmitJob(second.id))
        settle(router)
        assert state(store, second.id) is JobState.FAILED
        assert len(kie.calls) == 1, "no retry storm against a refused account"


def test_deadline_and_cancel(store: Store) -> None:
    router, _ = build(store, ScriptedKie("T1"))
    late = new_job(store, key="late", max_seconds=0)
    router.route(late.id, CheckDeadline(late.id))
    cancel_me = new_job(store, key="cancel")
    router.route(cancel_me.id, CancelJob(cancel_me.id))
    running = new_job(store, key="running")
    router.route(running.id, SubmitJob(running.id))
    router.route(running.id, CancelJob(running.id))  # too late: KIE has it
    settle(router)
    assert jobs.load(store, late.id).failure == "timed_out"  # type: ignore[union-attr]
    assert jobs.load(store, cancel_me.id).failure == "cancelled"  # type: ignore[union-attr]
    assert state(store, running.id) is JobState.SUBMITTED
    assert ledger.balance(store, 1) == ledger.Balance(available=95, held=5)


def test_a_failed_duplicate_task_does_not_fail_a_job_whose_other_task_runs(store: Store) -> None:
    router, _ = build(store, ScriptedKie("T1"))
    job = new_job(store)
    router.route(job.id, SubmitJob(job.id))
    router.route(job.id, TaskObserved(job.id, report("T0", TaskState.RUNNING), Source.CALLBACK))
    router.route(job.id, TaskObserved(job.id, report("T0", TaskState.FAILED), Source.CALLBACK))
    settle(router)
    assert state(store, job.id) is JobState.RUNNING
    router.route(job.id, TaskObserved(job.id, report("T1", TaskState.FAILED), Source.POLL))
    settle(router)
    assert state(store, job.id) is JobState.FAILED
    # A late success after the end is recorded, never charged.
    router.route(job.id, TaskObserved(job.id, report(
        "T1b", TaskState.SUCCESS, ("https://cdn.example/x.png",)), Source.CALLBACK))
    settle(router)
    assert state(store, job.id) is JobState.FAILED
    assert ledger.balance(store, 1) == ledger.Balance(available=100, held=0)
    assert any("late success" in (e["detail"] or "") for e in jobs.events(store, job.id))


def test_thread_count_follows_active_work_not_jobs(store: Store) -> None:
    router, _ = build(store, ScriptedKie())
    created = [new_job(store, key=f"j{i}", price=0) for i in range(200)]
    for job in created:
        router.route(job.id, SubmitJob(job.id))
    peak = 0
    deadline = time.monotonic() + 30
    while not router.wait_idle(0.01):
        peak = max(peak, router.snapshot()["active"],
                   sum(t.name.startswith("JobActor") for t in threading.enumerate()) // 2)
        assert time.monotonic() < deadline
    # At most max_active actors at a time; a thread that has just passivated may still be
    # exiting while its successor starts, hence the threads are counted at half weight.
    assert 0 < peak <= 32
    assert all(state(store, j.id) is JobState.SUBMITTED for j in created)

