"""When KIE's createTask budget (20 per 10 s) is shorter than the queue of confirmed jobs:
the oldest confirmed job is sent first, and a job that runs out of time while it waits ends
at its deadline, with its credits released and no paid task started for it.

Found by the full chaos profile (1,000 jobs): a job postponed for want of a create token was
handed again as a submit, never as a deadline check, and timed out minutes late.
"""

from __future__ import annotations

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import Pipelines, kie_fixtures, wait_until
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.domain import ledger
from trt_actors.domain.states import JobState

FAST_JANITOR = JanitorPolicy(interval=0.1, lease=5.0)

emu, pipeline = kie_fixtures(seed=21, duration_s=0.1)


def test_a_job_waiting_for_a_create_token_ends_at_its_deadline_with_its_credits_back(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(client={"create_limit": (1, 3600.0)}, janitor=FAST_JANITOR)
    first = h.start_job(user_id=1)
    h.wait_state(first.id, JobState.SUCCEEDED)       # the only token of the hour is spent
    waiting = h.confirm(user_id=2, credits=100)
    h.sql("UPDATE jobs SET deadline_at = now() + interval '1.5 s' WHERE id = %(j)s RETURNING id",
          j=waiting.id)
    h.submit(waiting)

    ended = h.wait_state(waiting.id, JobState.FAILED, timeout=10)
    assert ended.failure == "timed_out"
    late = h.sql("SELECT extract(epoch FROM finished_at - deadline_at)::float8 AS s "
                 "FROM jobs WHERE id = %(j)s", j=waiting.id)[0]["s"]
    assert late < 3.0, f"ended {late:.1f} s after its deadline"
    assert emu.stats()["creates"] == 1                # nothing was sent to KIE for it
    assert ledger.balance(h.store, 2) == ledger.Balance(100, 0)   # the hold came back
    assert h.outbox(waiting.id, "text") or h.outbox(waiting.id, "status_edit"), \
        "the user is told"


def test_jobs_are_sent_to_kie_in_the_order_they_were_confirmed(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(client={"create_limit": (1, 0.3)}, janitor=FAST_JANITOR)
    confirmed = [h.confirm(user_id=10 + i) for i in range(8)]   # only the janitor hands them
    for job in confirmed:
        h.wait_state(job.id, JobState.SUCCEEDED, timeout=20)
    order = h.sql("SELECT job_id FROM kie_tasks ORDER BY created_at")
    assert [r["job_id"] for r in order] == [j.id for j in confirmed]


def test_a_short_budget_hands_no_more_submits_than_kie_allows(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(client={"create_limit": (2, 3600.0)}, janitor=FAST_JANITOR)
    confirmed = [h.confirm(user_id=30 + i) for i in range(5)]
    def recorded() -> set[int] | None:  # KIE made the task, and the job actor stored it
        found = {r["job_id"] for r in h.sql("SELECT job_id FROM kie_tasks")}
        return found if len(found) == 2 else None

    started = wait_until(recorded, 10, "two tasks created and recorded")
    assert h.client.create_budget() == 0 and emu.stats()["creates"] == 2
    assert started == {confirmed[0].id, confirmed[1].id}
    # The other three were never handed to fail or to be postponed: still waiting, untouched.
    rest = [h.job(j.id) for j in confirmed[2:]]
    assert all(j.state is JobState.CREATED and j.submit_attempts == 0 for j in rest)
    notes = h.sql("SELECT count(*) AS n FROM job_events WHERE job_id = ANY(%(ids)s)",
                  ids=[j.id for j in rest])
    assert notes[0]["n"] == 3                         # their "created" events only
