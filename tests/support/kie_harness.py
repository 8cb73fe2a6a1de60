"""A KIE pipeline for integration tests: real PostgreSQL, real HTTP, the KIE emulator.

``KieHarness`` wires the product's own pieces exactly as the node does — ``KieClient``
against ``sandbox.kie_emulator.KieEmulator``, the job router of ``trt_actors.actors.job``
(catalog validator, job messages, alerts), a ``Ticker``, the ``Callbacks`` gateway on port 0
and, when asked, the ``Poller`` and the ``Janitor`` — and offers the few reads the
tests assert on (job rows, events, inbox, outbox, tasks). No test double anywhere: the only
thing standing in for the outside world is the emulator, which shares no code with the product.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, cast

import pykka
import pytest
import requests
import requests.adapters

from gateways.kie.callback_app import Callbacks
from gateways.kie.callbacks import parse_callback
from gateways.kie.client import KieClient
from gateways.kie.poller import Poller
from sandbox.kie_emulator import KieEmulator
from tests.support import waiting
from trt_actors.actors.janitor import Janitor, JanitorPolicy
from trt_actors.actors.job import JobDeps, SubmitPolicy, job_router
from trt_actors.actors.router import Router
from trt_actors.actors.ticker import Ticker
from trt_actors.catalog.model import load_catalog
from trt_actors.catalog.validation import validate_input
from trt_actors.conversation.job_messages import JobMessages
from trt_actors.domain import jobs, ledger
from trt_actors.domain.alerts import Alerts
from trt_actors.domain.states import JobState
from trt_actors.infra.store import Row, Store
from trt_actors.messages import GetCallbackStats, GetUrl, SubmitJob, TaskReport

API_KEY = "kie-test-key-0123456789abcdef"
WEBHOOK_KEY = "kie-webhook-key-for-tests"
CATALOG = load_catalog()
PAID_MODEL = "google/nano-banana"
"""A market model with a price, so a hold is visible in the ledger."""

# The pipelines here move in milliseconds: look every 10 ms, or a short-lived state (a job
# SUBMITTED until its callback lands) can come and go between two looks.
wait_until = partial(waiting.wait_until, poll=0.01)


def sign(key: str, task_id: str, timestamp: int | None = None) -> dict[str, str]:
    """KIE's webhook headers for ``task_id``: base64(HMAC-SHA256(key, taskId.timestamp))."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key.encode(), f"{task_id}.{stamp}".encode(), hashlib.sha256).digest()
    return {"X-Webhook-Timestamp": stamp,
            "X-Webhook-Signature": base64.b64encode(digest).decode()}


def market_success_body(task_id: str, urls: list[str]) -> bytes:
    """A KIE market success callback body, written by hand from kie-api.md."""
    return json.dumps({"code": 200, "msg": "success", "data": {
        "taskId": task_id, "state": "success", "model": PAID_MODEL,
        "resultJson": json.dumps({"resultUrls": urls}), "failCode": "", "failMsg": ""}}).encode()


class _LateRouter:
    """Stands in for the job router until it exists: the gateway must listen (to learn its
    port, hence the callback URL the job actors send to KIE) before the router is built."""

    def __init__(self) -> None:
        self.target: Router | None = None

    def route(self, key: Hashable, message: Any) -> None:
        assert self.target is not None, "a callback arrived before the harness was ready"
        self.target.route(key, message)


@dataclass
class HarnessOptions:
    """How to build one pipeline; every default is the product's own, only faster."""

    callbacks: bool = True
    """Ask KIE for callbacks (``SubmitPolicy.callback_base_url`` = the gateway)."""
    hmac_key: str | None = None
    """The gateway's ``TRT_KIE_HMAC_KEY``."""
    poller: bool = False
    poll_interval: float = 0.1
    janitor: JanitorPolicy | None = None
    client: dict[str, Any] = field(default_factory=dict)
    """Extra ``KieClient`` keyword arguments (limits, timeouts)."""
    policy: dict[str, Any] = field(default_factory=dict)
    """Extra ``SubmitPolicy`` fields."""
    gateway: dict[str, Any] = field(default_factory=dict)
    """Extra ``Callbacks`` keyword arguments (``abuse``, ``orphan_cap``)."""


class Pipelines:
    """Builds harnesses on one store and emulator (``pipelines(**HarnessOptions fields)``)
    and closes them all at the end of the ``with`` block."""

    def __init__(self, store: Store, emu: KieEmulator) -> None:
        self.store, self.emu = store, emu
        self.built: list[KieHarness] = []

    def __call__(self, **options: Any) -> KieHarness:
        self.built.append(KieHarness(self.store, self.emu, HarnessOptions(**options)))
        return self.built[-1]

    def __enter__(self) -> Pipelines:
        return self

    def __exit__(self, *exc: object) -> None:
        for harness in self.built:
            harness.close()


def kie_fixtures(**emulator: Any) -> tuple[Any, Any]:
    """A test module's ``emu`` and ``pipeline`` fixtures, fresh for each test::

        emu, pipeline = kie_fixtures(seed=13, duration_s=0.05)

    ``emu`` is a KIE emulator for ``API_KEY`` made with ``emulator`` (seed, task duration,
    webhook key ...); ``pipeline`` builds harnesses (:class:`KieHarness`) on the test's store
    and that emulator, and closes them all after the test.
    """

    @pytest.fixture
    def emu() -> Iterator[KieEmulator]:
        with KieEmulator(API_KEY, **emulator) as e:
            yield e

    @pytest.fixture
    def pipeline(store: Store, emu: KieEmulator) -> Iterator[Pipelines]:
        with Pipelines(store, emu) as pipelines:
            yield pipelines

    return emu, pipeline


class KieHarness:
    """One node's KIE pipeline; ``close()`` stops everything it started."""

    def __init__(self, store: Store, emu: KieEmulator, options: HarnessOptions) -> None:
        self.store, self.emu, self.options = store, emu, options
        self.alerts = Alerts(cooldown=60)
        self.client = KieClient(emu.url, API_KEY, **{"backoff_base": 0.05, **options.client})
        self.ticker = Ticker()
        late = _LateRouter()
        self.gateway = Callbacks.start(store, cast(Router, late), "127.0.0.1", 0,
                                       hmac_key=options.hmac_key, **options.gateway)
        self.gateway_url = str(self.gateway.ask(GetUrl()))
        policy = SubmitPolicy(
            callback_base_url=self.gateway_url if options.callbacks else None,
            **{"first_poll": 0.1, "retry_base": 0.1, **options.policy})
        self.deps = JobDeps(
            store=store, kie=self.client, job_messages=JobMessages(CATALOG), alerts=self.alerts,
            validate=lambda model_id, values: validate_input(CATALOG.get(model_id), values),
            policy=policy)
        self.jobs = job_router(self.deps)
        late.target = self.jobs
        self._actors: list[pykka.ActorRef[Any]] = [self.gateway]
        self.poller: pykka.ActorRef[Any] | None = None
        self.janitor: pykka.ActorRef[Any] | None = None
        if options.poller:
            self.poller = Poller.start(store, self.client, self.jobs, self.ticker,
                                             interval=options.poll_interval)
            self._actors.append(self.poller)
        if options.janitor is not None:
            self.janitor = self.start_janitor(options.janitor)

    def start_janitor(self, policy: JanitorPolicy) -> pykka.ActorRef[Any]:
        """A janitor parsing stored callbacks with the gateway's own parser. It sweeps once
        at start, then every ``policy.interval`` seconds."""
        def parse(body: bytes) -> TaskReport | None:
            return parse_callback(body).report

        ref = Janitor.start(self.store, self.jobs, parse, self.ticker, policy,
                            submit_budget=self.client.create_budget, alerts=self.alerts)
        self._actors.append(ref)
        return ref

    def close(self) -> None:
        for ref in reversed(self._actors):
            with contextlib.suppress(pykka.ActorDeadError):
                ref.stop(timeout=10)
        self.jobs.close()
        self.ticker.stop()
        self.client.close()

    # --- jobs ---------------------------------------------------------------------------------

    def confirm(self, model_id: str = PAID_MODEL, input: dict[str, Any] | None = None, *,
                user_id: int = 1, credits: int = 1000) -> jobs.Job:
        """A confirmed job (row + hold), as the chat actor would create it."""
        model = CATALOG.get(model_id)
        values = dict(model.example if input is None else input)
        ledger.grant(self.store, user_id, credits, f"test-grant:{user_id}")
        job, created = jobs.confirm(self.store, jobs.NewJob(
            user_id=user_id, chat_id=user_id, model_id=model.id, family=model.family.value,
            input=values, price=model.price_for(values), free=model.free,
            expected_seconds=model.expected_seconds, max_seconds=model.max_seconds,
            idempotency_key=uuid.uuid4().hex))
        assert created
        return job

    def submit(self, job: jobs.Job) -> None:
        self.jobs.route(job.id, SubmitJob(job.id))

    def start_job(self, model_id: str = PAID_MODEL, input: dict[str, Any] | None = None,
                  **kwargs: Any) -> jobs.Job:
        job = self.confirm(model_id, input, **kwargs)
        self.submit(job)
        return job

    def job(self, job_id: int) -> jobs.Job:
        found = jobs.load(self.store, job_id)
        assert found is not None, f"job {job_id} vanished"
        return found

    def wait_state(self, job_id: int, *states: JobState, timeout: float = 10.0) -> jobs.Job:
        """Wait until the job is in one of ``states``; return its row."""
        def reached() -> jobs.Job | None:
            job = self.job(job_id)
            return job if job.state in states else None

        return wait_until(reached, timeout, f"job {job_id} in {[s.value for s in states]}")

    def gateway_stats(self) -> dict[str, Any]:
        """The callback gateway's counters (received, stored, rejected, ...)."""
        return cast(dict[str, Any], self.gateway.ask(GetCallbackStats()))

    def token(self, job: jobs.Job) -> str:
        """The callback path token the job actor sends to KIE."""
        return f"{job.id}.{job.callback_token}"

    # --- reads ----------------------------------------------------------------------------------

    def sql(self, text: str, **params: Any) -> list[Row]:
        with self.store.transaction() as tx:
            return tx.raw(text, params or None)

    def events(self, job_id: int) -> list[Row]:
        return jobs.events(self.store, job_id)

    def moves_into(self, job_id: int, state: JobState) -> list[Row]:
        return [e for e in self.events(job_id)
                if e["to_state"] == state.value and e["from_state"] != state.value]

    def tasks(self, job_id: int) -> list[Row]:
        return self.store.all("tasks_of_job", job_id=job_id)

    def inbox(self, job_id: int | None = None) -> list[Row]:
        if job_id is None:
            return self.sql("SELECT * FROM callback_inbox ORDER BY id")
        return self.sql("SELECT * FROM callback_inbox WHERE job_id = %(j)s ORDER BY id", j=job_id)

    def outbox(self, job_id: int, kind: str | None = None) -> list[Row]:
        rows = self.sql("SELECT * FROM outbox WHERE job_id = %(j)s ORDER BY id", j=job_id)
        return [r for r in rows if kind is None or r["kind"] == kind]

    # --- HTTP to the gateway ------------------------------------------------------------------

    def post_callback(self, token: str | None, body: bytes,
                      headers: dict[str, str] | None = None, *,
                      source: str | None = None) -> requests.Response:
        """POST a callback; ``source`` is the loopback address to send from (127.0.0.2 is
        another sender than the emulator's 127.0.0.1)."""
        path = "/kie/callback" + (f"/{token}" if token is not None else "")
        with requests.Session() as session:
            if source is not None:
                session.mount("http://", SourceAddressAdapter(source))
            return session.post(self.gateway_url + path, data=body, timeout=10,
                                headers={"Content-Type": "application/json", **(headers or {})})


class SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connects from a given local address (any of 127.0.0.0/8 is loopback on Linux)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)
