"""The status poller: completes jobs with no callback at all, within KIE's rate limit.

Real PostgreSQL, the real ``KieClient`` and ``Poller`` against the KIE emulator, whose
own sliding-window limit (10 status queries per second, 429 beyond) is the judge.
"""

from __future__ import annotations

import bisect

import pytest

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import Pipelines, kie_fixtures, wait_until
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Store

emu, pipeline = kie_fixtures(seed=13, duration_s=0.05)


def test_a_job_completes_by_polling_alone_with_callbacks_disabled(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(callbacks=False, poller=True)
    job = h.start_job()
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    stats = emu.stats()
    task = stats["tasks"][0]
    assert task["callback_url"] is None and emu.callbacks() == []
    assert stats["polls"][task["task_id"]] >= 1
    assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["poll"]
    assert done.result_urls == (f"{emu.url}/media/{task['task_id']}/0.png",)
    assert len(h.outbox(job.id, "result")) == 1 and h.inbox() == []


JOBS = 1000
SEED_JOBS = """
INSERT INTO users (id) VALUES (1);
INSERT INTO jobs (user_id, chat_id, model_id, family, input, price, callback_token,
                  expected_seconds, deadline_at)
SELECT 1, 1, 'google/nano-banana', 'market', '{"prompt": "x"}', 0, 'token-' || g, 20,
       now() + interval '1 hour'
FROM generate_series(1, %(n)s) AS g;
UPDATE jobs SET state = 'submitting';
UPDATE jobs SET state = 'submitted', submitted_at = now(), next_check_at = now();
INSERT INTO kie_tasks (task_id, job_id, attempt, found_by)
SELECT 'unknown-to-kie-' || id, id, 1, 'submit' FROM jobs;
"""


def max_in_window(times: list[float], window: float) -> int:
    """The most events in any half-open interval of ``window`` seconds."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + window) - i for i, t in enumerate(times)),
               default=0)


def test_the_poller_stays_under_the_status_rate_limit_with_1000_jobs_due(
        pipeline: Pipelines, emu: KieEmulator, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000 submitted jobs, all due now, each with a task KIE does not know (404: the point
    # is the rate, not the answers). The emulator enforces 10 per 1 s and records when it
    # admitted each query, on its own clock.
    with store.transaction() as tx:
        tx.raw(SEED_JOBS.replace("%(n)s", str(JOBS)))
    seen: list[float] = []
    admit = emu.core.admit

    def spy(category: str) -> float | None:
        if category == "status":
            seen.append(emu.core.clock())
        return admit(category)

    monkeypatch.setattr(emu.core, "admit", spy)
    h = pipeline(callbacks=False, poller=True, poll_interval=0.05,
                 client={"status_limit": (10, 1.0)})
    wait_until(lambda: len(seen) >= 31, timeout=10, what="31 status queries")
    assert h.poller is not None
    h.poller.stop()
    span = seen[-1] - seen[0]
    # A query admitted just before the stop may still be on its way to an answer.
    wait_until(lambda: sum(emu.stats()["answers"].get("market.status", {}).values())
               == len(seen), timeout=10, what="every admitted query answered")
    stats = emu.stats()
    print(f"\npoller: {len(seen)} status queries in {span:.2f} s, "
          f"busiest 1 s window {max_in_window(seen, 1.0)}")
    assert max_in_window(seen, 1.0) <= 10
    assert stats["rate_limited"].get("status", 0) == 0
    assert set(stats["answers"]["market.status"]) == {"404"}  # answered, never refused
    assert (len(seen) - 1) / span >= 8.0  # and it does use the rate it is allowed
    # Fair: the most overdue jobs go first, so no job was asked about twice meanwhile.
    assert h.sql("SELECT max(poll_count) AS n FROM jobs")[0]["n"] == 1
