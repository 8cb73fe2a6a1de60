"""The callback gateway's edge: forged, orphaned, malformed and oversized callbacks.

What an operator would see: a forged callback is answered 403, recorded ``rejected`` and moves
no job; a callback for a job that does not exist is parked (200); a body the gateway cannot
understand is answered 200 (never 500) and recorded ``malformed`` with a reason, and the
status poller still completes the job; a body over 1 MB gets 413.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from gateways.kie.callback_app import MAX_BODY
from sandbox.kie_emulator import KieEmulator
from tests.support.kie_harness import (
    API_KEY,
    WEBHOOK_KEY,
    KieHarness,
    Pipelines,
    market_success_body,
    wait_until,
)
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Store

STUCK = {"prompt": "a lighthouse at dusk [stuck]"}
"""The emulator never finishes this task: only a forged callback could end the job."""


@pytest.fixture
def emu() -> Iterator[KieEmulator]:
    with KieEmulator(API_KEY, webhook_key=WEBHOOK_KEY, seed=5, duration_s=0.2) as e:
        yield e


@pytest.fixture
def pipeline(store: Store, emu: KieEmulator) -> Iterator[Pipelines]:
    with Pipelines(store, emu) as pipelines:
        yield pipelines


def inbox_by_token(h: KieHarness, token: str) -> list[dict[str, Any]]:
    return h.sql("SELECT status::text AS status, job_id, reason FROM callback_inbox "
                 "WHERE token = %(t)s ORDER BY id", t=token)


def test_a_forged_callback_moves_no_job(pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline()
    job = h.start_job(input=STUCK)
    h.wait_state(job.id, JobState.SUBMITTED)
    task_id = h.tasks(job.id)[0]["task_id"]
    forged = market_success_body(task_id, ["https://evil.example/x.png"])

    wrong_secret = f"{job.id}.{'A' * len(job.callback_token)}"
    assert h.post_callback(wrong_secret, forged).status_code == 403
    assert [(r["status"], r["reason"]) for r in inbox_by_token(h, wrong_secret)] == [
        ("rejected", "token does not match the job")]

    for bad in ("not-a-token", f"{job.id}", f"{job.id}.short", f"x{job.id}.{job.callback_token}"):
        assert h.post_callback(bad, forged).status_code == 403, bad
        assert [r["status"] for r in inbox_by_token(h, bad)] == ["rejected"], bad

    # A token naming no job authenticates nothing: the callback is parked, and the real task
    # id in its body must neither route it now nor let the janitor hand it to that task's job.
    unknown = f"987654321.{job.callback_token}"
    answer = h.post_callback(unknown, forged)
    assert answer.status_code == 200
    assert [(r["status"], r["job_id"]) for r in inbox_by_token(h, unknown)] == [("parked", None)]
    janitor = h.start_janitor(JanitorPolicy(interval=60))
    assert janitor.proxy().sweep().get()["claimed"] == 0
    assert [r["status"] for r in inbox_by_token(h, unknown)] == ["parked"]

    h.jobs.wait_idle(5)
    after = h.job(job.id)
    assert after.state is JobState.SUBMITTED and after.result_urls == ()
    assert [t["state"] for t in h.tasks(job.id)] == ["pending"]
    assert h.outbox(job.id) == []
    assert h.gateway_stats()["rejected"] == 5


def test_a_callback_with_a_wrong_hmac_is_rejected_and_polling_completes_the_job(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    emu.set_faults({"callbacks": {"wrong_hmac": {}}})
    emu.configure(duration_s=0.02)  # done before the first poll
    h = pipeline(hmac_key=WEBHOOK_KEY, poller=True)
    job = h.start_job()
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["poll"]
    sent = emu.wait_for_callbacks(1)
    assert [c["status"] for c in sent] == [403]
    assert [(r["status"], r["reason"]) for r in inbox_by_token(h, h.token(job))] == [
        ("rejected", "bad or stale webhook signature")]
    assert done.result_urls and len(h.outbox(job.id, "result")) == 1


MALFORMED = {
    "not JSON": b"<html><body>502 Bad Gateway</body></html>",
    "truncated": market_success_body("t-1", ["https://cdn.example/1.png"])[:60],
    "a JSON list": b'[{"code": 200, "data": {"taskId": "t-1", "state": "success"}}]',
    "wrong types": json.dumps({"code": "200", "msg": None,
                               "data": json.dumps({"taskId": "t-1"})}).encode(),
    "empty": b"",
    "not UTF-8": b"\xff\xfe\x00{",
    "deeply nested": b"[" * 200_000,
    "huge number": b'{"code": 1e999999, "data": {"taskId": 12345678901234567890123456789012}}',
}


def test_malformed_bodies_get_200_and_a_malformed_record(pipeline: Pipelines,
                                                         emu: KieEmulator) -> None:
    h = pipeline()
    job = h.start_job(input=STUCK)
    h.wait_state(job.id, JobState.SUBMITTED)
    token = h.token(job)
    for name, body in MALFORMED.items():
        answer = h.post_callback(token, body)
        assert answer.status_code == 200, (name, answer.status_code, answer.text)
    rows = inbox_by_token(h, token)
    assert len(rows) == len(MALFORMED)
    assert all(r["status"] == "malformed" and r["job_id"] == job.id for r in rows), rows
    assert all(r["reason"] for r in rows), rows
    assert h.job(job.id).state is JobState.SUBMITTED

    too_big = b'{"code": 200, "data": {"taskId": "' + b"x" * MAX_BODY + b'"}}'
    answer = h.post_callback(token, too_big)
    assert answer.status_code == 413
    assert len(inbox_by_token(h, token)) == len(MALFORMED)  # nothing stored
    assert h.post_callback(token, b"").status_code == 200  # the gateway still answers


def test_a_malformed_callback_from_kie_is_recorded_and_polling_completes_the_job(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    emu.set_faults({"callbacks": {"malformed": {"mode": "truncated"}}})
    emu.configure(duration_s=0.02)  # done before the first poll
    h = pipeline(poller=True)
    job = h.start_job()
    h.wait_state(job.id, JobState.SUCCEEDED)
    assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["poll"]
    assert [c["status"] for c in emu.wait_for_callbacks(1)] == [200]
    rows = wait_until(lambda: inbox_by_token(h, h.token(job)), what="callback stored")
    assert [(r["status"], r["reason"]) for r in rows] == [("malformed", "body is not JSON")]
