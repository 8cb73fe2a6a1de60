"""createTask under trouble: retried when KIE certainly did not create the task, never
blindly repeated when it may have (a read timeout), and reconciled by the task's callback.
"""

from __future__ import annotations

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import Pipelines, kie_fixtures, wait_until
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.domain.states import JobState

SUCCEEDED = JobState.SUCCEEDED
FAST_JANITOR = JanitorPolicy(interval=0.1, lease=5.0)


emu, pipeline = kie_fixtures(seed=11, duration_s=0.2)


def test_429_and_500_on_create_are_retried_and_make_exactly_one_task(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    emu.set_faults({"endpoints": {"market.create": [
        {"next": 1, "http_status": 429, "retry_after": 0.1},  # sent as "Retry-After: 1"
        {"next": 1, "http_status": 500},
    ]}})
    h = pipeline()
    job = h.start_job()
    done = h.wait_state(job.id, SUCCEEDED)
    stats = emu.stats()
    assert stats["calls"]["market.create"] == 3
    assert stats["answers"]["market.create"] == {"429": 1, "500": 1, "200": 1}
    assert stats["creates"] == 1
    assert [t["task_id"] for t in h.tasks(job.id)] == [stats["tasks"][0]["task_id"]]
    assert done.submit_attempts == 1 and done.submit_outcome == "created"


def test_a_long_retry_after_is_scheduled_by_the_job_not_slept_through(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    # Retry-After (1 s) is over the client's backoff cap: the client gives up at once, the
    # job records "not created" and the janitor resubmits when it is due.
    emu.set_faults({"endpoints": {"market.create": {"next": 1, "http_status": 429,
                                                    "retry_after": 1}}})
    h = pipeline(client={"backoff_cap": 0.5}, janitor=FAST_JANITOR)
    job = h.start_job()
    done = h.wait_state(job.id, SUCCEEDED)
    stats = emu.stats()
    assert stats["calls"]["market.create"] == 2 and stats["creates"] == 1
    assert done.submit_attempts == 2 and done.submit_outcome == "created"
    assert any("resubmit: attempt 2 after not_created" in (e["detail"] or "")
               for e in h.events(job.id))
    assert len(h.tasks(job.id)) == 1 and len(h.outbox(job.id, "result")) == 1


def test_a_read_timeout_after_the_task_was_created_makes_no_unrecorded_duplicate(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    # KIE creates the task, then answers after 2 s; the client stops reading after 0.5 s.
    # The task's callback (1 s after creation) carries the job's token.
    emu.configure(duration_s=1.0)
    emu.set_faults({"endpoints": {"market.create": {"next": 1, "kind": "delay",
                                                    "delay_s": 2.0}}})
    h = pipeline(client={"read_timeout": 0.5}, janitor=FAST_JANITOR)
    job = h.start_job()
    wait_until(lambda: h.job(job.id).submit_outcome == "unknown" or
               h.job(job.id).state is SUCCEEDED, what="createTask outcome recorded")
    done = h.wait_state(job.id, SUCCEEDED)
    stats = emu.stats()
    task_id = stats["tasks"][0]["task_id"]
    assert stats["creates"] == 1 and stats["calls"]["market.create"] == 1
    assert done.submit_outcome == "unknown" and done.submit_attempts == 1
    assert [(t["task_id"], t["found_by"]) for t in h.tasks(job.id)] == [(task_id, "callback")]
    assert [e["from_state"] for e in h.moves_into(job.id, SUCCEEDED)] == ["submitting"]
    assert done.result_urls == (f"{emu.url}/media/{task_id}/0.png",)
    # The janitor kept sweeping all along and never resubmitted.
    assert h.janitor is not None and h.janitor.proxy().sweeps.get() >= 3
    assert emu.stats()["calls"]["market.create"] == 1
