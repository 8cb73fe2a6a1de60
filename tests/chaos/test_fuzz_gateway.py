"""Fuzzing the running callback gateway: random and mutated bodies, paths and headers.

A real ``Callbacks`` gateway on port 0 (one without and one with KIE's HMAC key) over a real
database holding jobs waiting on real task ids. Every request carries something a forger
could send — never a job's secret nor a valid signature — so whatever it says, no job may
move. Properties: every request is answered, never with a 5xx; the gateway actor lives on;
no job state, event, task or outbox row changes; no job actor fails.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pykka
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateways.kie.abuse import AbusePolicy
from gateways.kie.callback_app import Callbacks
from trt_actors.actors.job import JobDeps, SubmitPolicy, job_router
from trt_actors.actors.router import Router
from trt_actors.catalog.model import load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs, ledger
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.states import Cause, JobState
from trt_actors.infra.store import Store
from trt_actors.messages import CheckAlive, GetUrl

pytestmark = pytest.mark.fuzz

CATALOG = load_catalog()
HMAC_KEY = "fuzz-webhook-hmac-key-0001"
JOBS = 6
FAMILIES = ("market", "runway", "midjourney", "gpt4o_image", "flux_kontext", "runway_aleph")
"""The waiting jobs' families (one each): the gateway must hold every family's job still."""


class NoKie:
    """createTask must never be reached from a callback (the rest of ``KiePort`` is inert)."""

    create_window = 10.0

    def create_budget(self) -> int:
        return 1_000_000

    def create_task(self, family: str, model_id: str, input: Mapping[str, Any],
                    callback_url: str | None) -> str:
        raise AssertionError("a callback made the node call createTask")


@dataclass
class Target:
    urls: dict[str, str]
    """Base URL of each gateway: ``plain`` (token auth) and ``hmac`` (token + signature)."""
    refs: list[pykka.ActorRef[Any]]
    router: Router
    store: Store
    jobs: list[jobs.Job]
    tasks: list[str]
    session: requests.Session


def _snapshot(store: Store) -> Any:
    with store.transaction() as tx:
        return (tx.raw("SELECT id, state::text, result_urls FROM jobs ORDER BY id"),
                tx.raw("SELECT count(*) AS n FROM job_events"),
                tx.raw("SELECT task_id, state FROM kie_tasks ORDER BY task_id"),
                tx.raw("SELECT count(*) AS n FROM outbox"),
                tx.raw("SELECT count(*) AS n FROM callback_inbox WHERE status = 'pending'"))


@pytest.fixture
def target(store: Store) -> Iterator[Target]:
    deps = JobDeps(store=store, kie=NoKie(), job_messages=JobMessages(CATALOG), alerts=Alerts(),
                   validate=lambda m, v: validate_input(CATALOG.get(m), v),
                   policy=SubmitPolicy(callback_base_url="http://127.0.0.1:1/"))
    router = job_router(deps)
    made, tasks = [], []
    ledger.grant(store, 7, 100, "fuzz:grant")
    for i in range(JOBS):
        job, _ = jobs.confirm(store, jobs.NewJob(
            user_id=7, chat_id=7, model_id="google/nano-banana", family=FAMILIES[i % JOBS],
            input={"prompt": f"fuzz {i}"}, price=2, free=False, expected_seconds=20,
            max_seconds=300, idempotency_key=f"fuzz:{i}"))
        task = secrets.token_hex(16)
        with store.transaction() as tx:
            jobs.move(tx, job.id, JobState.SUBMITTING, Cause.SUBMIT)
            tx.one("task_record", task_id=task, job_id=job.id, attempt=1, found_by="submit",
                   state="pending", result_urls=None, fail_code=None, fail_message=None)
            jobs.move(tx, job.id, JobState.SUBMITTED, Cause.SUBMIT, detail=f"task {task}")
        made.append(job)
        tasks.append(task)
    # Every request here is a forgery from 127.0.0.1: with the default limit the source would
    # be refused (429) after 20 and the rest would never reach the parser or the database.
    hear_all = AbusePolicy(forged_limit=1_000_000_000)
    refs = [Callbacks.start(store, router, "127.0.0.1", 0, abuse=hear_all),
            Callbacks.start(store, router, "127.0.0.1", 0, HMAC_KEY, abuse=hear_all)]
    urls = {"plain": str(refs[0].ask(GetUrl())), "hmac": str(refs[1].ask(GetUrl()))}
    with requests.Session() as session:
        yield Target(urls, refs, router, store, made, tasks, session)
    for ref in refs:
        ref.stop()
    router.close()


# --- strategies -------------------------------------------------------------------------------

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=40))
JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20)
STATES = st.sampled_from(["success", "fail", "generating", "waiting", "SUCCESS", "", "done"])
URLS = st.one_of(st.just("https://forged.invalid/x.png"), st.text(max_size=30),
                 st.lists(st.just("https://forged.invalid/y.mp4"), max_size=3))


@st.composite
def bodies(draw: st.DrawFn, tasks: list[str]) -> bytes:
    """Valid-looking KIE bodies of every family, mutated; or raw junk."""
    task = draw(st.one_of(st.sampled_from(tasks), st.text(max_size=40), st.integers()))
    shapes = [
        {"code": 200, "msg": "success", "data": {"taskId": task, "state": draw(STATES),
         "resultJson": json.dumps({"resultUrls": draw(URLS)})}},
        {"code": draw(st.sampled_from([200, 400, 500, "200"])), "msg": "ok",
         "data": {"taskId": task, "info": {"resultUrls": draw(URLS)}}},
        {"code": 200, "data": {"callbackType": draw(st.sampled_from(
            ["complete", "first", "text", "error", "COMPLETE", "x"])), "task_id": task,
            "data": [{"audio_url": draw(URLS)}]}},
        {"code": 200, "data": {"task_id": task, "video_url": draw(URLS)}},
        # Runway Aleph (task id at the top level), Midjourney, 4o image (also its progress),
        # Flux Kontext, Veo 4K (gateways/kie/callback_shapes.py)
        {"code": draw(st.sampled_from([200, 400])), "taskId": task,
         "data": {"result_video_url": draw(URLS), "result_image_url": draw(URLS)}},
        {"code": draw(st.sampled_from([200, 500])), "data": {"taskId": task,
         "promptJson": "{}", "resultUrls": draw(URLS)}},
        {"code": draw(st.sampled_from([200, 400, 451])), "data": {"taskId": task,
         "info": {"result_urls": draw(URLS)}, "progress": draw(st.sampled_from(
             ["0.48", "1.00", 0.2, None]))}},
        {"code": draw(st.sampled_from([200, 501])), "data": {"taskId": task, "info": {
            "originImageUrl": draw(URLS), "resultImageUrl": draw(URLS)}}},
        {"code": 200, "data": {"taskId": task, "info": {"resultUrls": draw(URLS),
                                                        "imageUrls": draw(URLS)}}},
    ]
    doc: Any = draw(st.sampled_from(shapes))
    for _ in range(draw(st.integers(0, 3))):  # mutate: replace or add a key somewhere
        where = doc if draw(st.booleans()) or not isinstance(doc.get("data"), dict) \
            else doc["data"]
        where[draw(st.sampled_from(["code", "data", "taskId", "state", "msg", "resultJson",
                                    "task_id", "extra", "info", "resultUrls", "progress",
                                    "successFlag", "result_video_url"]))] = draw(JSON)
    text = json.dumps(doc)
    if draw(st.integers(1, 200)) == 97:  # rarely: over the 1 MB limit (413, body thrown away)
        return b"x" * ((1 << 20) + 7)
    return draw(st.one_of(
        st.just(text.encode()),
        st.binary(max_size=300),
        st.just(text[: draw(st.integers(0, len(text)))].encode()),
        JSON.map(lambda v: json.dumps(v).encode()),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.just(b"[" * 5000),
    ))


@st.composite
def paths(draw: st.DrawFn, target: Target) -> str:
    """Every kind of token but a right one."""
    job = draw(st.sampled_from(target.jobs))
    wrong = job.callback_token[:-1] + ("A" if job.callback_token[-1] != "A" else "B")
    token = draw(st.one_of(
        st.just(f"{job.id}.{wrong}"),
        st.just(f"{job.id}.{secrets.token_urlsafe(24)}"),
        st.just(str(job.id)),
        st.just(f"{job.id}."),
        st.just(f"{job.id}.{job.callback_token}x"),
        st.just(f"{job.id + 10_000}.{job.callback_token}"),
        # U+0000 in the path has its own test below; lone surrogates cannot be sent at all.
        st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1,
                max_size=80),
        st.from_regex(r"\d{1,20}\.[A-Za-z0-9_-]{0,70}", fullmatch=True),
    ))
    return "" if draw(st.integers(0, 9)) == 0 else "/" + quote(token, safe="")


HEADER_NAMES = st.sampled_from(["Content-Type", "X-Webhook-Timestamp", "X-Webhook-Signature",
                                "User-Agent", "Content-Encoding", "X-Forwarded-For", "X-Junk"])
HEADER_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=126),
                        max_size=60).map(str.strip)


def _fuzz_cases(full: bool) -> int:
    return 66_000 if full else 1_500


@pytest.fixture(scope="module")
def cases(request: pytest.FixtureRequest) -> int:
    return _fuzz_cases(bool(request.config.getoption("--full", default=False)))


def test_no_forged_or_garbled_callback_moves_a_job_or_breaks_the_gateway(
    target: Target, cases: int,
) -> None:
    logging.getLogger("tornado.access").setLevel(logging.ERROR)  # thousands of 403/404 lines
    before = _snapshot(target.store)
    answers: dict[int, int] = {}

    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        which = data.draw(st.sampled_from(["plain", "hmac"]))
        url = f"{target.urls[which]}/kie/callback{data.draw(paths(target))}"
        body = data.draw(bodies(target.tasks))
        headers = data.draw(st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
        answer = target.session.post(url, data=body, headers=headers, timeout=30)
        answers[answer.status_code] = answers.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, (answer.status_code, answer.text[:200])
        assert answer.status_code != 429, "the source was refused under a limit it cannot reach"

    one_request()
    print(f"FUZZ gateway: {sum(answers.values())} requests, answers {answers}")
    assert all(ref.is_alive() for ref in target.refs), "a callback gateway died"
    for ref in target.refs:
        ref.ask(CheckAlive())
    assert target.router.wait_idle(10)
    assert _snapshot(target.store) == before, "an unauthenticated callback changed a job"
    assert target.router.failures == 0, target.router.last_failure


def test_a_token_with_a_nul_byte_is_refused_not_a_server_error(target: Target) -> None:
    body = json.dumps({"code": 200, "data": {"taskId": target.tasks[0], "state": "success"}})
    answer = target.session.post(f"{target.urls['plain']}/kie/callback/{target.jobs[0].id}.%00",
                                 data=body, timeout=10)
    assert answer.status_code == 403
