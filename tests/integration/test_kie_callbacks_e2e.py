"""Jobs finished by KIE's callbacks, over real HTTP: emulator → gateway → inbox → job actor.

Real PostgreSQL, the real ``KieClient`` against the KIE emulator, the real callback gateway
and job actors. No status poller runs here unless a test says so: whatever completes a job
was a callback.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import (
    API_KEY,
    WEBHOOK_KEY,
    Pipelines,
    wait_until,
)
from trt_actors.domain import ledger
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Store

SUCCEEDED = JobState.SUCCEEDED


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(API_KEY, webhook_key=WEBHOOK_KEY, seed=3, duration_s=0.2) as e:
        yield e


@pytest.fixture
def pipeline(store: Store, emu: KieEmulator) -> Iterator[Pipelines]:
    with Pipelines(store, emu) as pipelines:
        yield pipelines


def only_task(emu: KieEmulator) -> dict[str, Any]:
    tasks = emu.stats()["tasks"]
    assert len(tasks) == 1, tasks
    task: dict[str, Any] = tasks[0]
    return task


def test_a_job_completes_by_callback(pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline()
    job = h.start_job()
    done = h.wait_state(job.id, SUCCEEDED)
    task = only_task(emu)
    assert done.result_urls == (f"{emu.url}/media/{task['task_id']}/0.png",)
    assert len(h.outbox(job.id, "result")) == 1
    assert [(r["status"], r["task_id"]) for r in h.inbox(job.id)] == [
        ("applied", task["task_id"])]
    assert [e["cause"] for e in h.moves_into(job.id, SUCCEEDED)] == ["callback"]
    assert emu.stats()["calls"].get("market.status", 0) == 0  # nobody polled


def test_a_callback_before_the_create_answer_is_not_lost(pipeline: Pipelines,
                                                         emu: KieEmulator) -> None:
    emu.set_faults({"callbacks": {"early": {"next": 1}}})
    h = pipeline()
    job = h.start_job()
    done = h.wait_state(job.id, SUCCEEDED)
    task = only_task(emu)
    assert task["early"] is True
    assert done.result_urls == (f"{emu.url}/media/{task['task_id']}/0.png",)
    assert [t["task_id"] for t in h.tasks(job.id)] == [task["task_id"]]
    assert emu.stats()["creates"] == 1


def test_duplicated_and_out_of_order_callbacks_change_nothing_after_the_first_terminal_one(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    # Every delivery is sent three times; and right after the success KIE contradicts
    # itself with a failure callback for the same task.
    emu.set_faults({"callbacks": {"duplicate": {"times": 3}, "out_of_order": {"next": 1}}})
    h = pipeline()
    job = h.start_job()
    before = ledger.balance(h.store, job.user_id)
    sent = emu.wait_for_callbacks(6, timeout=10)
    assert sorted(c["kind"] for c in sent) == ["fail"] * 3 + ["success"] * 3
    assert all(c["ok"] for c in sent)
    # Two distinct bodies were stored (copies are duplicates), both handled by the actor.
    wait_until(lambda: [r["status"] for r in h.inbox(job.id)] == ["applied", "applied"],
               what="both distinct callbacks applied")
    h.jobs.wait_idle(10)
    done = h.job(job.id)
    assert done.state is SUCCEEDED and len(done.result_urls) == 1
    assert len(h.outbox(job.id, "result")) == 1
    assert len(h.moves_into(job.id, SUCCEEDED)) == 1
    assert not h.moves_into(job.id, JobState.FAILED)
    assert [t["state"] for t in h.tasks(job.id)] == ["success"]
    assert any("late failed" in (e["detail"] or "") for e in h.events(job.id))
    # Delivery is not part of this pipeline: the hold stays exactly as confirm left it.
    assert ledger.balance(h.store, job.user_id) == before
    assert before.held == job.price > 0


def test_suno_intermediate_callbacks_are_not_final(pipeline: Pipelines, emu: KieEmulator) -> None:
    # text at 40 %, first at 70 %, complete at 100 % of the duration.
    emu.configure(model_durations={"V4_5PLUS": 1.5})
    h = pipeline()
    job = h.start_job("V4_5PLUS")
    done = h.wait_state(job.id, SUCCEEDED)
    task = only_task(emu)
    assert [c["kind"] for c in emu.callbacks()] == ["text", "first", "complete"]
    assert done.result_urls == tuple(f"{emu.url}/media/{task['task_id']}/{n}.mp3"
                                     for n in (0, 1))
    inbox = h.inbox(job.id)
    assert [r["status"] for r in inbox] == ["applied"] * 3
    text, first, complete = inbox
    running = h.moves_into(job.id, JobState.RUNNING)
    succeeded = h.moves_into(job.id, SUCCEEDED)
    assert [e["cause"] for e in running] == ["callback"]
    assert [e["cause"] for e in succeeded] == ["callback"]
    # RUNNING came from the text callback; after text and first were applied the job was
    # still not SUCCEEDED: that happened only once complete had arrived.
    assert text["received_at"] <= running[0]["at"] < first["handled_at"]
    assert first["handled_at"] < succeeded[0]["at"]
    assert complete["received_at"] <= succeeded[0]["at"]
    assert len(h.outbox(job.id, "result")) == 1


def test_suno_callbacks_out_of_order_change_nothing_after_complete(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    emu.set_faults({"callbacks": {"out_of_order": {"next": 1}}})
    h = pipeline()
    job = h.start_job("V4_5PLUS")
    sent = emu.wait_for_callbacks(3, timeout=10)
    assert [c["kind"] for c in sent] == ["complete", "first", "text"]
    wait_until(lambda: [r["status"] for r in h.inbox(job.id)] == ["applied"] * 3,
               what="all three callbacks applied")
    done = h.job(job.id)
    assert done.state is SUCCEEDED and len(done.result_urls) == 2
    assert [e["to_state"] for e in h.events(job.id)] == [
        "created", "submitting", "submitted", "succeeded"]  # never back to running
    assert len(h.outbox(job.id, "result")) == 1


def test_callback_to_actor_latency_over_50_jobs(pipeline: Pipelines, emu: KieEmulator) -> None:
    """Measures (prints) the time from the gateway storing a callback to the job row being
    SUCCEEDED; asserts only that every one of the 50 jobs completed by its callback."""
    emu.configure(rate_limits=False, duration_s=0.3)
    h = pipeline(client={"create_limit": (1000, 1.0)})
    started = [h.start_job(user_id=1000 + n) for n in range(50)]
    for job in started:
        h.wait_state(job.id, SUCCEEDED, timeout=20)
    rows = h.sql("""
        SELECT c.job_id, EXTRACT(EPOCH FROM e.at - c.received_at) * 1000 AS ms
        FROM callback_inbox c
        JOIN job_events e ON e.job_id = c.job_id AND e.to_state = 'succeeded'
        WHERE c.status = 'applied'""")
    assert sorted(r["job_id"] for r in rows) == sorted(j.id for j in started)
    ms = sorted(float(r["ms"]) for r in rows)
    print(f"\ncallback-to-actor latency over {len(ms)} jobs: median "
          f"{statistics.median(ms):.1f} ms, p95 {ms[int(0.95 * len(ms)) - 1]:.1f} ms, "
          f"max {ms[-1]:.1f} ms; gateway answer {h.gateway_stats()['last_latency_ms']:.1f}"
          " ms (last)")
