"""Callback abuse (issue 11, defect 3): nobody can fill the disk through the callback URL.

What an operator would notice: a forged callback leaves a small record (digest, size, first
KB, source, reason), never its body; callbacks for unknown jobs are parked within a cap of
rows and bytes, the oldest expired first, with an alert and a counter; a source that keeps
forging is refused with 429 while KIE's own callbacks still complete jobs. Real HTTP against
the real gateway, the real store, the KIE emulator.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from gateways.node import Node
from sandbox.kie_emulator import KieEmulator
from sandbox.telegram_emulator import TelegramEmulator
from tests.support.kie_harness import (
    WEBHOOK_KEY,
    KieHarness,
    Pipelines,
    SourceAddressAdapter,
    kie_fixtures,
    market_success_body,
    sign,
    wait_until,
)
from trt_actors.actors.janitor import JanitorPolicy
from trt_actors.catalog.model import load_catalog
from trt_actors.domain.orphans import OrphanCap
from trt_actors.domain.states import JobState
from trt_actors.infra.settings import load_settings
from trt_actors.messages import GetUrl

emu, pipeline = kie_fixtures(webhook_key=WEBHOOK_KEY, seed=23, duration_s=0.05)

STUCK = {"prompt": "a lighthouse at dusk [stuck]"}
"""The emulator never finishes this task: only a forged callback could end the job."""
FORGER = "127.0.0.2"
"""Another sender than the emulator (127.0.0.1): all of 127.0.0.0/8 is loopback."""


def padded(body: bytes, size: int) -> bytes:
    """``body`` (a JSON object) grown to about ``size`` bytes with a junk field."""
    doc = json.loads(body)
    doc["pad"] = "x" * max(0, size - len(body) - 12)
    return json.dumps(doc).encode()


def stray(n: int, size: int = 0) -> tuple[bytes, dict[str, str]]:
    """A signed callback for a task no job has (another deployment's, say): it is parked."""
    task = f"stray-task-{n:04d}"
    body = market_success_body(task, [f"https://cdn.example/{n}.png"])
    return (padded(body, size) if size else body), sign(WEBHOOK_KEY, task)


def parked(h: KieHarness) -> dict[str, int]:
    row = h.sql("SELECT count(*) AS n, COALESCE(sum(octet_length(body)), 0) AS bytes "
                "FROM callback_inbox WHERE status = 'parked'")[0]
    return {"rows": int(row["n"]), "bytes": int(row["bytes"])}


def test_a_forged_callback_keeps_its_digest_size_head_and_source_not_its_body(
        pipeline: Pipelines) -> None:
    h = pipeline()
    job = h.start_job(input=STUCK)
    h.wait_state(job.id, JobState.SUBMITTED)
    task_id = h.tasks(job.id)[0]["task_id"]
    body = padded(market_success_body(task_id, ["https://evil.example/x.png"]), 900 * 1024)
    wrong_secret = f"{job.id}.{'A' * len(job.callback_token)}"

    for token, reason in ((wrong_secret, "token does not match the job"),
                          ("not-a-token", "malformed token")):
        assert h.post_callback(token, body).status_code == 403
        rows = h.sql("SELECT octet_length(body) AS kept FROM callback_inbox "
                     "WHERE token = %(t)s", t=token)
        assert len(rows) == 1
        assert rows[0]["kept"] <= 1024, f"a forged callback stored {rows[0]['kept']} bytes"
        record = h.sql("SELECT status::text AS status, body, body_size, body_sha256, source, "
                       "reason, received_at FROM callback_inbox WHERE token = %(t)s",
                       t=token)[0]
        assert record["status"] == "rejected" and record["reason"] == reason
        assert bytes(record["body"]) == body[:1024]
        assert record["body_size"] == len(body)
        assert record["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert record["source"] == "127.0.0.1" and record["received_at"] is not None

    h.jobs.wait_idle(5)
    assert h.job(job.id).state is JobState.SUBMITTED and h.outbox(job.id) == []


def test_an_orphan_flood_stays_under_the_cap_and_a_real_orphan_is_still_claimed(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    cap = OrphanCap(max_rows=30, max_bytes=1 << 20, alert_quiet_s=0.5)
    h = pipeline(callbacks=False, hmac_key=WEBHOOK_KEY, gateway={"orphan_cap": cap})
    janitor = h.start_janitor(JanitorPolicy(interval=3600, orphan_cap=cap))

    # 1. A flood of 40 KB orphans: the byte cap binds (1 MB holds 26 of them).
    for n in range(40):
        body, headers = stray(n, 40 * 1024)
        assert h.post_callback(None, body, headers).status_code == 200
        now = parked(h)
        assert now["bytes"] <= cap.max_bytes, f"after {n + 1} orphans: {now}"

    # 2. A real orphan: KIE's callback arrives while our createTask answer is delayed.
    emu.set_faults({"endpoints": {"market.create": {"next": 1, "kind": "delay",
                                                    "delay_s": 1.0}}})
    job = h.start_job()
    task_id = wait_until(lambda: [t["task_id"] for t in emu.stats()["tasks"]],
                         what="task created")[0]
    urls = [f"{emu.url}/media/{task_id}/0.png"]
    real = market_success_body(task_id, urls)
    assert h.post_callback(None, real, sign(WEBHOOK_KEY, task_id)).status_code == 200

    # 3. More, small ones: now the row cap binds.
    for n in range(40, 55):
        body, headers = stray(n)
        assert h.post_callback(None, body, headers).status_code == 200
        assert parked(h)["rows"] <= cap.max_rows

    rows = h.sql("SELECT id, status::text AS status, task_id, octet_length(body) AS kept, "
                 "body_size, body_sha256, reason FROM callback_inbox ORDER BY id")
    expired = [r for r in rows if r["status"] == "expired"]
    kept = [r for r in rows if r["status"] == "parked"]
    assert expired and max(r["id"] for r in expired) < min(r["id"] for r in kept), \
        "the oldest orphans are expired first"
    assert all(r["kept"] <= 1024 and r["body_size"] > 40_000 and r["body_sha256"]
               and r["reason"] == "over the orphan cap" for r in expired)
    assert task_id in [r["task_id"] for r in kept], "the real orphan is still parked"

    counts = janitor.proxy().sweep().get()
    assert counts["claimed"] == 0  # its task id is not recorded yet
    assert [a["key"] for a in h.alerts.snapshot()] == ["orphan_cap"]

    # The createTask answer records the task id; the janitor claims the parked callback.
    h.wait_state(job.id, JobState.SUBMITTED, JobState.SUCCEEDED)
    assert janitor.proxy().sweep().get()["claimed"] == 1
    done = h.wait_state(job.id, JobState.SUCCEEDED)
    assert done.result_urls == tuple(urls)
    assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["callback"]

    # Back under the cap and quiet: the alert clears by itself.
    wait_until(lambda: janitor.proxy().sweep().get() is not None and not h.alerts.snapshot(),
               10, "the orphan cap alert to clear")
    assert emu.stats()["creates"] == 1


def test_a_forging_source_gets_429_while_kies_callbacks_still_complete_jobs(
        pipeline: Pipelines, emu: KieEmulator) -> None:
    h = pipeline()  # default limits: 20 forged within 60 s get a source refused for 5 min
    target = h.start_job(input=STUCK)
    h.wait_state(target.id, JobState.SUBMITTED)
    task_id = h.tasks(target.id)[0]["task_id"]
    forged = market_success_body(task_id, ["https://evil.example/x.png"])
    secret = "A" * len(target.callback_token)

    answers = []
    for n in range(26):
        answer = h.post_callback(f"{target.id}.{secret[:-2]}{n:02d}", forged, source=FORGER)
        answers.append(answer.status_code)
        if answer.status_code == 429:
            assert int(answer.headers["Retry-After"]) > 0
    assert answers == [403] * 20 + [429] * 6
    stored = h.sql("SELECT count(*) AS n FROM callback_inbox WHERE source = %(s)s", s=FORGER)
    assert stored[0]["n"] == 20, "a refused callback touched the database"

    # KIE (127.0.0.1) is heard: its callbacks complete jobs, and a retry is a duplicate (200).
    jobs = [h.start_job() for _ in range(3)]
    for job in jobs:
        h.wait_state(job.id, JobState.SUCCEEDED)
        assert [e["cause"] for e in h.moves_into(job.id, JobState.SUCCEEDED)] == ["callback"]
    sent = emu.wait_for_callbacks(3)
    assert [c["status"] for c in sent] == [200] * 3
    again = h.post_callback(str(sent[0]["url"]).rsplit("/", 1)[-1], sent[0]["body"].encode())
    assert again.status_code == 200
    # A forgery from KIE's own address is refused as a forgery (403), not as a source (429).
    assert h.post_callback(f"{target.id}.{secret}", forged).status_code == 403

    stats = h.gateway_stats()
    assert (stats["refused"], stats["sources_refused"], stats["duplicates"]) == (6, 1, 1)
    assert h.job(target.id).state is JobState.SUBMITTED


# --- what /status and /metrics show ---------------------------------------------------------

TOKEN = "424242:abuse-test-telegram-token"
KIE_KEY = "abuse-test-kie-key-123456"


@pytest.fixture
def node(database: str) -> Iterator[Node]:
    with KieEmulator(KIE_KEY, seed=3) as kie, TelegramEmulator(TOKEN, seed=3) as telegram:
        settings = load_settings(**{
            "TRT_TELEGRAM_TOKEN": TOKEN, "TRT_TELEGRAM_API_URL": telegram.url,
            "TRT_KIE_API_KEY": KIE_KEY, "TRT_KIE_API_URL": kie.url,
            "TRT_CALLBACK_LISTEN": "127.0.0.1:0", "TRT_STATUS_LISTEN": "127.0.0.1:0",
            "TRT_ORPHAN_MAX_ROWS": "5", "TRT_CALLBACK_FORGED_LIMIT": "3"})
        started = Node(settings, database, load_catalog(), on_give_up=lambda reason: None)
        try:
            yield started.start()
        finally:
            started.stop()


def url_of(node: Node, child: str) -> str:
    ref = node.root.child_ref(child)
    assert ref is not None
    return str(ref.ask(GetUrl(), timeout=5))


def test_status_and_metrics_show_the_abuse_limits_at_work(node: Node) -> None:
    callbacks, status = url_of(node, "callbacks"), url_of(node, "status")
    for n in range(8):  # tokens naming no job: parked, 5 at most
        body = market_success_body(f"no-such-task-{n}", ["https://cdn.example/x.png"])
        answer = requests.post(f"{callbacks}/kie/callback/{900_000 + n}.{'Q' * 32}",
                               data=body, timeout=10)
        assert answer.status_code == 200
    with requests.Session() as forger:
        forger.mount("http://", SourceAddressAdapter(FORGER))
        codes = [forger.post(f"{callbacks}/kie/callback/not-a-token", data=f'{{"n": {n}}}',
                             timeout=10).status_code for n in range(5)]
    assert codes == [403, 403, 403, 429, 429]

    def facts() -> dict[str, Any] | None:
        doc: dict[str, Any] = requests.get(f"{status}/status", timeout=10).json()
        return doc if any(a["key"] == "orphan_cap" for a in doc["alerts"]) else None

    doc = wait_until(facts, 10, "the orphan cap alert on /status")
    abuse = doc["callback_abuse"]
    assert abuse["rejected_records"] == 3 and abuse["sources_refused"] == 1
    assert abuse["parked"] <= 5 and abuse["max_rows"] == 5
    assert abuse["expired_over_cap"] >= 3 and abuse["parked_bytes"] > 0
    assert abuse["max_bytes"] == 64 << 20 and abuse["inbox_bytes"] > 0
    assert doc["callbacks"]["refused"] == 2

    text = requests.get(f"{status}/metrics", timeout=10).text
    found = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
             if not s.labels}
    assert found["trt_callback_rejected_records"] == 3
    assert found["trt_callback_sources_refused"] == 1
    assert found["trt_orphan_callbacks_expired_over_cap_total"] == abuse["expired_over_cap"]
    assert found["trt_orphan_callback_bytes"] == abuse["parked_bytes"]
