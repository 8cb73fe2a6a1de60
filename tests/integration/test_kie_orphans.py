"""Orphan callbacks: parked when no job is known for them, claimed by the janitor once their
task id is recorded, and expired (kept, counted) when nobody claims them.

The callbacks here are tokenless, as KIE sends them to a plain ``/kie/callback`` URL; with
``TRT_KIE_HMAC_KEY`` set their signature is what authenticates them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import (
    API_KEY,
    WEBHOOK_KEY,
    Pipelines,
    market_success_body,
    sign,
    wait_until,
)
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Store


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(API_KEY, webhook_key=WEBHOOK_KEY, seed=17, duration_s=0.0) as e:
        yield e


@pytest.fixture
def pipeline(store: Store, emu: KieEmulator) -> Iterator[Pipelines]:
    with Pipelines(store, emu) as pipelines:
        yield pipelines


def test_orphans_are_claimed_when_their_task_appears_and_expire_otherwise(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline(callbacks=False, hmac_key=WEBHOOK_KEY)
    # Sweeps at start (or not: the ticker skips a tick while a message is queued) and then
    # only when told; orphans expire at the first sweep that does not claim them.
    janitor = h.start_janitor(JanitorPolicy(interval=3600, orphan_ttl=0))
    assert not any(janitor.proxy().sweep().get().values())

    # KIE creates the task at once but its createTask answer takes a second: the task's
    # callback arrives while no job knows the task id yet.
    emu.set_faults({"endpoints": {"market.create": {"next": 1, "kind": "delay",
                                                    "delay_s": 1.0}}})
    job = h.start_job()
    task_id = wait_until(lambda: [t["task_id"] for t in emu.stats()["tasks"]],
                         what="task created")[0]
    urls = [f"{emu.url}/media/{task_id}/0.png"]
    body = market_success_body(task_id, urls)
    assert h.post_callback(None, body, sign(WEBHOOK_KEY, task_id)).status_code == 200
    stray = market_success_body("no-job-has-this-task", urls)
    assert h.post_callback(None, stray, sign(WEBHOOK_KEY, "no-job-has-this-task")) \
        .status_code == 200
    assert h.post_callback(None, stray, sign("not-the-key", "no-job-has-this-task")) \
        .status_code == 403
    orphan, unclaimed = [r for r in h.inbox() if r["status"] != "rejected"]
    assert (orphan["status"], orphan["job_id"], orphan["task_id"]) == ("parked", None, task_id)
    assert unclaimed["status"] == "parked"

    h.wait_state(job.id, JobState.SUBMITTED)  # the createTask answer recorded the task id
    assert h.inbox()[0]["status"] == "parked"  # nobody has looked yet

    counts = janitor.proxy().sweep().get()
    assert (counts["claimed"], counts["expired"]) == (1, 1)
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    assert done.result_urls == tuple(urls)
    assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["callback"]
    claimed = wait_until(lambda: [r for r in h.inbox(job.id) if r["status"] == "applied"],
                         what="claimed orphan applied")
    assert [r["id"] for r in claimed] == [orphan["id"]]

    kept = h.sql("SELECT status::text AS status, handled_at, body FROM callback_inbox "
                 "WHERE id = %(id)s", id=unclaimed["id"])
    assert kept[0]["status"] == "expired" and kept[0]["handled_at"] is not None
    assert bytes(kept[0]["body"]) == stray  # kept for inspection
    stats = {r["status"]: r["n"] for r in h.store.all("orphans_stats")}
    assert stats == {"expired": 1}
    assert emu.stats()["creates"] == 1
